"""PostGIS beside GeoPackage: ingest rate, block aggregates, within-polygon, items, tiles.

``run(store)`` takes the GeoPackage demo store, copies communities, persons and
buildings into PostGIS (a throwaway cluster started here unless
``ONEMAP_BENCH_PG_URL`` names an empty database) and times the same calls on
both. Tiles: our PostGIS path (:meth:`PostGISStore.mvt`) against a bare
``ST_AsMVT`` query over the same rows (goal: within 1.5×), and the GeoPackage
path (Python encoder) beside it.
"""

from __future__ import annotations

import os
import time
from functools import partial
from typing import Any

import numpy as np

from bench.common import ms, p, timeit
from gis.store.gpkg import GeoPackageStore
from gis.store.postgis import PostGISStore

KINDS = ("community", "building", "person")
BARE_MVT = (
    "SELECT ST_AsMVT(q, %s, 4096, 'g') FROM (SELECT id, {cols}, ST_AsMVTGeom("
    "ST_Transform(geom, 3857), ST_TileEnvelope(%s, %s, %s), 4096, 64, true) AS g "
    "FROM {table} WHERE geom && ST_Transform(ST_TileEnvelope(%s, %s, %s, margin => 0.015625), "
    "4326)) q WHERE g IS NOT NULL")


def _gpkg_tile(store: GeoPackageStore, kind: str, cols: list[str], z: int, x: int,
               y: int) -> bytes:
    from tiles.engine import (
        BUFFER,
        EXTENT,
        LayerData,
        Tile,
        encode_layers,
        generalise,
        tile_bounds_lnglat,
        to_tile_units,
    )

    tile = Tile(x, y, z)
    bbox = tile_bounds_lnglat(tile, BUFFER / EXTENT)
    df = store.query(kind, bbox=bbox, columns=["id", *cols], limit=50_000)
    geoms = generalise(to_tile_units(np.asarray(df.geometry.values), tile))
    props = df[["id", *cols]].to_dict("records")
    return encode_layers([LayerData(kind, geoms, props)])


def run(store: Any) -> list[tuple[str, str, str, str]]:
    """Both backends side by side on the demo in ``store`` (a GeoPackage store)."""
    import morecantile

    cluster = None
    url = os.environ.get("ONEMAP_BENCH_PG_URL", "")
    if not url:
        from tests.pg import Cluster

        cluster = Cluster()
        url = cluster.new_database()
    pg = PostGISStore(url)
    rows: list[tuple[str, str, str, str]] = []
    try:
        for kind in KINDS:
            frame = store.query(kind).drop(columns=["fid", "h3", "block"])
            t0 = time.perf_counter()
            pg.ingest(kind, frame, replace=True)
            took_pg = time.perf_counter() - t0
            if kind == "person":
                import tempfile
                from pathlib import Path

                with tempfile.TemporaryDirectory() as tmp:
                    g2 = GeoPackageStore(Path(tmp) / "i.gpkg", create=True)
                    g2.ingest("community", store.query("community").drop(
                        columns=["fid", "h3", "block"]))
                    t0 = time.perf_counter()
                    g2.ingest("person", frame)
                    took_g = time.perf_counter() - t0
                    g2.close()
                n = len(frame)
                rows.append((f"postgis: ingest persons ({n:,} rows, COPY, one transaction)",
                             f"{n / took_pg:,.0f} rows/s",
                             f"geopackage {n / took_g:,.0f} rows/s", ""))
        for label, fn in (
            ("block aggregate persons res 9", partial(lambda s: s.block_aggregate("person", 9))),
            ("block aggregate persons res 9 as_of 2022-01-01",
             partial(lambda s: s.block_aggregate("person", 9, as_of="2022-01-01"))),
            ("block aggregate persons res 7 by age band, as_of",
             partial(lambda s: s.block_aggregate("person", 7, as_of="2022-01-01",
                                                 by="age_band"))),
        ):
            tp = timeit(partial(fn, pg), repeat=5)
            tg = timeit(partial(fn, store), repeat=5)
            rows.append((f"postgis: {label}", ms(p(tp, 0.5)), f"geopackage {ms(p(tg, 0.5))}",
                         "≤ 500 ms"))
        communities = store.query("community")
        areas = communities.to_crs("EPSG:4547").area.to_numpy()
        geom = communities.geometry.iloc[int(np.argsort(areas)[len(areas) // 2])]
        for kind in ("person", "building"):
            n = pg.count(kind, within=geom)
            tp = timeit(partial(pg.query, kind, within=geom), repeat=7)
            tg = timeit(partial(store.query, kind, within=geom), repeat=7)
            rows.append((f"postgis: {kind}s within the median community ({n:,})",
                         ms(p(tp, 0.5)), f"geopackage {ms(p(tg, 0.5))}", "≤ 50 ms"))
        box = (114.08, 22.53, 114.14, 22.58)
        tp = timeit(partial(pg.query, "person", bbox=box, limit=1000), repeat=9)
        tg = timeit(partial(store.query, "person", bbox=box, limit=1000), repeat=9)
        rows.append(("postgis: items limit=1000 (persons in a bbox)", ms(p(tp, 0.5)),
                     f"geopackage {ms(p(tg, 0.5))}", ""))
        # The same page after a client has panned over small boxes on the same pooled
        # connections (once psycopg prepares the statement, a generic plan would read
        # every person in the big box for each page).
        small = (114.118, 22.548, 114.122, 22.552)
        for _ in range(12):
            pg.query("person", bbox=small, limit=1000)
        tp = timeit(partial(pg.query, "person", bbox=box, limit=1000), repeat=9)
        rows.append(("postgis: items limit=1000 (persons in a bbox, after 12 small-box pages)",
                     ms(p(tp, 0.5)), "", "as without the small pages"))
        tp = timeit(partial(pg.count, "person", bbox=box), repeat=5)
        tg = timeit(partial(store.count, "person", bbox=box), repeat=5)
        n = pg.count("person", bbox=box)
        rows.append((f"postgis: numberMatched, persons in a bbox ({n:,})",
                     ms(p(tp, 0.5)), f"geopackage {ms(p(tg, 0.5))}", ""))
        centre = communities.geometry.iloc[0].representative_point()
        tms = morecantile.tms.get("WebMercatorQuad")
        for z in (12, 14, 16):
            t = tms.tile(centre.x, centre.y, z)
            cols = ["use", "floors"]
            ours = timeit(partial(pg.mvt, "buildings", "building", z, t.x, t.y, columns=cols),
                          repeat=7)

            def bare(z: int = z, x: int = t.x, y: int = t.y) -> None:
                with pg.pool.connection() as conn:
                    conn.execute(BARE_MVT.format(cols="use, floors", table="buildings"),
                                 ["buildings", z, x, y, z, x, y]).fetchone()

            ref = timeit(bare, repeat=7)
            gp = timeit(partial(_gpkg_tile, store, "building", cols, z, t.x, t.y), repeat=3)
            ratio = p(ours, 0.5) / max(p(ref, 0.5), 1e-9)
            rows.append((f"postgis: buildings tile z{z} (ST_AsMVT, generalised)",
                         ms(p(ours, 0.5)),
                         f"bare ST_AsMVT {ms(p(ref, 0.5))} ({ratio:.2f}×); "
                         f"geopackage path {ms(p(gp, 0.5))}", "≤ 1.5× bare"))
    finally:
        pg.close()
        if cluster is not None:
            cluster.stop()
    return rows
