"""The cost of a PostGIS tile depends on what is in the tile, not on the table's size.

Issue 15 ("Serving from PostGIS"; the city-scale tile p95 goal): the ``ST_AsMVT``
statement ``PostGISStore.mvt`` sends must find its rows through the GiST index on the
geometry, whatever the table holds elsewhere. The seeded demo is copied into its own
PostGIS database, then each served table is grown with copies of its rows moved far
east of the district (outside every tile looked at), twice. After each growth the
statement the tile engine sends for a tile over central Luohu is EXPLAINed as PostgreSQL
runs it: no sequential scan of the table, a scan of its geometry index, the same rows
read (the tile's, not the table's), and the same tile bytes as before any growth. A
plan that gathered a (parallel) sequential scan, or a step not bounded by the tile
envelope, reads more rows as the table grows and fails here.

The generic SQL (geometry dimension asked per row) gives the same tiles as the SQL
specialised for the kind's declared geometry type.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import morecantile
import pytest

import gis.store.postgis as pgmod
from gis.store.gpkg import GeoPackageStore
from gis.store.postgis import PostGISStore
from layers.access import Principal
from layers.catalog import default_catalog
from tests.pg import Cluster
from tiles.engine import Tile, TileEngine

PUBLIC = Principal()
#: (layer, table, zoom): polygons, lines and points, at a zoom drawn feature by feature.
CASES = [("buildings", "buildings", 14), ("roads", "roads", 12),
         ("enterprises", "enterprises", 16)]
#: Degrees between copies (east, then north every 40 copies): every copy lies outside
#: the tiles looked at.
SHIFT = 0.25
#: Rows of each table after the first and the second growth.
SIZES = (20_000, 80_000)


@pytest.fixture(scope="module")
def pg(demo_dir: Path, pg_cluster: Cluster) -> Iterator[PostGISStore]:
    """The seeded demo's served kinds in a PostGIS database of its own (grown here)."""
    url = pg_cluster.new_database()
    gpkg = GeoPackageStore(demo_dir / "onemap.gpkg")
    store = PostGISStore(url)
    for kind in ("building", "road", "enterprise"):
        frame = gpkg.query(kind).drop(columns=["fid", "h3", "block"], errors="ignore")
        store.ingest(kind, frame)
    gpkg.close()
    yield store
    store.close()
    pg_cluster.drop_database(url)


def tile_at(z: int, lon: float = 114.12, lat: float = 22.55) -> Tile:
    """The tile of zoom ``z`` over central Luohu."""
    t = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, z)
    return Tile(t.x, t.y, t.z)


def served(pg: PostGISStore, layer: str, tile: Tile) -> tuple[bytes, str, list[Any]]:
    """The tile the engine serves for ``layer``, and the ``ST_AsMVT`` statement it sent."""
    sent: list[tuple[str, list[Any]]] = []
    query = pg.mvt_query

    def record(*args: Any, **kwargs: Any) -> tuple[str, list[Any]]:
        sent.append(query(*args, **kwargs))
        return sent[-1]

    pg.mvt_query = record  # type: ignore[method-assign]
    try:
        data = TileEngine(default_catalog()).render(layer, pg, tile, PUBLIC).data
    finally:
        del pg.mvt_query
    assert len(sent) == 1, "the layer must take the database path once"
    return data, *sent[0]


