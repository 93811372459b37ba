-- Every input file ever seen, readable or not, identified by content (sha256).
CREATE TABLE raw_source_files (
    sha256         VARCHAR PRIMARY KEY,
    path           VARCHAR NOT NULL,      -- path at first sighting (the file's "slot")
    size           BIGINT,                -- bytes
    format         VARCHAR,               -- sniffed real format, NULL when unknown
    status         VARCHAR NOT NULL,      -- "ok" | "error"
    error_code     VARCHAR,               -- stable code when status = error
    error_message  VARCHAR,               -- Chinese text for people
    first_seen_run VARCHAR NOT NULL,      -- raw_runs.run_id of the first load
    is_current     BOOLEAN NOT NULL,      -- latest content seen at its path
    superseded_by  VARCHAR                -- sha256 of the content that replaced it at its path
);
