-- Table 二 per current report: one row per report and row_key, one column per printed column.
-- NULL means blank or not printed (see stg_cells_current.status). Only the 2021 columns are
-- here; other keys (2019 format) are in stg_cells_current.
SELECT c.sha256, c.file, c.agency, c.year, c.region_code, c.row_key,
       min(s.ordinal) AS row_order,
       max(c.value) FILTER (WHERE c.col_key = 'issued')    AS issued,
       max(c.value) FILTER (WHERE c.col_key = 'repealed')  AS repealed,
       max(c.value) FILTER (WHERE c.col_key = 'in_force')  AS in_force,
       max(c.value) FILTER (WHERE c.col_key = 'decisions') AS decisions,
       max(c.value) FILTER (WHERE c.col_key = 'amount')    AS amount
FROM stg_cells_current AS c
LEFT JOIN spec_cells AS s ON s.key = c.key
WHERE c."table" = 'proactive'
GROUP BY c.sha256, c.file, c.agency, c.year, c.region_code, c.row_key
