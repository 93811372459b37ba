-- The current content at every input path, readable or not (unreadable files included).
SELECT sha256, path, size, format, status, error_code, error_message, first_seen_run
FROM raw_source_files
WHERE is_current
