-- Issue 15 (serving from PostGIS): numberMatched of a layer shown "as it is today"
-- counts the rows valid at a date (valid_from <= t AND (valid_to IS NULL OR valid_to > t)).
-- Without an index on those two columns alone that count reads the whole table (a
-- parallel sequential scan: 130-160 ms for the 250,000 enterprises of the full demo on
-- a busy 2-core machine); with it, an index-only scan (85-90 ms there). The
-- (block, valid_from, valid_to) indexes serve the block aggregates, not this count.
-- Only the large tables of kinds whose layers default to today.
CREATE INDEX IF NOT EXISTS idx_buildings_time ON buildings (valid_from, valid_to);
CREATE INDEX IF NOT EXISTS idx_houses_time ON houses (valid_from, valid_to);
CREATE INDEX IF NOT EXISTS idx_persons_time ON persons (valid_from, valid_to);
CREATE INDEX IF NOT EXISTS idx_enterprises_time ON enterprises (valid_from, valid_to);
CREATE INDEX IF NOT EXISTS idx_industrial_spaces_time ON industrial_spaces (valid_from, valid_to);
