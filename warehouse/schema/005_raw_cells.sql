-- One row per report and cell key (the 200 keys of the 2021 format plus extra keys such as
-- requests.other.* of the 2019 format). A blank cell is value NULL, status 'blank', never 0.
-- Key: (sha256, key), unique. It is enforced by tasks.load (every batch checks it before
-- COMMIT) and not declared: a declared PRIMARY KEY (an ART index on two strings) costs DuckDB
-- 5-9 s per 2,000,000 cells on insert and again on delete, more than the whole load otherwise.
CREATE TABLE raw_cells (
    sha256     VARCHAR NOT NULL,
    key        VARCHAR NOT NULL,            -- "<table>.<row_key>.<col_key>"
    "table"    VARCHAR NOT NULL CHECK ("table" IN ('proactive', 'requests', 'appeals')),
    row_key    VARCHAR NOT NULL,
    col_key    VARCHAR NOT NULL,
    value      DECIMAL(18, 4),              -- counts are integers; the fee is in 万元
    status     VARCHAR NOT NULL CHECK (status IN ('read', 'inferred', 'blank', 'uncertain')),
    page       INTEGER,                     -- provenance: 1-based PDF page
    line       INTEGER,                     -- 1-based text line
    grid_table INTEGER,                     -- 0-based table grid / row / column in the document
    grid_row   INTEGER,
    grid_col   INTEGER,
    bbox       DOUBLE[],                    -- PDF points [x0, top, x1, bottom]
    raw_text   VARCHAR,                     -- the text as printed
    row_label  VARCHAR,                     -- the row's / column's label as printed
    col_label  VARCHAR,
    confidence DOUBLE,                      -- reader confidence (OCR), NULL when none
    CHECK (key = "table" || '.' || row_key || '.' || col_key),
    CHECK (status = 'uncertain' OR (status = 'blank') = (value IS NULL))
);
