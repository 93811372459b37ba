-- The agency roster (who is expected to report), loaded by `nianbao roster load ROSTER.csv`
-- (tasks.coverage.load_roster). A load replaces the whole roster.
CREATE TABLE roster (
    agency_id   VARCHAR PRIMARY KEY,   -- region_code || ':' || agency (region_code '' when unknown)
    agency      VARCHAR NOT NULL,      -- official name as listed (湘潭县教育局)
    region_code VARCHAR,               -- GB/T 2260 code of the agency's region
    level       VARCHAR,               -- province | city | county | township (as listed)
    category    VARCHAR,               -- government | department | township | aggregate | …
    email       VARCHAR,
    canonical   VARCHAR NOT NULL,      -- tasks.coverage.canonical_name(agency, region_code)
    loaded_at   TIMESTAMP NOT NULL     -- UTC
);
