-- One row per pipeline run (a Prefect flow run id or a uuid). Re-loading a batch of the same run
-- replaces the row (the latest finished/counts/timings win).
CREATE TABLE raw_runs (
    run_id            VARCHAR PRIMARY KEY,
    started           TIMESTAMP,          -- UTC
    finished          TIMESTAMP,          -- UTC, NULL while running
    inputs            JSON,               -- files/folders given to the run
    counts            JSON,               -- {"files": n, "reports": n, ...} as given by the flow
    timings           JSON,               -- seconds per stage {"ingest": 1.2, ...}
    extractor_version VARCHAR NOT NULL,   -- tasks.model.EXTRACTOR_VERSION
    rules_version     VARCHAR,            -- version of the GX rules; NULL when not validated
    versions          JSON                -- any other versions (packages, suites)
);
