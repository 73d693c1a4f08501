"""Every spatial answer for a bbox is exact, checked the client's way (issue 10, point 1).

Random boxes over every point, line and polygon kind of the seeded demo, on the
GeoPackage and the PostGIS store, and through the OGC API: the ids returned
equal shapely's ``intersects`` of the closed box over the whole layer, and the
counts (``store.count``, ``numberMatched``) equal their number. Boxes are drawn
around a vertex of the layer at sizes from 0.1 m to the whole extent, and their
edges are snapped exactly onto vertices or passed within a metre of them (where
an index's rounded envelopes decide wrongly). A PostGIS test runs one paged bbox
query 20 times on one connection: no generic plan, and the rows read stay the
page's.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from click.testing import CliRunner
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gis.filters import Filter
from gis.model import KIND_ORDER, SCHEMAS
from gis.store.base import Store
from gis.store.gpkg import GeoPackageStore

ADMIN = {"X-API-Key": "demo-admin-key"}
KINDS = [k for k in KIND_ORDER if SCHEMAS[k].geometry is not None]
#: OGC collections of single features (aggregate layers are cells, not features).
COLLECTIONS = ["district", "subdistricts", "communities", "grids", "roads", "water",
               "buildings", "houses", "persons", "enterprises", "industrial_spaces",
               "facilities", "events", "sensors", "addresses"]
SETTINGS = settings(max_examples=12, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])

Box = tuple[float, float, float, float]


def closed_box(box: Box) -> shapely.Geometry:
    """The closed box as a geometry (a degenerate box is a line or a point)."""
    x0, y0, x1, y1 = box
    if x0 == x1 and y0 == y1:
        return shapely.Point(x0, y0)
    if x0 == x1 or y0 == y1:
        return shapely.LineString([(x0, y0), (x1, y1)])
    return shapely.box(x0, y0, x1, y1)


@st.composite
def boxes(draw: st.DrawFn, xy: np.ndarray) -> Box:
    """A box around a vertex of ``xy``, with edges on, near or away from vertices."""
    ext = (xy[:, 0].min(), xy[:, 1].min(), xy[:, 0].max(), xy[:, 1].max())
    span = max(ext[2] - ext[0], ext[3] - ext[1], 1e-3)
    cx, cy = xy[draw(st.integers(0, len(xy) - 1))]
    bw = span * 1.2 * 10 ** draw(st.floats(-5.0, 0.0))
    bh = span * 1.2 * 10 ** draw(st.floats(-5.0, 0.0))
    x0 = cx - bw * draw(st.floats(0.0, 1.0))
    y0 = cy - bh * draw(st.floats(0.0, 1.0))
    edges = [x0, y0, x0 + bw, y0 + bh]
    for e in range(4):
        mode = draw(st.sampled_from(["keep", "vertex", "near"]))
        if mode == "keep":
            continue
        axis = e % 2
        lo, hi = edges[1 - axis], edges[3 - axis]
        along = xy[(xy[:, 1 - axis] >= lo) & (xy[:, 1 - axis] <= hi), axis]
        if not len(along):
            along = xy[:, axis]
        v = float(along[np.argmin(np.abs(along - edges[e]))])
        if mode == "near":  # within a metre (1e-5° is about 1.1 m)
            v += draw(st.sampled_from([-1.0, 1.0])) * 10 ** draw(st.floats(-11.0, -5.0))
        edges[e] = v
    x0, x1 = sorted((edges[0], edges[2]))
    y0, y1 = sorted((edges[1], edges[3]))
    return (float(x0), float(y0), float(x1), float(y1))


# ---------------------------------------------------------------------------
# the stores


@pytest.fixture(scope="module")
def pg_url(demo_dir: Path, pg_cluster: Any) -> Iterator[str]:
    """The demo copied into a PostGIS database with ``onemap db copy``."""
    from spatial_api.cli import cli

    url = pg_cluster.new_database()
    r = CliRunner().invoke(cli, ["db", "copy", "--from", f"gpkg:{demo_dir / 'onemap.gpkg'}",
                                 "--to", url])
    assert r.exit_code == 0, r.output
    yield url
    pg_cluster.drop_database(url)


@pytest.fixture(scope="module", params=["geopackage", "postgis"])
def any_store(request: pytest.FixtureRequest, demo_dir: Path) -> Iterator[Store]:
    """The demo on each backend."""
    store: Store
    if request.param == "postgis":
        from gis.store.postgis import PostGISStore

        store = PostGISStore(request.getfixturevalue("pg_url"))
    else:
        store = GeoPackageStore(demo_dir / "onemap.gpkg")
    yield store
    store.close()


_LAYERS: dict[tuple[int, str], tuple[np.ndarray, np.ndarray]] = {}


def layer(store: Store, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(fids, geometries) of every row of ``kind`` (all versions), read once."""
    key = (id(store), kind)
    if key not in _LAYERS:
        df = store.query(kind, columns=["id"])
        _LAYERS[key] = (df["fid"].to_numpy(dtype=np.int64),
                        np.asarray(df.geometry.values, dtype=object))
    return _LAYERS[key]


