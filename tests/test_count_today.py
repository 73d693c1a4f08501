"""numberMatched "as of today" is exact: the store's count and the OGC layer's numberMatched
equal a brute-force count (shapely over the whole layer, the dates compared in Python),
on both stores, with rows that start or end today, yesterday and tomorrow, polygons
straddling the box's edges and points on them. On the GeoPackage store these counts and
pages come from numpy columns (gis/store/box_index.py); a write must be seen at once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gis.filters import Filter
from gis.store.base import Store
from gis.store.gpkg import GeoPackageStore
from layers.access import Principal
from layers.catalog import FeatureQuery, default_catalog
from tests.conftest import community_frame

#: The box of the queries: inside the tiny store's two communities (114.10-114.12 E).
BOX = (114.104, 22.552, 114.114, 22.558)


def _today() -> date:
    # The layers' "today" (layers.catalog._now) is the UTC date.
    return datetime.now(UTC).date()


def _dates(rng: np.random.Generator, n: int) -> tuple[list[str], list[str | None]]:
    """Valid intervals around today: starting/ending yesterday, today or tomorrow, long
    past, or open (the edge cases of start <= t < end)."""
    t = _today()
    near = [(t + timedelta(days=d)).isoformat() for d in (-1, 0, 1)]
    starts = rng.choice([*near, "2010-01-01", "2019-06-30"], n).tolist()
    ends: list[str | None] = []
    for s in starts:
        choice = rng.integers(0, 5)
        later = [e for e in near if e > s]
        if choice == 0 or not later:
            ends.append(None)
        elif choice == 1:
            ends.append("2015-01-01" if s < "2015-01-01" else None)
        else:
            ends.append(str(rng.choice(later)))
    return starts, ends


def _buildings(rng: np.random.Generator, n: int = 240, prefix: str = "B") -> gpd.GeoDataFrame:
    """Small squares around the box; some cross its edges, a few touch them exactly; every
    other one turned 45 degrees (a diamond), so that near the box's corners envelopes meet
    the box while the shapes do not."""
    x = rng.uniform(114.101, 114.117, n)
    y = rng.uniform(22.5505, 22.5595, n)
    x[:6] = BOX[0] - 0.0002  # squares whose east edge lies on the box's west edge
    y[6:12] = BOX[3] + 0.0002  # squares whose south edge lies on the box's north edge
    half = 0.0002
    x[12:16] = BOX[0] - half * 0.9  # diamonds off the box's corners
    y[12:14], y[14:16] = BOX[1] - half * 0.9, BOX[3] + half * 0.9
    squares = shapely.box(x - half, y - half, x + half, y + half)
    diamonds = shapely.polygons(np.stack([
        np.column_stack([x, y - half]), np.column_stack([x + half, y]),
        np.column_stack([x, y + half]), np.column_stack([x - half, y]),
        np.column_stack([x, y - half])], axis=1))
    geoms = np.where(np.arange(n) % 2 == 0, diamonds, squares)
    starts, ends = _dates(rng, n)
    return gpd.GeoDataFrame(
        {"id": [f"{prefix}{i}" for i in range(n)], "use": "residential", "floors": 6,
         "valid_from": starts, "valid_to": ends},
        geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"))


def _enterprises(rng: np.random.Generator, n: int = 300) -> gpd.GeoDataFrame:
    """Points around the box; some exactly on its edges and corners, some a centimetre
    outside them (inside the R-tree's float32 envelopes, outside the box)."""
    x = rng.uniform(114.101, 114.119, n)
    y = rng.uniform(22.5505, 22.5595, n)
    x[:5], x[5:10] = BOX[0], BOX[2]
    y[10:15], y[15:20] = BOX[1], BOX[3]
    x[20], y[20] = BOX[2], BOX[3]
    x[21:25], x[25:29] = BOX[0] - 1e-7, BOX[2] + 1e-7
    y[29:33], y[33:37] = BOX[1] - 1e-7, BOX[3] + 1e-7
    starts, ends = _dates(rng, n)
    return gpd.GeoDataFrame(
        {"id": [f"E{i}" for i in range(n)], "name": "x", "industry": "I",
         "valid_from": starts, "valid_to": ends},
        geometry=gpd.GeoSeries(shapely.points(x, y), crs="EPSG:4326"))


def _brute(frame: gpd.GeoDataFrame, box: tuple[float, float, float, float] | None,
           at: str) -> set[str]:
    """Ids valid at ``at`` (start <= at < end, an open end) intersecting the closed box."""
    ok = np.array([s <= at and (e is None or pd.isna(e) or e > at)
                   for s, e in zip(frame["valid_from"], frame["valid_to"], strict=True)])
    if box is not None:
        ok &= shapely.intersects(frame.geometry.values, shapely.box(*box))
    return set(frame["id"][ok])


@pytest.fixture()
def filled(store_factory: Callable[[], Store]) -> tuple[Store, dict[str, gpd.GeoDataFrame]]:
    store = store_factory()
    store.ingest("community", community_frame())
    rng = np.random.default_rng(11)
    frames = {"building": _buildings(rng), "enterprise": _enterprises(rng)}
    for kind, frame in frames.items():
        store.ingest(kind, frame)
    return store, frames


@pytest.mark.parametrize("kind", ["building", "enterprise"])
@pytest.mark.parametrize("box", [BOX, None, (114.0, 22.5, 114.2, 22.6), (114.2, 22.6, 114.3, 22.7)])
def test_count_as_of_today_is_exact(filled: tuple[Store, dict[str, gpd.GeoDataFrame]],
                                    kind: str, box: tuple[float, float, float, float] | None
                                    ) -> None:
    store, frames = filled
    today = _today().isoformat()
    expected = _brute(frames[kind], box, today)
    assert store.count(kind, as_of=today, bbox=box) == len(expected)
    # a date-time instant later today: the same rows (a date is valid all its day)
    assert store.count(kind, as_of=f"{today}T12:00:00Z", bbox=box) == len(expected)
    # every page together is the answer, each row once
    seen: list[str] = []
    for offset in range(0, len(expected) + 7, 7):
        page = store.query(kind, as_of=today, bbox=box, columns=["id"], limit=7, offset=offset)
        seen += page["id"].tolist()
    assert sorted(seen) == sorted(expected)


@pytest.mark.parametrize("at", ["2014-12-31", "2015-01-01", "2019-06-30"])
def test_count_at_other_instants(filled: tuple[Store, dict[str, gpd.GeoDataFrame]],
                                 at: str) -> None:
    store, frames = filled
    for kind, frame in frames.items():
        assert store.count(kind, as_of=at, bbox=BOX) == len(_brute(frame, BOX, at))
        assert store.count(kind, as_of=at) == len(_brute(frame, None, at))


@pytest.mark.parametrize("layer_id", ["buildings", "enterprises"])
def test_number_matched_defaults_to_today(filled: tuple[Store, dict[str, gpd.GeoDataFrame]],
                                          layer_id: str) -> None:
    store, frames = filled
    layer = default_catalog()[layer_id]
    kind = layer.kinds[0]
    today = _today().isoformat()
    for box in (BOX, None):
        page = layer.features(store, FeatureQuery(limit=1000, bbox=box), Principal())
        expected = _brute(frames[kind], box, today)
        assert page.number_matched == len(expected)
        assert {f["id"] for f in page.features} == expected


@pytest.mark.parametrize("box", [BOX, None])
def test_filtered_count_as_of_today(filled: tuple[Store, dict[str, gpd.GeoDataFrame]],
                                    box: tuple[float, float, float, float] | None) -> None:
    store, frames = filled
    frame = frames["building"]
    today = _today().isoformat()
    tall = set(frame["id"][frame.index % 3 == 0])
    expected = _brute(frame, box, today) & tall
    flt = Filter.from_text(f"id IN ({', '.join(repr(i) for i in sorted(tall))})")
    for _ in range(2):  # the second one from the kept count
        assert store.count("building", as_of=today, bbox=box, filter=flt) == len(expected)
    assert store.count("building", as_of=today, bbox=box, where={"id": sorted(tall)}) == len(
        expected)


def test_a_write_is_counted_at_once(tmp_path) -> None:
    """Another store object on the same file (another server process) writes: the first
    one's next count sees it (the write log invalidates the numpy columns)."""
    path = tmp_path / "w.gpkg"
    a = GeoPackageStore(path, create=True)
    a.ingest("community", community_frame())
    rng = np.random.default_rng(3)
    first = _buildings(rng, 50)
    a.ingest("building", first)
    today = _today().isoformat()
    assert a.count("building", as_of=today, bbox=BOX) == len(_brute(first, BOX, today))
    assert a.count("building", as_of=today, where={"use": "residential"}) == len(
        _brute(first, None, today))
    b = GeoPackageStore(path)
    more = _buildings(rng, 40, prefix="N")
    b.ingest("building", more)
    b.close()
    both = pd.concat([first, more], ignore_index=True)
    assert a.count("building", as_of=today, bbox=BOX) == len(_brute(both, BOX, today))
    assert a.count("building", as_of=today, where={"use": "residential"}) == len(
        _brute(both, None, today))
    assert a.count("building", bbox=BOX) == int(
        shapely.intersects(both.geometry.values, shapely.box(*BOX)).sum())
    a.close()
