"""Shared fixtures: a tiny hand-made store with numbers known by construction,
and the seeded small demo built once per test session."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from gis.store.base import Store
from gis.store.gpkg import GeoPackageStore

# Two square communities side by side at 114.10–114.12 E, 22.55–22.56 N.
WEST = shapely.box(114.10, 22.55, 114.11, 22.56)
EAST = shapely.box(114.11, 22.55, 114.12, 22.56)


def community_frame() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "id": ["C1", "C2"],
            "code": ["440303003001", "440303003002"],
            "name": ["西社区居民委员会", "东社区居民委员会"],
            "subdistrict_code": ["440303003", "440303003"],
            "community_code": ["440303003001", "440303003002"],
            "valid_from": ["2000-01-01", "2000-01-01"],
        },
        geometry=gpd.GeoSeries([shapely.MultiPolygon([WEST]), shapely.MultiPolygon([EAST])],
                               crs="EPSG:4326"),
    )


def person_frame() -> gpd.GeoDataFrame:
    """Six persons: four in the west square, two in the east one.

    P1 (1950, F) west, 2010 → now            P4 (2015, M) west, 2021-03-01 → now
    P2 (1985, M) west, 2010 → 2020-06-30     P5 (1990, F) east, 2019-01-01 → now
    P3 (1988, F) west, 2018 → now            P6 (1962, M) east, 2022-01-01 → 2023-01-01
    """
    pts = [(114.101, 22.551), (114.102, 22.552), (114.105, 22.555), (114.109, 22.559),
           (114.115, 22.555), (114.119, 22.558)]
    return gpd.GeoDataFrame(
        {
            "id": ["P1", "P2", "P3", "P4", "P5", "P6"],
            "name": ["甲", "乙", "丙", "丁", "戊", "己"],
            "sex": ["F", "M", "F", "M", "F", "M"],
            "birth_date": ["1950-02-01", "1985-07-15", "1988-01-01", "2015-05-05",
                           "1990-09-09", "1962-12-12"],
            "valid_from": ["2010-01-01", "2010-01-01", "2018-04-01", "2021-03-01",
                           "2019-01-01", "2022-01-01"],
            "valid_to": [None, "2020-06-30", None, None, None, "2023-01-01"],
        },
        geometry=gpd.GeoSeries(shapely.points(pts), crs="EPSG:4326"),
    )


@pytest.fixture()
def tiny_store(tmp_path: Path) -> Iterator[GeoPackageStore]:
    store = GeoPackageStore(tmp_path / "tiny.gpkg", create=True)
    store.ingest("community", community_frame())
    store.ingest("person", person_frame())
    yield store
    store.close()


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo at scale 0.01, seed 7, built once for the whole session."""
    from data.synth.build import build_demo

    d = tmp_path_factory.mktemp("demo")
    build_demo(d, scale=0.01, seed=7)
    return d


def copy_demo(demo_dir: Path, dest: Path, *, terrain: bool = False) -> Path:
    """A scratch copy of the seeded demo in ``dest`` for a test that writes (the session's
    demo is shared). SQLite's backup API also copies what the WAL holds, which a plain
    file copy would miss."""
    import shutil
    import sqlite3
    from contextlib import closing

    dest.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(demo_dir / "onemap.gpkg")) as src, \
            closing(sqlite3.connect(dest / "onemap.gpkg")) as dst:
        src.backup(dst)
    if terrain:
        shutil.copy(demo_dir / "terrain.tif", dest / "terrain.tif")
    return dest


@pytest.fixture()
def demo_store(demo_dir: Path) -> Iterator[GeoPackageStore]:
    store = GeoPackageStore(demo_dir / "onemap.gpkg")
    yield store
    store.close()


# ---------------------------------------------------------------------------
# Both backends: a throwaway PostGIS cluster and a parametrised store factory.

BACKENDS = ("geopackage", "postgis")


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[object]:
    """A PostGIS cluster started for this session (tests/pg.py), stopped at the end.

    Without PostgreSQL the PostGIS tests skip locally, but fail in CI (CI=true).
    """
    import os

    from tests.pg import Cluster, ClusterUnavailable

    try:
        cluster = Cluster()
    except ClusterUnavailable as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"PostGIS cluster could not start: {exc}")
        pytest.skip(f"PostGIS cluster could not start: {exc}")
    yield cluster
    cluster.stop()


@pytest.fixture(params=BACKENDS)
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Store]]:
    """A callable returning a new empty store of the parametrised backend."""
    made: list[tuple[Store, str | None]] = []
    cluster = request.getfixturevalue("pg_cluster") if request.param == "postgis" else None

    def make() -> Store:
        if cluster is not None:
            from gis.store.postgis import PostGISStore

            url = cluster.new_database()  # type: ignore[attr-defined]
            store: Store = PostGISStore(url)
            made.append((store, url))
        else:
            store = GeoPackageStore(tmp_path / f"s{len(made)}.gpkg", create=True)
            made.append((store, None))
        return store

    yield make
    for store, url in made:
        store.close()
        if url is not None and cluster is not None:
            cluster.drop_database(url)  # type: ignore[attr-defined]


@pytest.fixture()
def tiny_any(store_factory: Callable[[], Store]) -> Store:
    """The tiny store (two communities, six persons) on each backend."""
    store = store_factory()
    store.ingest("community", community_frame())
    store.ingest("person", person_frame())
    return store
