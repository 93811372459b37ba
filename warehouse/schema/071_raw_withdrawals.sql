-- Contents withdrawn from the inputs: current before a complete run over a folder that
-- contains their path, not seen by that run at any path. Nothing is deleted: the withdrawn
-- raw_source_files / raw_reports rows stay, with is_current = false and superseded_by NULL.
-- If the content is seen again later, it is current again and restored_run is set.
CREATE TABLE raw_withdrawals (
    run_id       VARCHAR NOT NULL,          -- the complete run that found it missing
    path         VARCHAR NOT NULL,          -- its slot (raw_source_files.path)
    sha256       VARCHAR NOT NULL,
    withdrawn_at TIMESTAMP NOT NULL,        -- UTC
    restored_run VARCHAR,                   -- run that saw it again; NULL while withdrawn
    PRIMARY KEY (run_id, sha256)
);
