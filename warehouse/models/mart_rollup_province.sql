-- Roll-up by province over all years, reports with errors included (see mart_rollup.sql).
SELECT * FROM mart_rollup('province', NULL, NULL, true)
