-- Data-quality findings per report, as of its latest validation (rules_version).
CREATE TABLE raw_findings (
    sha256        VARCHAR NOT NULL,
    seq           INTEGER NOT NULL,         -- order of the finding within its report (0-based)
    rule          VARCHAR NOT NULL,         -- stable rule id, e.g. requests.balance
    severity      VARCHAR NOT NULL,         -- error | warning
    kind          VARCHAR NOT NULL,         -- violated | not_checkable | blank | invalid | missing
    cells         JSON,                     -- cell keys involved
    expected      JSON,
    actual        JSON,
    message       VARCHAR,                  -- Chinese
    rules_version VARCHAR,
    PRIMARY KEY (sha256, seq)
);
