-- 0013: the case workflow of the unified supervision platform (gis/cases/workflow.py).
-- Plain tables (no geometry column: a case's point is lon/lat, its place the admin codes).
-- Times are canonical ISO text (YYYY-MM-DDTHH:MM:SSZ), as in the entity tables. The
-- GeoPackage store creates the same tables on first use (gis/cases/workflow.py, DDL).

CREATE TABLE IF NOT EXISTS cases (
    id text COLLATE "C" PRIMARY KEY,
    text text NOT NULL,
    category text COLLATE "C" NOT NULL,
    department text COLLATE "C",
    state text COLLATE "C" NOT NULL,
    source text COLLATE "C" NOT NULL,
    address_id text COLLATE "C",
    address text,
    lon double precision,
    lat double precision,
    subdistrict_code text COLLATE "C",
    community_code text COLLATE "C",
    grid_code text COLLATE "C",
    received_at text COLLATE "C" NOT NULL,
    deadline_at text COLLATE "C" NOT NULL,
    closed_at text COLLATE "C",
    rating integer,
    reopened integer NOT NULL DEFAULT 0,
    repeat_of text COLLATE "C",
    created_by text
);
CREATE INDEX IF NOT EXISTS idx_cases_state ON cases (state, deadline_at);
CREATE INDEX IF NOT EXISTS idx_cases_received ON cases (received_at);

CREATE TABLE IF NOT EXISTS case_transitions (
    case_id text COLLATE "C" NOT NULL REFERENCES cases (id),
    seq integer NOT NULL,
    action text COLLATE "C" NOT NULL,
    from_state text COLLATE "C",
    to_state text COLLATE "C" NOT NULL,
    department text COLLATE "C",
    at text COLLATE "C" NOT NULL,
    actor text,
    note text,
    PRIMARY KEY (case_id, seq)
);
