-- Findings of current reports per rule, severity and kind.
SELECT f.rule, f.severity, f.kind,
       count(*) AS findings,
       count(DISTINCT f.sha256) AS reports,
       (SELECT count(*) FROM stg_reports_current) AS current_reports
FROM raw_findings AS f
JOIN stg_reports_current AS r USING (sha256)
GROUP BY f.rule, f.severity, f.kind
ORDER BY findings DESC, f.rule, f.severity, f.kind
