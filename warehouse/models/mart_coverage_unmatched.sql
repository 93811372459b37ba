-- Current reports that match no roster agency (report_agency.agency_id NULL), including
-- reports whose agency is unknown. Before a roster is loaded (nianbao roster load) every report
-- is listed here.
SELECT r.sha256, r.file, r.agency, r.year, r.region_code, r.region_full_name AS region_name,
       r.province_code, r.city_code, r.county_code, r.has_errors,
       a.canonical, coalesce(a.rule, 'none') AS rule
FROM stg_reports_current r
LEFT JOIN report_agency a USING (sha256)
WHERE a.agency_id IS NULL
