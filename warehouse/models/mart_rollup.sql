-- macro(lvl, yr, rgn, include_errors)
-- Table macro behind mart_rollup_{county,city,province} and tasks.rollup.rollup().
-- One row per (year, region at level `lvl`, cell key) over current reports:
--   reports              reports in the group
--   reports_with_errors  of those, reports with at least one finding of severity error
--   value                sum of the non-blank values (NULL when every report left it blank)
--   blank_count          reports whose cell has no value (blank), never counted as 0
--   missing_count        reports that do not have the key at all (other format version)
--   uncertain_count, inferred_count: reports whose value is uncertain / inferred (in the sum)
-- Reports flagged report.duplicate (another copy of an agency's report for the same year,
-- tasks.crosscheck) are never summed, with or without include_errors.
-- Reports whose region is coarser than `lvl` (a city's own agencies in a county roll-up) form a
-- row of their own whose finer code is NULL; reports without a region form the row whose codes
-- are all NULL. So the rows of one level always add up to the rows of the level above.
WITH rep AS (
    SELECT sha256, year, has_errors, province_code,
           CASE WHEN lvl IN ('city', 'county') THEN city_code END AS city_code,
           CASE WHEN lvl = 'county' THEN county_code END AS county_code
    FROM stg_reports_current
    WHERE NOT is_duplicate
      AND (yr IS NULL OR year = yr)
      AND (rgn IS NULL OR rgn IN (region_code, province_code, city_code, county_code))
      AND (include_errors OR NOT has_errors)
), grp AS (
    SELECT year, province_code, city_code, county_code,
           count(*) AS reports,
           count(*) FILTER (WHERE has_errors) AS reports_with_errors
    FROM rep
    GROUP BY year, province_code, city_code, county_code
), agg AS (
    SELECT rep.year, rep.province_code, rep.city_code, rep.county_code, c.key,
           any_value(c."table") AS "table", any_value(c.row_key) AS row_key,
           any_value(c.col_key) AS col_key,
           sum(c.value) AS value,
           count(*) FILTER (WHERE c.value IS NULL) AS blank_count,
           count(*) AS present_count,
           count(*) FILTER (WHERE c.status = 'uncertain') AS uncertain_count,
           count(*) FILTER (WHERE c.status = 'inferred') AS inferred_count
    FROM rep
    JOIN stg_rollup_cells c USING (sha256)
    GROUP BY rep.year, rep.province_code, rep.city_code, rep.county_code, c.key
)
SELECT lvl AS level,
       g.year,
       coalesce(g.county_code, g.city_code, g.province_code) AS region_code,
       reg.full_name AS region_name,
       reg.level AS region_level,
       g.province_code, g.city_code, g.county_code,
       a.key, a."table", a.row_key, a.col_key,
       g.reports, g.reports_with_errors,
       a.value, a.blank_count,
       g.reports - a.present_count AS missing_count,
       a.uncertain_count, a.inferred_count
FROM grp AS g
JOIN agg AS a
  ON a.year IS NOT DISTINCT FROM g.year
 AND a.province_code IS NOT DISTINCT FROM g.province_code
 AND a.city_code IS NOT DISTINCT FROM g.city_code
 AND a.county_code IS NOT DISTINCT FROM g.county_code
LEFT JOIN regions AS reg ON reg.code = coalesce(g.county_code, g.city_code, g.province_code)
LEFT JOIN spec_cells AS s ON s.key = a.key
ORDER BY g.year NULLS LAST, g.province_code NULLS LAST, g.city_code NULLS FIRST,
         g.county_code NULLS FIRST, coalesce(s.ordinal, 1000000), a.key
