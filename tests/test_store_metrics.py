"""Store query times on /metrics: the store layer reports each operation to an
observer the host installs (gis.store.timing), on both backends; the tile cache
hit ratio is the hits over lookups the cache counted."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from gis.store.base import Store
from spatial_api.app import create_app
from spatial_api.settings import Settings
from tests.conftest import person_frame
from tests.test_security_ops import samples


def test_store_operations_reach_the_observer(tiny_any: Store) -> None:
    seen: list[tuple[str, str, float]] = []
    tiny_any.query_observer = lambda b, op, s: seen.append((b, op, s))  # type: ignore[attr-defined]
    assert tiny_any.count("person") == 6
    df = tiny_any.query("person", columns=["id"])
    agg = tiny_any.block_aggregate("person", 9)
    tiny_any.ingest("person", person_frame().iloc[:0], replace=False)
    ops = [op for _, op, _ in seen]
    # one observation per outermost call (count's inner work is not counted twice)
    assert ops == ["count", "query", "block_aggregate", "ingest"]
    assert {b for b, _, _ in seen} == {tiny_any.backend}
    assert all(s >= 0 for _, _, s in seen) and len(df) == 6 and int(agg["count"].sum()) == 6
    tiny_any.query_observer = None  # type: ignore[attr-defined]
    tiny_any.count("person")
    assert len(seen) == 4


def test_metrics_has_store_times_and_cache_hit_ratio(demo_dir: Path) -> None:
    with TestClient(create_app(Settings(data_dir=demo_dir))) as c:
        assert c.get("/ogc/collections/buildings/items?limit=3&f=json").status_code == 200
        tile = "/tiles/buildings/14/13387/7141.mvt"
        codes = [c.get(tile).status_code for _ in range(3)]
        s = samples(c.get("/metrics").text)
        count = {lab: v for (n, lab), v in s.items() if n == "onemap_store_query_seconds_count"}
        total = {lab: v for (n, lab), v in s.items() if n == "onemap_store_query_seconds_sum"}
        assert count[(("operation", "query"), ("store", "geopackage"))] >= 1
        assert all(v >= 0 for v in total.values())
        assert {dict(lab)["store"] for lab in count} == {"geopackage"}
        cache = c.app.state.tiles.service.cache  # type: ignore[attr-defined]
        hits, misses = s[("onemap_tile_cache_hits_total", ())], s[
            ("onemap_tile_cache_misses_total", ())]
        assert (hits, misses) == (cache.hits, cache.misses)
        if codes[0] == 200:  # rendered once, then served from the cache twice
            assert hits >= 2
        assert s[("onemap_tile_cache_hit_ratio", ())] == hits / (hits + misses)
