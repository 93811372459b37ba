-- Table 四 per current report: one row per report, one column per cell. NULL means blank.
SELECT c.sha256, c.file, c.agency, c.year, c.region_code,
       max(c.value) FILTER (WHERE c.col_key = 'review_upheld')               AS review_upheld,
       max(c.value) FILTER (WHERE c.col_key = 'review_corrected')            AS review_corrected,
       max(c.value) FILTER (WHERE c.col_key = 'review_other')                AS review_other,
       max(c.value) FILTER (WHERE c.col_key = 'review_pending')              AS review_pending,
       max(c.value) FILTER (WHERE c.col_key = 'review_total')                AS review_total,
       max(c.value) FILTER (WHERE c.col_key = 'suit_direct_upheld')          AS suit_direct_upheld,
       max(c.value) FILTER (WHERE c.col_key = 'suit_direct_corrected')       AS suit_direct_corrected,
       max(c.value) FILTER (WHERE c.col_key = 'suit_direct_other')           AS suit_direct_other,
       max(c.value) FILTER (WHERE c.col_key = 'suit_direct_pending')         AS suit_direct_pending,
       max(c.value) FILTER (WHERE c.col_key = 'suit_direct_total')           AS suit_direct_total,
       max(c.value) FILTER (WHERE c.col_key = 'suit_after_review_upheld')    AS suit_after_review_upheld,
       max(c.value) FILTER (WHERE c.col_key = 'suit_after_review_corrected') AS suit_after_review_corrected,
       max(c.value) FILTER (WHERE c.col_key = 'suit_after_review_other')     AS suit_after_review_other,
       max(c.value) FILTER (WHERE c.col_key = 'suit_after_review_pending')   AS suit_after_review_pending,
       max(c.value) FILTER (WHERE c.col_key = 'suit_after_review_total')     AS suit_after_review_total
FROM stg_cells_current AS c
WHERE c."table" = 'appeals' AND c.row_key = 'cases'
GROUP BY c.sha256, c.file, c.agency, c.year, c.region_code
