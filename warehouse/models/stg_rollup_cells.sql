-- What the roll-up sums: the cells of current reports plus one derived key per applicant column,
-- requests.other.<col> (（六）其他处理 as one row), for reports that do not have it:
--   value  = sum of the non-blank sub-rows other_no_correction / other_fee_unpaid / other_other,
--            NULL (blank) when all three are blank;
--   status = blank | uncertain | inferred | read (the weakest status among the non-blank sub-rows).
-- Reports that print the single row (2019 format) keep their own requests.other.<col>.
WITH c AS (
    SELECT sha256, key, "table", row_key, col_key, value, status
    FROM stg_cells_current
), derived AS (
    SELECT sha256,
           'requests.other.' || col_key AS key,
           'requests' AS "table",
           'other' AS row_key,
           col_key,
           sum(value) AS value,
           CASE WHEN count(value) = 0 THEN 'blank'
                WHEN bool_or(status = 'uncertain') THEN 'uncertain'
                WHEN bool_or(status = 'inferred') THEN 'inferred'
                ELSE 'read' END AS status
    FROM c
    WHERE "table" = 'requests'
      AND row_key IN ('other_no_correction', 'other_fee_unpaid', 'other_other')
      AND NOT EXISTS (SELECT 1 FROM c AS single
                      WHERE single.sha256 = c.sha256
                        AND single.key = 'requests.other.' || c.col_key)
    GROUP BY sha256, col_key
)
SELECT * FROM c
UNION ALL
SELECT * FROM derived
