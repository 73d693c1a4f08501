-- The exact test of a bbox query for the geometries whose index box straddles an
-- edge of the box (gis/store/postgis.py, PostGISStore._where). ST_Intersects
-- itself, wrapped so that its declared cost does not make the planner gather a
-- parallel scan for one page: the function runs only for the few rows the cheap
-- envelope test cannot decide (plpgsql is never inlined, so its COST holds).
CREATE OR REPLACE FUNCTION onemap_meets_box(g geometry, box geometry) RETURNS boolean
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE COST 10
AS $$
BEGIN
    RETURN ST_Intersects(g, box);
END;
$$;
