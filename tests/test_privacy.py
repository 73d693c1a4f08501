"""The public never sees a person across answers: the differencing attack of issue 16
(renewal-impact over nested and shifted rectangles) against the whole-block defence,
checked against a brute force over the whole person layer (shapely + h3)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import h3
import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient

from gis.analysis.renewal import RenewalImpactInput, renewal_impact
from gis.store.gpkg import GeoPackageStore
from spatial_api.app import create_app
from spatial_api.settings import Settings

K = 5
AS_OF = "2024-06-30"
POP = {"X-API-Key": "demo-population-key"}


@pytest.fixture(scope="module")
def client(demo_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(data_dir=demo_dir))) as c:
        yield c


@pytest.fixture(scope="module")
def people(demo_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Every person's home point and its res-9 cell (the whole layer, as of AS_OF)."""
    store = GeoPackageStore(demo_dir / "onemap.gpkg")
    try:
        p = store.query("person", as_of=AS_OF, columns=["id"])
    finally:
        store.close()
    xy = shapely.get_coordinates(np.asarray(p.geometry.values))
    cells = np.array([h3.str_to_int(h3.latlng_to_cell(y, x, 9)) for x, y in xy])
    return xy, cells


def brute_public(area: shapely.Polygon, cells: np.ndarray) -> int | None:
    """Persons over the whole res-9 blocks the area overlaps, blocks under k left out."""
    touched = {h3.str_to_int(c) for c in h3.h3shape_to_cells_experimental(
        h3.geo_to_h3shape(shapely.geometry.mapping(area)), 9, contain="overlap")}
    counts = {c: int((cells == c).sum()) for c in touched}
    total = sum(n for n in counts.values() if n >= K)
    return None if total == 0 and any(0 < n < K for n in counts.values()) else total


def impact(c: TestClient, area: shapely.Polygon, headers: dict | None = None) -> dict:
    r = c.post("/ogc/processes/renewal-impact/execution", headers=headers or {},
               json={"inputs": {"area": shapely.geometry.mapping(area), "as_of": AS_OF}})
    assert r.status_code == 200, r.text
    return r.json()


