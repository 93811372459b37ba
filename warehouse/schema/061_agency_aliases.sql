-- Manual aliases: a spelling used in reports → the roster agency it means, for names the
-- automatic rules of tasks.coverage do not match. Loaded with the roster
-- (`nianbao roster load ROSTER.csv --aliases ALIASES.csv`); a load replaces the list.
CREATE TABLE agency_aliases (
    alias       VARCHAR NOT NULL,      -- the spelling as printed (whitespace removed, NFKC)
    region_code VARCHAR,               -- only for reports of this region; NULL: any region
    agency_id   VARCHAR NOT NULL       -- roster.agency_id
);