def truth(fids: np.ndarray, geoms: np.ndarray, box: Box) -> list[int]:
    """Fids (ascending) of the rows whose geometry meets the closed box: shapely."""
    present = ~shapely.is_missing(geoms)
    hit = np.zeros(len(geoms), dtype=bool)
    hit[present] = shapely.intersects(geoms[present], closed_box(box))
    return sorted(fids[hit].tolist())


@pytest.mark.parametrize("kind", KINDS)
@SETTINGS
@given(data=st.data())
def test_store_bbox_answers_are_exact(any_store: Store, kind: str, data: st.DataObject) -> None:
    fids, geoms = layer(any_store, kind)
    present = ~shapely.is_missing(geoms)
    assert present.any(), f"the demo has no {kind}"
    box = data.draw(boxes(shapely.get_coordinates(geoms[present])), label="box")
    want = truth(fids, geoms, box)
    got = any_store.query(kind, bbox=box, columns=["id"])["fid"].tolist()
    assert got == want, _diff(got, want)
    assert any_store.count(kind, bbox=box) == len(want)
    # Pages (the GeoPackage store picks a plan per page: small first pages of a
    # large answer scan in fid order, later ones search the R-tree first).
    first = data.draw(st.sampled_from([1, 3, 20, 200]), label="limit")
    page = any_store.query(kind, bbox=box, columns=["id"], limit=first)["fid"].tolist()
    assert page == want[:first]
    size = max(first, math.ceil(len(want) / 15))
    paged: list[int] = []
    while True:
        page = any_store.query(kind, bbox=box, columns=["id"], limit=size,
                               offset=len(paged))["fid"].tolist()
        paged += page
        if len(page) < size:
            break
    assert paged == want
    # The same box as CQL2 (S_INTERSECTS with the BBOX literal and with a polygon),
    # and combined with a time filter (another path through the stores).
    x0, y0, x1, y1 = box
    f = Filter.from_text(f"S_INTERSECTS(geometry, BBOX({x0!r}, {y0!r}, {x1!r}, {y1!r}))")
    assert any_store.query(kind, filter=f, columns=["id"])["fid"].tolist() == want
    assert any_store.count(kind, filter=f) == len(want)
    if x0 < x1 and y0 < y1:
        poly = shapely.box(*box)
        assert any_store.query(kind, within=poly, columns=["id"])["fid"].tolist() == want
        f = Filter.from_text(f"S_INTERSECTS(geometry, {poly.wkt})")
        assert any_store.count(kind, filter=f) == len(want)
    dated = any_store.query(kind, bbox=box, columns=["id"], as_of="2020-01-01")["fid"]
    undated = set(any_store.query(kind, columns=["id"], as_of="2020-01-01")["fid"].tolist())
    assert dated.tolist() == [i for i in want if i in undated]
    assert any_store.count(kind, bbox=box, as_of="2020-01-01") == len(dated)


def _diff(got: list[int], want: list[int]) -> str:
    extra, missing = sorted(set(got) - set(want)), sorted(set(want) - set(got))
    return f"{len(extra)} outside the box {extra[:5]}, {len(missing)} missing {missing[:5]}"


# ---------------------------------------------------------------------------
# through the OGC API


