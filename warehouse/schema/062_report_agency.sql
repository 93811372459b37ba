-- Which roster agency each report is from (tasks.coverage.refresh_matches, run after every
-- pipeline run and every roster load). One row per raw_reports row.
CREATE TABLE report_agency (
    sha256     VARCHAR PRIMARY KEY,    -- raw_reports.sha256
    agency_key VARCHAR,                -- the agency across reports: roster agency_id when matched,
                                       -- else region_code || ':' || canonical name; NULL: no agency
    agency_id  VARCHAR,                -- roster.agency_id, NULL when no roster agency matches
    rule       VARCHAR NOT NULL,       -- alias | exact | canonical | abbreviation | suffix | none
    canonical  VARCHAR                 -- canonical_name(agency, region_code) of the report
);
