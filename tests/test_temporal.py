"""``datetime`` does what the queryables declare, on every temporal layer (docs/ogc.md).

For each layer with a time axis, through the OGC API (every page), the features of
``datetime=a/b``, ``a/..``, ``../b`` and of instants must be exactly those whose
declared time intersects the requested one, computed here with pandas from the
whole table read straight from the GeoPackage:

- valid time ``[valid_from, valid_to)`` (``primary-interval-start``/``-end``; no end:
  still valid) intersects the closed request ``[a, b]`` when
  ``valid_from <= b`` and ``valid_to > a``;
- an occurrence (``primary-instant``, events' ``occurred_at``) when ``a <= t <= b``;
- a date as a bound or an instant means that whole day; an instant is ``[t, t]``.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from gis.model import schema
from layers.audit import AuditLog
from layers.catalog import EntityLayer, default_catalog
from spatial_api.app import create_app
from spatial_api.settings import Settings

ADMIN = {"X-API-Key": "demo-admin-key"}
DAY = pd.Timedelta(days=1) - pd.Timedelta(seconds=1)
TEMPORAL = [lyr for lyr in default_catalog().values()
            if isinstance(lyr, EntityLayer) and lyr.schema.start_col is not None]


@pytest.fixture(scope="module")
def client(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    app = create_app(Settings(data_dir=demo_dir))
    app.state.ogc.audit = AuditLog(tmp_path_factory.mktemp("audit") / "audit.jsonl")
    with TestClient(app) as c:
        yield c


def _table(demo_dir: Path, kind: str) -> pd.DataFrame:
    """id, start, end of every row (every version) of a kind, straight from SQLite."""
    sch = schema(kind)
    with sqlite3.connect(demo_dir / "onemap.gpkg") as conn:
        return pd.read_sql(
            f"SELECT id, {sch.start_col} AS s, {sch.end_col} AS e FROM {sch.table}", conn)


def _bound(text: str, end: bool) -> pd.Timestamp:
    """A request bound as a UTC timestamp; a date as an end is the end of that day."""
    t = pd.Timestamp(text)
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    return t + DAY if end and len(text) == 10 else t


def _expected(df: pd.DataFrame, req: str, instant_kind: bool) -> Counter[tuple[str, str]]:
    a, _, b = req.partition("/") if "/" in req else (req, "", req)
    lo = pd.Timestamp.min.tz_localize("UTC") if a == ".." else _bound(a, False)
    hi = pd.Timestamp.max.tz_localize("UTC") if b == ".." else _bound(b, True)
    s = pd.to_datetime(df["s"], utc=True, format="ISO8601")
    if instant_kind:
        hit = (s >= lo) & (s <= hi)
    else:
        e = pd.to_datetime(df["e"], utc=True, format="ISO8601")
        hit = (s <= hi) & (e.isna() | (e > lo))
    return Counter(zip(df.loc[hit, "id"].astype(str), df.loc[hit, "s"].astype(str),
                       strict=True))


def _served(client: TestClient, layer_id: str, start_col: str,
            req: str) -> Counter[tuple[str, str]]:
    url: str | None = (f"/ogc/collections/{layer_id}/items?f=json&limit=10000"
                       f"&skipGeometry=true&datetime={req}")
    out: Counter[tuple[str, str]] = Counter()
    while url:
        r = client.get(url, headers=ADMIN)
        assert r.status_code == 200, (req, r.text)
        doc = r.json()
        out.update((str(f["id"]), str(f["properties"][start_col])) for f in doc["features"])
        url = next((lk["href"] for lk in doc.get("links", []) if lk["rel"] == "next"), None)
    return out


def _requests(df: pd.DataFrame, instant_kind: bool) -> list[str]:
    """Intervals, half-open intervals and instants whose bounds hit the data's own values."""
    starts = sorted(df["s"].astype(str).unique())
    ends = sorted(df["e"].dropna().astype(str).unique())
    a = starts[len(starts) // 3]
    b = starts[2 * len(starts) // 3]
    if ends and not instant_kind:
        # a bound equal to a valid_to (excluded: [s, e) ends before it) and one equal to
        # a valid_from (included)
        a = min(ends[len(ends) // 2], b)
    reqs = [f"{a}/{b}", f"{a}/..", f"../{b}", f"{a[:10]}/{b[:10]}", a[:10], b[:10]]
    if instant_kind:
        reqs += [a, b]  # date-time instants equal to an occurrence
    return list(dict.fromkeys(reqs))


@pytest.mark.parametrize("layer_id", [lyr.id for lyr in TEMPORAL])
def test_datetime_selects_exactly_what_intersects(client: TestClient, demo_dir: Path,
                                                  layer_id: str) -> None:
    layer = default_catalog()[layer_id]
    assert isinstance(layer, EntityLayer)
    sch = layer.schema
    df = _table(demo_dir, sch.kind)
    assert len(df), layer_id
    nonempty = 0
    for req in _requests(df, sch.instantaneous):
        want = _expected(df, req, sch.instantaneous)
        got = _served(client, layer_id, str(sch.start_col), req)
        assert got == want, (layer_id, req, len(got), len(want),
                             list((got - want).items())[:3], list((want - got).items())[:3])
        nonempty += bool(want)
    assert nonempty >= 3, layer_id  # the requests hit data


@pytest.mark.parametrize("layer_id", [lyr.id for lyr in TEMPORAL])
def test_queryables_declare_the_roles(client: TestClient, layer_id: str) -> None:
    sch = default_catalog()[layer_id].schema  # type: ignore[attr-defined]
    if sch.instantaneous:
        want = {sch.start_col: "primary-instant"}
    else:
        want = {sch.start_col: "primary-interval-start", sch.end_col: "primary-interval-end"}
    for path in ("queryables", "schema"):
        r = client.get(f"/ogc/collections/{layer_id}/{path}?f=json", headers=ADMIN)
        assert r.status_code == 200, r.text
        props: dict[str, Any] = r.json()["properties"]
        roles = {k: v["x-ogc-role"] for k, v in props.items()
                 if str(v.get("x-ogc-role", "")).startswith("primary-")
                 and v["x-ogc-role"] != "primary-geometry"}
        assert roles == want, (layer_id, path)


def test_event_instant_is_an_occurrence_not_an_open_event(client: TestClient,
                                                          demo_dir: Path) -> None:
    """An instant on events selects what occurred then, even where nothing is still open."""
    df = _table(demo_dir, "event")
    day = str(df["s"].iloc[len(df) // 2])[:10]
    got = _served(client, "events", "occurred_at", day)
    assert got and all(s.startswith(day) for _, s in got)