@pytest.fixture(scope="module", params=["geopackage", "postgis"])
def ogc(request: pytest.FixtureRequest, demo_dir: Path,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The app on each backend."""
    from layers.audit import AuditLog
    from spatial_api.app import create_app
    from spatial_api.settings import Settings

    with pytest.MonkeyPatch.context() as mp:
        if request.param == "postgis":
            mp.setenv("ONEMAP_DB_URL", request.getfixturevalue("pg_url"))
        else:
            mp.delenv("ONEMAP_DB_URL", raising=False)
        app = create_app(Settings(data_dir=demo_dir))
        app.state.ogc.audit = AuditLog(tmp_path_factory.mktemp("audit") / "audit.jsonl")
        with TestClient(app) as client:
            assert client.get("/health").json()["store"]["backend"] == request.param
            yield client


def fetch_all(client: TestClient, coll: str, params: dict[str, Any]) -> tuple[list[Any], int]:
    """Every feature of a query, following the ``next`` links; and numberMatched
    (the same on every page)."""
    url: str | None = f"/ogc/collections/{coll}/items"
    feats: list[Any] = []
    matched: set[int] = set()
    args: dict[str, Any] | None = params
    while url is not None:
        r = client.get(url, params=args, headers=ADMIN)
        assert r.status_code == 200, r.text
        doc = r.json()
        feats += doc["features"]
        matched.add(doc["numberMatched"])
        nxt = [lk["href"] for lk in doc["links"] if lk["rel"] == "next"]
        url, args = (nxt[0], None) if nxt else (None, None)
    assert len(matched) == 1, matched
    return feats, matched.pop()


_OGC: dict[tuple[int, str], tuple[list[Any], np.ndarray]] = {}


def ogc_layer(client: TestClient, coll: str) -> tuple[list[Any], np.ndarray]:
    """(ids, geometries) of the whole collection as a client reads it.

    Addresses are selected by their building's or house's geometry (the store
    answers a bbox on the source kind) while the served point is one on its
    surface, so their truth is the source geometry.
    """
    key = (id(client), coll)
    if key not in _OGC:
        feats, n = fetch_all(client, coll, {"limit": 10_000})
        assert len(feats) == n > 0, coll
        ids = [f["id"] for f in feats]
        if coll == "addresses":
            src: dict[tuple[str, Any], Any] = {}
            for kind, name in (("building", "buildings"), ("house", "houses")):
                for f in fetch_all(client, name, {"limit": 10_000})[0]:
                    src[(kind, f["id"])] = f["geometry"]
            geo = [src[(f["properties"]["source"], f["properties"]["entity_id"])]
                   for f in feats]
        else:
            geo = [f["geometry"] for f in feats]
        geoms = np.asarray([None if g is None else shapely.geometry.shape(g) for g in geo],
                           dtype=object)
        _OGC[key] = (ids, geoms)
    return _OGC[key]


@pytest.mark.parametrize("coll", COLLECTIONS)
@settings(max_examples=6, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_ogc_bbox_items_are_exact(ogc: TestClient, coll: str, data: st.DataObject) -> None:
    ids, geoms = ogc_layer(ogc, coll)
    present = ~shapely.is_missing(geoms)
    box = data.draw(boxes(shapely.get_coordinates(geoms[present])), label="box")
    hit = np.zeros(len(geoms), dtype=bool)
    hit[present] = shapely.intersects(geoms[present], closed_box(box))
    want = sorted(str(i) for i, h in zip(ids, hit, strict=True) if h)
    limit = data.draw(st.sampled_from([10, 100, 1000]), label="limit")
    limit = max(limit, math.ceil(len(want) / 10))
    feats, matched = fetch_all(ogc, coll, {"bbox": ",".join(map(repr, box)), "limit": limit})
    got = sorted(str(f["id"]) for f in feats)
    assert got == want, (f"{len(set(got) - set(want))} outside the box, "
                         f"{len(set(want) - set(got))} missing")
    assert matched == len(want)


# ---------------------------------------------------------------------------
# PostGIS plans


def test_repeated_bbox_page_keeps_a_custom_plan(pg_url: str) -> None:
    """A client pans (a small box, ten times), then asks for the first page of a box
    over most of the layer 20 times, all on one connection: PostgreSQL plans each
    statement for its values (no generic plan once psycopg has prepared it), so each
    big-box page reads about a page of rows, not every row in the box."""
    from gis.store.postgis import PostGISStore

    store = PostGISStore(pg_url, min_size=1, max_size=1, migrate=False)
    try:
        fids, geoms = layer(store, "person")
        xy = shapely.get_coordinates(geoms[~shapely.is_missing(geoms)])
        q = np.quantile(xy, [0.0, 0.45, 0.55, 0.8], axis=0)
        small = (float(q[1, 0]), float(q[1, 1]), float(q[2, 0]), float(q[2, 1]))
        big = (float(q[0, 0]), float(q[0, 1]), float(q[3, 0]), float(q[3, 1]))
        assert 0 < store.count("person", bbox=small) < 500
        assert store.count("person", bbox=big) > 2000

        def rows_read() -> int:
            with store.pool.connection() as conn:
                conn.execute("SELECT pg_stat_force_next_flush()")
                row = conn.execute(
                    "SELECT COALESCE(seq_tup_read, 0) + COALESCE(idx_tup_fetch, 0) "
                    "FROM pg_stat_user_tables WHERE relname = 'persons'").fetchone()
                assert row is not None
                return int(row[0])

        for _ in range(10):
            store.query("person", bbox=small, columns=["id"], limit=10)
        want = truth(fids, geoms, big)[:10]
        reads = []
        for _ in range(20):
            before = rows_read()
            page = store.query("person", bbox=big, columns=["id"], limit=10)
            reads.append(rows_read() - before)
            assert page["fid"].tolist() == want
        assert max(reads) < 200, reads
        with store.pool.connection() as conn:
            plans = conn.execute("SELECT statement, generic_plans, custom_plans "
                                 "FROM pg_prepared_statements").fetchall()
        # (statements without parameters have one plan only; ours all have some)
        ours = [(g, c) for sql, g, c in plans if "FROM persons t" in sql]
        assert ours and all(g == 0 and c > 0 for g, c in ours), plans
    finally:
        store.close()


def test_bbox_on_a_kind_without_geometry_is_invalid(any_store: Store) -> None:
    from gis.errors import InvalidQuery

    for call in (lambda: any_store.query("reading", bbox=(114, 22, 115, 23), limit=10),
                 lambda: any_store.count("reading", bbox=(114, 22, 115, 23))):
        with pytest.raises(InvalidQuery):
            call()
