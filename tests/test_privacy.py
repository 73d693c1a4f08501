"""The public never sees a person across answers: the differencing attack of issue 16
(renewal-impact over nested and shifted rectangles) against the whole-block defence,
checked against a brute force over the whole person layer (shapely + h3)."""

from __future__ import annotations

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