def grow(pg: PostGISStore, table: str, size: int) -> int:
    """Add copies of the table's original rows (moved by ``SHIFT`` steps, fresh ids)
    until it holds about ``size`` rows; refresh the statistics. Returns its rows."""
    with pg.pool.connection() as conn:
        have, base = conn.execute(  # type: ignore[misc]
            f"SELECT count(*), count(*) FILTER (WHERE id NOT LIKE '%~%') FROM {table}"  # type: ignore[arg-type]
        ).fetchone()
        first, last = have // base, max(size // base, have // base)
        cols = [r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
            "AND column_name NOT IN ('fid', 'id', 'geom') AND is_generated = 'NEVER' "
            "ORDER BY ordinal_position", [table])]
        names = ", ".join(cols)
        conn.execute(
            f"INSERT INTO {table} (id, geom{', ' if cols else ''}{names}) "  # type: ignore[arg-type]
            f"SELECT t.id || '~' || k, "
            f"ST_Translate(t.geom, %s::float8 * mod(k, 40), %s::float8 * (k / 40))"
            f"{', ' if cols else ''}{', '.join('t.' + c for c in cols)} "
            f"FROM {table} t, generate_series(%s::int, %s::int) k WHERE t.id NOT LIKE '%%~%%'",
            [SHIFT, SHIFT, first, last])
        conn.execute(f"ANALYZE {table}")  # type: ignore[arg-type]
        conn.commit()
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[arg-type,index]


def plan_of(pg: PostGISStore, sql: str, args: list[Any]) -> dict[str, Any]:
    """The executed plan (EXPLAIN ANALYZE, JSON) of one statement."""
    with pg.pool.connection() as conn:
        row = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, args).fetchone()  # type: ignore[operator]
    assert row is not None
    doc = row[0] if not isinstance(row[0], str) else json.loads(row[0])
    return dict(doc[0]["Plan"])


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node of a plan, depth first."""
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def scans(plan: dict[str, Any], table: str) -> list[dict[str, Any]]:
    """The nodes that read ``table`` or its indexes."""
    return [n for n in nodes(plan) if n.get("Relation Name") == table
            or str(n.get("Index Name", "")).startswith(f"idx_{table}_")]


def rows_read(plan: dict[str, Any], table: str) -> int:
    """Rows the plan took from ``table`` (returned or removed by a filter or recheck).

    EXPLAIN shows these counts per loop (a parallel worker is a loop): times loops.
    """
    return round(sum((float(n.get("Actual Rows", 0)) + float(n.get("Rows Removed by Filter", 0))
                      + float(n.get("Rows Removed by Index Recheck", 0)))
                     * int(n.get("Actual Loops", 1))
                     for n in scans(plan, table) if n.get("Relation Name") == table))


@pytest.mark.parametrize(("layer", "table", "z"), CASES)
def test_tile_cost_does_not_grow_with_the_table(pg: PostGISStore, layer: str, table: str,
                                                z: int) -> None:
    tile = tile_at(z)
    before, _, _ = served(pg, layer, tile)
    assert len(before) > 100, "the tile must hold features for the test to mean anything"
    with pg.pool.connection() as conn:
        base = int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[arg-type,index]
    read = []
    for size in SIZES:
        total = grow(pg, table, size)
        assert total >= size * 0.9
        data, sql, args = served(pg, layer, tile)
        assert data == before, f"{layer}: growing the table elsewhere changed the tile"
        plan = plan_of(pg, sql, args)
        kinds = [n["Node Type"] for n in scans(plan, table)]
        assert "Seq Scan" not in kinds, (layer, total, kinds)
        assert any(n.get("Index Name") == f"idx_{table}_geom" for n in scans(plan, table)), (
            layer, total, kinds)
        read.append(rows_read(plan, table))
        # The rows read are those near the tile: at most the district's own rows.
        assert 0 < read[-1] <= base, (layer, read[-1], base, total)
    assert read[0] == read[1], f"{layer}: rows read grew with the table: {read}"


@pytest.mark.parametrize(("layer", "table", "z"), CASES)
def test_generic_sql_gives_the_same_tiles(pg: PostGISStore, layer: str, table: str, z: int,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the declared geometry type (dimension tested per row), same bytes."""
    for dx in (0, 1):
        t = tile_at(z)
        tile = Tile(t.x + dx, t.y, z)
        want, _, _ = served(pg, layer, tile)
        with monkeypatch.context() as m:
            m.setattr(pgmod, "_GEOM_DIM", {})
            got, sql, _ = served(pg, layer, tile)
        assert "ST_Dimension" in sql
        assert got == want, (layer, tile)
