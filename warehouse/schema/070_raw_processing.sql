-- How each file content was last processed (tasks.incremental): the extractor version and the
-- extraction context (manifest row, province hint) that produced its stored report or error,
-- and the rules version of its stored findings. An incremental run re-extracts a content only
-- when its extractor version or context differs, and re-validates it (from the stored cells)
-- only when its rules version differs. A missing row means "unknown": the content is processed.
CREATE TABLE raw_processing (
    sha256            VARCHAR PRIMARY KEY,  -- = raw_source_files.sha256
    extractor_version VARCHAR NOT NULL,     -- tasks.model.EXTRACTOR_VERSION
    extract_context   VARCHAR NOT NULL,     -- hash of the manifest row and province hint used
    rules_version     VARCHAR,              -- tasks.incremental.rules_version(); NULL: unreadable
    processed_run     VARCHAR NOT NULL      -- run that last (re-)processed it
);
