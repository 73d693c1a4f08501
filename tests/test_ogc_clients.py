"""Real clients against the real server: GDAL's OAPIF driver (ogrinfo/ogr2ogr) and OWSLib.

One uvicorn server on a free local port serves the seeded small demo for the session.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pyproj import Transformer

from spatial_api.app import create_app
from spatial_api.local_server import free_port, serve_in_thread
from spatial_api.settings import Settings

pytestmark = pytest.mark.skipif(shutil.which("ogrinfo") is None,
                                reason="GDAL's ogrinfo is not installed (make test installs it)")


@pytest.fixture(scope="session")
def server(demo_dir: Path) -> Iterator[str]:
    port = free_port()
    app = create_app(Settings(data_dir=demo_dir, host="127.0.0.1", port=port))
    with serve_in_thread(app, port) as base:
        yield f"{base}/ogc"


def public_collections(base: str) -> list[str]:
    """The public features collections (an EDR collection, with data_queries, has no items)."""
    r = httpx.get(f"{base}/collections")
    return [c["id"] for c in r.json()["collections"] if "data_queries" not in c]


def matched(base: str, coll: str, params: str = "") -> int:
    r = httpx.get(f"{base}/collections/{coll}/items?limit=1{params}")
    assert r.status_code == 200, r.text
    return int(r.json()["numberMatched"])


def ogr(*args: str) -> str:
    out = subprocess.run(list(args), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_gdal_reads_every_public_collection(server: str, tmp_path: Path) -> None:
    colls = public_collections(server)
    assert "persons" not in colls and "buildings" in colls
    for coll in colls:
        dst = tmp_path / f"{coll}.geojson"
        ogr("ogr2ogr", "-f", "GeoJSON", str(dst), "-oo", "PAGE_SIZE=1000",
            f"OAPIF:{server}", coll)
        n = len(json.loads(dst.read_text())["features"])
        assert n == matched(server, coll), coll


def test_gdal_spatial_and_attribute_filters(server: str) -> None:
    box = (114.10, 22.53, 114.14, 22.57)
    out = ogr("ogrinfo", "-ro", "-q", "-oo", "PAGE_SIZE=1000", "-spat", *map(str, box),
              f"OAPIF:{server}", "enterprises")
    n = out.count("OGRFeature(enterprises)")
    assert n == matched(server, "enterprises", "&bbox=" + ",".join(map(str, box))) > 0
    out = ogr("ogrinfo", "-ro", "-q", "-oo", "PAGE_SIZE=1000", "-where", "use = 'office'",
              f"OAPIF:{server}", "buildings")
    n = out.count("OGRFeature(buildings)")
    assert n == matched(server, "buildings", "&use=office") > 0
    out = ogr("ogrinfo", "-ro", "-so", f"OAPIF:{server}", "buildings")
    assert f"Feature Count: {matched(server, 'buildings')}" in out


def test_gdal_reprojection_to_4547_matches_pyproj(server: str, tmp_path: Path) -> None:
    dst = tmp_path / "fac4547.geojson"
    ogr("ogr2ogr", "-f", "GeoJSON", str(dst), "-oo", "PAGE_SIZE=1000", "-t_srs", "EPSG:4547",
        f"OAPIF:{server}", "facilities")
    got = {f["properties"]["id"]: f["geometry"]["coordinates"]
           for f in json.loads(dst.read_text())["features"]}
    src = httpx.get(f"{server}/collections/facilities/items?limit=10000").json()["features"]
    tr = Transformer.from_crs("EPSG:4326", "EPSG:4547", always_xy=True)
    assert len(got) == len(src) > 0
    for f in src:
        e, n = tr.transform(*f["geometry"]["coordinates"])
        assert got[f["id"]] == pytest.approx([e, n], abs=0.01)


def test_owslib_reads_and_pages(server: str) -> None:
    from owslib.ogcapi.features import Features

    w = Features(server)
    ids = [c["id"] for c in w.collections()["collections"] if "data_queries" not in c]
    assert set(ids) == set(public_collections(server))
    for coll in ids:
        total = None
        seen = 0
        offset = 0
        while True:
            page: dict[str, Any] = w.collection_items(coll, limit=2000, offset=offset)
            total = page["numberMatched"]
            seen += page["numberReturned"]
            offset += 2000
            if offset >= total:
                break
        assert seen == total, coll
    # Server-side reprojection (Part 2): EPSG:4547 in its axis order (northing, easting).
    plain = w.collection_items("facilities", limit=3)["features"]
    proj = w.collection_items("facilities", limit=3,
                              crs="http://www.opengis.net/def/crs/EPSG/0/4547")["features"]
    tr = Transformer.from_crs("EPSG:4326", "EPSG:4547")
    for a, b in zip(plain, proj, strict=True):
        lon, lat = a["geometry"]["coordinates"]
        assert b["geometry"]["coordinates"] == pytest.approx(list(tr.transform(lat, lon)),
                                                             abs=1e-6)
    q = w.collection_queryables("buildings")
    assert "use" in q["properties"]


# A department's key sent as HTTP Basic credentials (docs/ogc.md, "QGIS"): the key is
# the password; GDAL and OWSLib send it the way QGIS does.
DEPT_KEY = "demo-emergency-key"
RESTRICTED = "events"


def test_gdal_reads_a_restricted_collection_with_basic_credentials(server: str,
                                                                   tmp_path: Path) -> None:
    want = matched(server, RESTRICTED, "&api_key=" + DEPT_KEY)
    dst = tmp_path / "events.geojson"
    ogr("ogr2ogr", "-f", "GeoJSON", str(dst), "-oo", "PAGE_SIZE=1000",
        "-oo", f"USERPWD=qgis:{DEPT_KEY}", f"OAPIF:{server}", RESTRICTED)
    assert len(json.loads(dst.read_text())["features"]) == want > 0
    # Without credentials the collection is absent; with a wrong key GDAL gets a 401.
    for extra in ([], ["-oo", "USERPWD=qgis:wrong-key"]):
        out = subprocess.run(["ogrinfo", "-ro", "-so", *extra, f"OAPIF:{server}", RESTRICTED],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode != 0


def test_owslib_reads_a_restricted_collection_with_basic_credentials(server: str) -> None:
    from owslib.ogcapi.features import Features
    from owslib.util import Authentication

    w = Features(server, auth=Authentication("qgis", DEPT_KEY))
    ids = [c["id"] for c in w.collections()["collections"]]
    assert RESTRICTED in ids and RESTRICTED not in public_collections(server)
    page = w.collection_items(RESTRICTED, limit=10000)
    assert page["numberReturned"] == page["numberMatched"] == matched(
        server, RESTRICTED, "&api_key=" + DEPT_KEY) > 0


def test_items_media_type_for_gdal_and_owslib(server: str) -> None:
    """Features Part 1 Req 7: GeoJSON is ``application/geo+json`` (what GDAL asks for)."""
    items = f"{server}/collections/buildings/items"
    for headers in ({"Accept": "application/geo+json, application/json;q=0.9"}, {}):
        r = httpx.get(items + "?limit=2", headers=headers)
        assert r.headers["content-type"] == "application/geo+json"
    r = httpx.get(f"{server}/collections/buildings/items?limit=2",
                  headers={"Accept": "application/json"})
    assert r.headers["content-type"] == "application/json"
