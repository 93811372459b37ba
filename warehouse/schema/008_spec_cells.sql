-- The 2021 cell contract (tasks/spec/cells_2021.csv) with its printed order, for labels and
-- ordering in marts. Filled by tasks.load.open_warehouse.
CREATE TABLE spec_cells (
    key       VARCHAR PRIMARY KEY,
    ordinal   INTEGER NOT NULL,             -- 0-based printed order
    "table"   VARCHAR NOT NULL,
    row_key   VARCHAR NOT NULL,
    col_key   VARCHAR NOT NULL,
    row_label VARCHAR NOT NULL,
    col_label VARCHAR NOT NULL,
    unit      VARCHAR NOT NULL
);
