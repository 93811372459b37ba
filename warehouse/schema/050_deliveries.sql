-- Delivery log of the data-quality reports sent to agencies (tasks.notify). One row per agency
-- and report version: a version already 'sent' is never sent again; a 'failed' one is retried
-- by the next run (attempts accumulate).
CREATE TABLE deliveries (
    agency           VARCHAR NOT NULL,   -- agency name as in the report (= roster name)
    report_hash      VARCHAR NOT NULL,   -- tasks.dq_view.ReportView.content_hash(): the version
    sha256           VARCHAR NOT NULL,   -- source file of the report (raw_reports.sha256)
    year             INTEGER,
    recipient        VARCHAR,            -- address used at the last attempt
    status           VARCHAR NOT NULL CHECK (status IN ('sent', 'failed')),
    message_id       VARCHAR,            -- Message-ID header of the last message built
    attempts         INTEGER NOT NULL,   -- SMTP attempts over all runs
    error            VARCHAR,            -- last error, NULL once sent
    first_attempt_at TIMESTAMP NOT NULL, -- UTC
    last_attempt_at  TIMESTAMP NOT NULL, -- UTC
    sent_at          TIMESTAMP,          -- UTC, when accepted by the SMTP server
    PRIMARY KEY (agency, report_hash)
);
