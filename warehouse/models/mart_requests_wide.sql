-- Table 三 per current report: one row per report and row_key (including the single
-- requests.other row of 2019-format reports), one column per applicant column plus total.
-- NULL means blank or not printed.
SELECT c.sha256, c.file, c.agency, c.year, c.region_code, c.row_key,
       min(s.ordinal) AS row_order,
       max(c.value) FILTER (WHERE c.col_key = 'natural_person')  AS natural_person,
       max(c.value) FILTER (WHERE c.col_key = 'commercial')      AS commercial,
       max(c.value) FILTER (WHERE c.col_key = 'research')        AS research,
       max(c.value) FILTER (WHERE c.col_key = 'public_interest') AS public_interest,
       max(c.value) FILTER (WHERE c.col_key = 'legal_service')   AS legal_service,
       max(c.value) FILTER (WHERE c.col_key = 'other_org')       AS other_org,
       max(c.value) FILTER (WHERE c.col_key = 'total')           AS total
FROM stg_cells_current AS c
LEFT JOIN spec_cells AS s ON s.key = c.key
WHERE c."table" = 'requests'
GROUP BY c.sha256, c.file, c.agency, c.year, c.region_code, c.row_key
