-- Which content each run saw at each path (the only table a re-load of unchanged files grows).
CREATE TABLE raw_file_sightings (
    run_id VARCHAR NOT NULL,
    path   VARCHAR NOT NULL,
    sha256 VARCHAR NOT NULL,
    PRIMARY KEY (run_id, path)
);
