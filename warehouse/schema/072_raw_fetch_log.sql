-- One row per HTTP request made by `nianbao fetch` (tasks.fetch), successful or not.
-- Raw bytes are archived content-addressed (objects/<sha[:2]>/<sha>) and as the URL's current
-- file (files/<host>/<url key>/<name>), the path the pipeline ingests.
CREATE TABLE raw_fetch_log (
    fetch_id      VARCHAR PRIMARY KEY,      -- uuid
    batch_id      VARCHAR NOT NULL,         -- one `fetch` call
    url           VARCHAR NOT NULL,         -- as requested
    final_url     VARCHAR,                  -- after redirects
    parent_url    VARCHAR,                  -- page the attachment link was found on
    fetched_at    TIMESTAMP NOT NULL,       -- UTC, when the response (or failure) came
    outcome       VARCHAR NOT NULL CHECK (outcome IN ('fetched', 'not_modified', 'refused',
                                                      'failed', 'too_large', 'skipped')),
    http_status   INTEGER,
    content_type  VARCHAR,                  -- as sent by the server
    format        VARCHAR,                  -- sniffed from the bytes (tasks.sniff)
    size          BIGINT,                   -- bytes received
    sha256        VARCHAR,                  -- content hash of the body
    etag          VARCHAR,                  -- validators for the next conditional GET
    last_modified VARCHAR,
    archive_path  VARCHAR,                  -- objects/… (relative to the archive root)
    file_path     VARCHAR,                  -- files/… (relative to the archive root)
    attempts      INTEGER NOT NULL,         -- requests made (retries included)
    seconds       DOUBLE,                   -- wall time of all attempts
    error         VARCHAR                   -- reason when refused / failed (Chinese)
);
