-- Roll-up by county over all years, reports with errors included (see mart_rollup.sql).
SELECT * FROM mart_rollup('county', NULL, NULL, true)
