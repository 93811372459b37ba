-- Coverage: one row per roster agency and report year (every year that has a current report).
--   reports       current reports of the agency for the year (report_agency match)
--   sha256        the report used: the one without a report.duplicate finding (NULL: none)
--   has_errors    the used report has a finding of severity error
--   status        missing | reported | reported_with_errors
-- Region columns are those of the roster's region_code (regions; code arithmetic otherwise).
WITH years AS (
    SELECT DISTINCT year FROM stg_reports_current WHERE year IS NOT NULL
), dup AS (
    SELECT DISTINCT sha256 FROM raw_findings WHERE rule = 'report.duplicate'
), rep AS (
    SELECT a.agency_id, r.year, r.sha256, r.file, r.has_errors, r.error_count,
           r.warning_count, r.sha256 IN (SELECT sha256 FROM dup) AS unused
    FROM stg_reports_current r
    JOIN report_agency a USING (sha256)
    WHERE a.agency_id IS NOT NULL AND r.year IS NOT NULL
), per AS (
    SELECT agency_id, year, count(*) AS reports,
           arg_min(sha256, (unused, file)) AS sha256,
           arg_min(file, (unused, file)) AS file,
           arg_min(has_errors, (unused, file)) AS has_errors,
           arg_min(error_count, (unused, file)) AS error_count,
           arg_min(warning_count, (unused, file)) AS warning_count
    FROM rep
    GROUP BY agency_id, year
)
SELECT ro.agency_id, ro.agency, ro.region_code, ro.level, ro.category, ro.email,
       g.full_name AS region_name,
       coalesce(g.province_code, substr(ro.region_code, 1, 2) || '0000') AS province_code,
       CASE WHEN g.code IS NOT NULL THEN g.city_code
            WHEN ro.region_code NOT LIKE '__0000' THEN substr(ro.region_code, 1, 4) || '00'
       END AS city_code,
       CASE WHEN g.code IS NOT NULL AND g.level = 'county' THEN ro.region_code
            WHEN g.code IS NULL AND ro.region_code NOT LIKE '____00' THEN ro.region_code
       END AS county_code,
       y.year,
       coalesce(p.reports, 0) AS reports,
       p.sha256, p.file, p.has_errors, p.error_count, p.warning_count,
       CASE WHEN p.sha256 IS NULL THEN 'missing'
            WHEN p.has_errors THEN 'reported_with_errors'
            ELSE 'reported' END AS status
FROM roster ro
CROSS JOIN years y
LEFT JOIN per p ON p.agency_id = ro.agency_id AND p.year = y.year
LEFT JOIN regions g ON g.code = ro.region_code
