"""The seeded demo (scale 0.01, seed 7) looks like the district a planner knows.

- The resident total on the first of every month of 2019-01-01 .. today stays
  within ±3 % of the 2020 census figure (scaled), in the store and in the
  public ``population_blocks`` layer.
- Every building's address point, and every house's, lies inside or on the
  building's footprint (shapely ``covered_by``), over every building the demo
  ever had (demolished ones at a date they stood).
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
import shapely

from data.synth.census import CENSUS_DATE, load_census
from gis.store.gpkg import GeoPackageStore
from layers.access import Principal
from layers.catalog import FeatureQuery, default_catalog

SCALE = 0.01  # the session demo of tests/conftest.py (seed 7)
#: The tolerance the issue asks for. At this scale the census figure is 11,438
#: residents, so ±3 % is ±343 persons, some 130 households. The generator
#: matches each departure with arrivals to within half a household (plus the
#: week or more a dwelling stays empty): over seeds 1-14 at this scale the
#: largest monthly deviation measured was 0.13 %, so the test is not at the
#: mercy of sampling noise, while the old generator's fall (-15 % by 2026)
#: fails it from 2022 on.
TOLERANCE = 0.03


def _months() -> list[str]:
    today = dt.date.today().isoformat()
    days = pd.date_range("2019-01-01", today, freq="MS").strftime("%Y-%m-%d").tolist()
    return [*days, today]


@pytest.fixture(scope="module")
def census_n() -> int:
    return round(load_census().total * SCALE)


def test_residents_every_month_near_census(demo_store: GeoPackageStore, census_n: int):
    worst = 0.0
    for day in _months():
        got = demo_store.count("person", as_of=day)
        dev = got / census_n - 1.0
        worst = max(worst, abs(dev))
        assert abs(dev) <= TOLERANCE, (day, got, census_n)
    assert worst < TOLERANCE
    assert demo_store.count("person", as_of=CENSUS_DATE) == census_n


def test_public_population_blocks_near_census(demo_store: GeoPackageStore, census_n: int):
    # What a planner sees: the public layer's published counts (cells under k are
    # suppressed, so the published sum is a lower bound of the residents and the
    # sum plus (k-1) per suppressed cell an upper bound).
    layer = default_catalog()["population_blocks"]
    public = Principal()
    for day in ("2019-01-01", CENSUS_DATE, "2023-01-01", dt.date.today().isoformat()):
        page = layer.features(demo_store, FeatureQuery(limit=100_000, as_of=day,
                                                       skip_geometry=True), public)
        counts = [f["properties"]["count"] for f in page.features]
        published = sum(c for c in counts if c is not None)
        suppressed = sum(c is None for c in counts)
        total = demo_store.count("person", as_of=day)
        assert published <= total <= published + (public.k - 1) * suppressed
        assert abs(published / census_n - 1.0) <= TOLERANCE, (day, published)


def _geoms(features: list[dict]) -> np.ndarray:
    return shapely.from_geojson([json.dumps(f["geometry"]) for f in features])


def test_every_address_point_on_its_building(demo_store: GeoPackageStore):
    layer = default_catalog()["addresses"]
    public = Principal()
    buildings = demo_store.query("building")
    houses = demo_store.query("house", columns=["id", "building_id", "valid_from", "valid_to"])
    footprint = dict(zip(buildings["id"], buildings.geometry, strict=True))
    house_building = dict(zip(houses["id"], houses["building_id"], strict=True))
    # One date per building at which it stands: today for standing ones, else its
    # first day (all buildings of one date are checked with one query).
    today = dt.date.today().isoformat()
    standing = buildings["valid_to"].isna() | (buildings["valid_to"] > today)
    when = buildings["valid_from"].where(~standing, today)
    seen: set[str] = set()
    for day in sorted(set(when)):
        page = layer.features(demo_store, FeatureQuery(limit=1_000_000, as_of=day), public)
        feats = page.features
        assert len(feats) == page.number_matched
        pts = _geoms(feats)
        owners = [f["properties"]["entity_id"] if f["properties"]["source"] == "building"
                  else house_building[f["properties"]["entity_id"]] for f in feats]
        polys = np.array([footprint[b] for b in owners], dtype=object)
        inside = shapely.covered_by(pts, polys)
        bad = [f["properties"]["address_id"] for f, ok in zip(feats, inside, strict=True)
               if not ok]
        assert not bad, (day, bad[:5])
        seen |= {f["properties"]["entity_id"] for f in feats
                 if f["properties"]["source"] == "building"}
    # Every building the demo ever had got its address point.
    assert seen == set(buildings["id"])
