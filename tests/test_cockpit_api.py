"""The cockpit's server side (no browser): the day's events by category against a count over
the whole events layer, its access rule, and the phone cockpit's page and service worker."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gis.store.gpkg import GeoPackageStore
from spatial_api.app import create_app
from spatial_api.settings import Settings

STATIC = Path(__file__).resolve().parent.parent / "viewer" / "static"
KEY = {"X-API-Key": "demo-planning-key"}


@pytest.fixture(scope="module")
def client(demo_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(data_dir=demo_dir, offline_check_s=0,
                                        mqtt_embedded=False))) as c:
        yield c


@pytest.fixture(scope="module")
def events(demo_dir: Path) -> Iterator[object]:
    store = GeoPackageStore(demo_dir / "onemap.gpkg")
    df = store.query("event", columns=["category", "occurred_at", "subdistrict_code",
                                       "community_code"])
    store.close()
    yield df


def _expected(df: object, day: str, code: str | None = None) -> dict[str, int]:
    import pandas as pd

    assert isinstance(df, pd.DataFrame)
    sel = df[df["occurred_at"].astype(str).str.slice(0, 10) == day]
    if code:
        sel = sel[(sel["subdistrict_code"] == code) | (sel["community_code"] == code)]
    return {str(k): int(v) for k, v in sel["category"].value_counts().items()}


def test_events_of_a_day_by_category_equal_a_count_over_the_layer(
        client: TestClient, events: object) -> None:
    import pandas as pd

    assert isinstance(events, pd.DataFrame)
    days = events["occurred_at"].astype(str).str.slice(0, 10)
    last = str(days.max())
    r = client.get("/viewer/api/events/categories", headers=KEY)
    assert r.status_code == 200
    doc = r.json()
    assert doc["day"] == last  # default: the latest day with events
    got = {c["category"]: c["count"] for c in doc["categories"]}
    assert got == _expected(events, last) and doc["total"] == sum(got.values())
    counts = [c["count"] for c in doc["categories"]]
    assert counts == sorted(counts, reverse=True)
    # A busy day, then the same day in one subdistrict and one community.
    busy = str(days.value_counts().idxmax())
    doc = client.get("/viewer/api/events/categories", headers=KEY, params={"day": busy}).json()
    assert {c["category"]: c["count"] for c in doc["categories"]} == _expected(events, busy)
    assert doc["total"] > 1
    on_day = events[days == busy]
    sub = str(on_day["subdistrict_code"].value_counts().idxmax())
    com = str(on_day["community_code"].value_counts().idxmax())
    for code in (sub, com):
        doc = client.get("/viewer/api/events/categories", headers=KEY,
                         params={"day": busy, "code": code}).json()
        assert {c["category"]: c["count"] for c in doc["categories"]} == _expected(
            events, busy, code)
        assert 0 < doc["total"] <= len(on_day)
    # A day without events is an empty answer, not an error.
    doc = client.get("/viewer/api/events/categories", headers=KEY,
                     params={"day": "1990-01-01"}).json()
    assert doc == {"day": "1990-01-01", "code": None, "total": 0, "categories": []}


def test_events_by_category_need_a_department_and_a_valid_day(client: TestClient) -> None:
    assert client.get("/viewer/api/events/categories").status_code == 404  # public
    assert client.get("/viewer/api/events/categories",
                      headers={"X-API-Key": "nope"}).status_code == 401
    for bad in ("2024-13-01", "20240101", "yesterday"):
        r = client.get("/viewer/api/events/categories", headers=KEY, params={"day": bad})
        assert r.status_code == 400, bad
        assert "Traceback" not in r.text
    r = client.get("/viewer/api/events/categories", headers=KEY, params={"code": "x' OR 1=1"})
    assert r.status_code == 400


def test_phone_cockpit_page_and_its_service_worker(client: TestClient) -> None:
    r = client.get("/m")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert 'src="/m/m.js"' in r.text and 'name="viewport"' in r.text
    w = client.get("/m/sw.js")
    assert w.status_code == 200
    assert w.headers["content-type"].startswith("text/javascript")
    # The worker lives at /m/sw.js but must control /m itself.
    assert w.headers["service-worker-allowed"] == "/m"
    # Everything the worker keeps for offline use is served.
    shell = re.search(r"SHELL_URLS = \[([^\]]*)\]", w.text)
    assert shell is not None
    for url in re.findall(r"'([^']+)'", shell.group(1)):
        assert client.get(url).status_code == 200, url


def test_no_online_resource_in_the_cockpit() -> None:
    for path in ("js/cockpit.js", "js/cockpit-tiles.js", "js/home.js", "cockpit.css",
                 "m/index.html", "m/m.js", "m/m.css", "m/sw.js"):
        text = (STATIC / path).read_text(encoding="utf-8")
        urls = re.findall(r"https?://[^\s'\"<>)]+", text)
        assert all(u.startswith("http://www.w3.org/") for u in urls), (path, urls)
