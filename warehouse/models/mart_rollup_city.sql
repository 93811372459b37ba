-- Roll-up by city over all years, reports with errors included (see mart_rollup.sql).
SELECT * FROM mart_rollup('city', NULL, NULL, true)
