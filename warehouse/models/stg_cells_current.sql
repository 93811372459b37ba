-- Cells of current reports, with the report's year, region and agency.
SELECT c.*, r.file, r.agency, r.year, r.format_version, r.region_code
FROM raw_cells c
JOIN stg_reports_current r USING (sha256)