def test_differencing_attack_on_nested_rectangles(client: TestClient, demo_dir: Path,
                                                   people: tuple[np.ndarray, np.ndarray]
                                                   ) -> None:
    xy, cells = people
    # the attacker centres on a home and grows a rectangle in small steps (the
    # issue's 0.0006° → 0.0007°), then shifts it
    x0, y0 = xy[len(xy) // 2]
    store = GeoPackageStore(demo_dir / "onemap.gpkg")
    try:
        previous_public: int | None = None
        for i in range(1, 16):
            w = 0.0001 * i
            area = shapely.box(x0 - w / 2, y0 - w / 2.4, x0 + w / 2, y0 + w / 2.4)
            pub = impact(client, area)
            assert pub["persons"] == brute_public(area, cells)
            assert pub["persons"] in (None, 0) or pub["persons"] >= K
            if previous_public is not None:
                diff = (pub["persons"] or 0) - previous_public
                # nested areas: the public answers differ by whole blocks (0 or >= k)
                assert diff == 0 or diff >= K, (i, diff)
            previous_public = pub["persons"] or 0
            for v in pub["persons_by_age_band"].values():
                assert v is None or v == 0 or v >= K
            assert pub["households"] in (None, 0) or pub["households"] >= K
        # the attack proper: two nested areas that differ by one home with 1..k-1
        # residents; exact answers give them away, public answers must not move
        homes, counts = np.unique(np.round(xy, 7), axis=0, return_counts=True)
        best: tuple[float, float, float, int] | None = None  # (isolation, x, y, residents)
        for (hx, hy), n in zip(homes, counts, strict=True):
            if n < K:
                d = np.sort(np.abs(xy - [hx, hy]).max(axis=1))
                iso = float(d[n]) if len(d) > n else 1.0
                if best is None or iso > best[0]:
                    best = (iso, float(hx), float(hy), int(n))
        assert best is not None
        iso, hx, hy, n = best
        r = 0.9 * iso  # no other home within r: the two areas below differ by this home
        outer = shapely.box(hx - r, hy - r, hx + r, hy + r)
        inner = shapely.box(hx - r, hy - r, hx - r / 4, hy + r)
        exact_diff = (renewal_impact(store, RenewalImpactInput(outer, AS_OF)).persons or 0) - (
            renewal_impact(store, RenewalImpactInput(inner, AS_OF)).persons or 0)
        assert exact_diff == n  # what the attacker would learn without the defence
        same_blocks = brute_public(outer, cells) == brute_public(inner, cells)
        pub_diff = (impact(client, outer)["persons"] or 0) - (
            impact(client, inner)["persons"] or 0)
        assert pub_diff == 0 if same_blocks else (pub_diff == 0 or pub_diff >= K)
        # shifted rectangles inside one block give the same answer
        cell = h3.latlng_to_cell(y0, x0, 9)
        cy, cx = h3.cell_to_latlng(cell)
        tiny = [shapely.box(cx + dx, cy, cx + dx + 0.00005, cy + 0.00005)
                for dx in (0.0, 0.00002, 0.00004)]
        answers = {impact(client, a)["persons"] for a in tiny}
        assert len(answers) == 1
        # a department role with person access still gets exact figures
        area = shapely.box(x0 - 0.001, y0 - 0.001, x0 + 0.001, y0 + 0.001)
        exact = renewal_impact(store, RenewalImpactInput(area, AS_OF)).persons
        assert impact(client, area, POP)["persons"] == exact
    finally:
        store.close()


def test_block_counts_are_never_clipped_by_a_bbox(client: TestClient,
                                                  people: tuple[np.ndarray, np.ndarray]
                                                  ) -> None:
    xy, _ = people
    x0, y0 = xy[len(xy) // 3]
    # the unclipped layer: every block's public count
    r = client.get("/ogc/collections/population_blocks/items",
                   params={"f": "json", "limit": 100000})
    whole = {f["properties"]["cell"]: f["properties"]["count"] for f in r.json()["features"]
             if f["properties"].get("res") == 9}
    assert whole
    seen = 0
    for w in (0.00005, 0.0003, 0.0006, 0.0007, 0.003):
        bbox = f"{x0 - w},{y0 - w},{x0 + w},{y0 + w}"
        r = client.get("/ogc/collections/population_blocks/items",
                       params={"f": "json", "bbox": bbox, "limit": 1000})
        assert r.status_code == 200, r.text
        for f in r.json()["features"]:
            props = f["properties"]
            if props.get("kind", "person") != "person" or props.get("res") != 9:
                continue
            assert props["count"] == whole[props["cell"]], (bbox, props)
            seen += 1
    assert seen > 0


@pytest.fixture(scope="module")
def stored_blocks(demo_dir: Path) -> np.ndarray:
    """Every person's res-9 block as the store records it (what the block layers count)."""
    store = GeoPackageStore(demo_dir / "onemap.gpkg")
    try:
        return store.query("person", as_of=AS_OF, columns=["id", "block"])["block"].to_numpy()
    finally:
        store.close()


def _public_counts(cells: np.ndarray) -> dict[str, int | None]:
    """Every res-9 block's public count (brute force): n when n >= k, else suppressed."""
    ids, n = np.unique(cells, return_counts=True)
    return {h3.int_to_str(int(c)): (int(v) if v >= K else None)
            for c, v in zip(ids, n, strict=True)}


def _overlapping(area: shapely.Geometry, blocks: dict[str, int | None]) -> set[str]:
    """The blocks whose hexagon meets the area (shapely over every block of the layer)."""
    hexes = {c: shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(c)])
             for c in blocks}
    return {c for c, g in hexes.items() if g.intersects(area)}


