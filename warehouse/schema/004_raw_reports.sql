-- One row per extracted report (per readable file content). History is kept: a report replaced
-- by a newer version of its file has is_current = false and superseded_by set.
CREATE TABLE raw_reports (
    sha256            VARCHAR PRIMARY KEY,  -- = raw_source_files.sha256
    file              VARCHAR NOT NULL,     -- path at first load
    format            VARCHAR NOT NULL,     -- txt | html | pdf | scan | docx | doc | wps
    format_version    VARCHAR,              -- "2021" | "2019" | NULL
    agency            VARCHAR,
    agency_source     VARCHAR,              -- meta.agency_source: title | body | filename | manifest
    year              INTEGER,              -- the year reported on
    region_code       VARCHAR,              -- GB/T 2260 code (regions.code), NULL when unknown
    extractor_version VARCHAR NOT NULL,     -- EXTRACTOR_VERSION that produced cells and metadata
    rules_version     VARCHAR,              -- rules version of the findings stored for it
    is_current        BOOLEAN NOT NULL,
    superseded_by     VARCHAR,              -- sha256 of the file content that replaced it
    loaded_run        VARCHAR NOT NULL,     -- run that wrote the current content of this row
    warnings          JSON,                 -- [{"code", "message", "cells"}]
    tables_found      JSON,                 -- ["proactive", "requests", "appeals"]
    meta              JSON                  -- Report.meta as given (agency_source, region_name, …)
);
