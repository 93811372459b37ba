-- Current reports with their place in the region hierarchy and their finding counts.
-- is_duplicate: the report has a report.duplicate finding (tasks.crosscheck): it is another
-- copy of an agency's report for a year whose used copy is another report.
-- A region code missing from `regions` (e.g. an abolished division) falls back to code
-- arithmetic (province = code[:2]||'0000', city = code[:4]||'00').
WITH f AS (
    SELECT sha256,
           count(*) FILTER (WHERE severity = 'error')   AS error_count,
           count(*) FILTER (WHERE severity = 'warning') AS warning_count,
           bool_or(rule = 'report.duplicate') AS is_duplicate
    FROM raw_findings
    GROUP BY sha256
), r AS (
    SELECT r.*,
           g.code IS NOT NULL AS region_known,
           regexp_full_match(coalesce(r.region_code, ''), '[0-9]{6}') AS code_ok,
           g.name AS region_name, g.full_name AS region_full_name,
           g.level AS g_level, g.province_code AS g_province, g.city_code AS g_city
    FROM raw_reports r
    LEFT JOIN regions g ON g.code = r.region_code
    WHERE r.is_current
)
SELECT
    r.sha256, r.file, r.format, r.format_version, r.agency, r.agency_source, r.year,
    r.region_code, r.region_name, r.region_full_name,
    CASE WHEN r.region_known THEN r.g_level
         WHEN r.code_ok AND r.region_code LIKE '__0000' THEN 'province'
         WHEN r.code_ok AND r.region_code LIKE '____00' THEN 'city'
         WHEN r.code_ok THEN 'county' END                                   AS region_level,
    CASE WHEN r.region_known THEN r.g_province
         WHEN r.code_ok THEN substr(r.region_code, 1, 2) || '0000' END      AS province_code,
    CASE WHEN r.region_known THEN r.g_city
         WHEN r.code_ok AND r.region_code NOT LIKE '__0000'
             THEN substr(r.region_code, 1, 4) || '00' END                   AS city_code,
    CASE WHEN (r.region_known AND r.g_level = 'county')
           OR (NOT r.region_known AND r.code_ok AND r.region_code NOT LIKE '____00')
         THEN r.region_code END                                             AS county_code,
    r.extractor_version, r.rules_version, r.loaded_run,
    r.rules_version IS NOT NULL                                             AS validated,
    coalesce(f.error_count, 0)                                              AS error_count,
    coalesce(f.warning_count, 0)                                            AS warning_count,
    coalesce(f.error_count, 0) > 0                                          AS has_errors,
    -- another current report of the same agency and year is used instead (tasks.crosscheck)
    coalesce(f.is_duplicate, false)                                         AS is_duplicate
FROM r
LEFT JOIN f USING (sha256)