def _viewer_blocks(c: TestClient, area: shapely.Polygon) -> dict[str, int | None]:
    r = c.get("/viewer/api/blocks", params={"metric": "population", "res": 9, "as_of": AS_OF,
                                            "bbox": ",".join(f"{v:.7f}" for v in area.bounds)})
    assert r.status_code == 200, r.text
    return {f["properties"]["cell"]: f["properties"]["value"] for f in r.json()["features"]}


def _cql2_blocks(c: TestClient, area: shapely.Polygon, lang: str,
                 predicate: str = "S_INTERSECTS") -> dict[str, int | None]:
    if lang == "cql2-text":
        text = f"{predicate}(geometry, {area.wkt})"
    else:
        text = json.dumps({"op": predicate.lower(), "args": [
            {"property": "geometry"}, shapely.geometry.mapping(area)]})
    r = c.get("/ogc/collections/population_blocks/items",
              params={"f": "json", "limit": 10000, "datetime": AS_OF, "filter": text,
                      "filter-lang": lang})
    assert r.status_code == 200, r.text
    return {f["properties"]["cell"]: f["properties"]["count"] for f in r.json()["features"]}


def test_differencing_attack_on_viewer_blocks_and_cql2_filters(
        client: TestClient, people: tuple[np.ndarray, np.ndarray],
        stored_blocks: np.ndarray) -> None:
    # The same attacker against the viewer's block API (bbox) and CQL2 spatial filters
    # over the public block layer: every block comes whole, with its whole-layer count
    # (suppressed under k), so nested areas differ by 0 or >= k persons.
    xy, _ = people
    blocks = _public_counts(stored_blocks)
    x0, y0 = xy[len(xy) // 2]
    previous: dict[str, int] = {}
    for i in range(1, 13):
        w = 0.00015 * i
        area = shapely.box(x0 - w / 2, y0 - w / 2.4, x0 + w / 2, y0 + w / 2.4)
        want = {c: blocks[c] for c in _overlapping(area, blocks)}
        answers = {"viewer": _viewer_blocks(client, area),
                   "cql2-text": _cql2_blocks(client, area, "cql2-text"),
                   "cql2-json": _cql2_blocks(client, area, "cql2-json")}
        for route, got in answers.items():
            assert got == want, (route, i)
            total = sum(v or 0 for v in got.values())
            if route in previous:
                assert total - previous[route] == 0 or total - previous[route] >= K, (route, i)
            previous[route] = total
    # the attack proper: two nested areas that differ by one home with 1..k-1
    # residents and nothing else
    homes, counts = np.unique(np.round(xy, 7), axis=0, return_counts=True)
    small = [(float(hx), float(hy), int(n)) for (hx, hy), n in zip(homes, counts, strict=True)
             if n < K]
    assert small
    hx, hy, n = small[0]
    d = np.sort(np.abs(xy - [hx, hy]).max(axis=1))
    r = 0.9 * float(d[n])
    outer = shapely.box(hx - r, hy - r, hx + r, hy + r)
    inner = shapely.box(hx - r, hy - r, hx - r / 4, hy + r)
    for ask in (_viewer_blocks, lambda c, a: _cql2_blocks(c, a, "cql2-text")):
        diff = sum(v or 0 for v in ask(client, outer).values()) - sum(
            v or 0 for v in ask(client, inner).values())
        assert diff == 0 or diff >= K
    # a block inside a polygon is whole too: S_WITHIN keeps only hexagons inside it
    big = shapely.box(x0 - 0.01, y0 - 0.01, x0 + 0.01, y0 + 0.01)
    inside = _cql2_blocks(client, big, "cql2-text", "S_WITHIN")
    hexes = {c: shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(c)])
             for c in blocks}
    assert inside == {c: v for c, v in blocks.items() if hexes[c].within(big)} and inside
    # a filter on anything but the geometry is refused, not ignored
    r = client.get("/ogc/collections/population_blocks/items",
                   params={"f": "json", "filter": "count < 5", "filter-lang": "cql2-text"})
    assert r.status_code == 400
