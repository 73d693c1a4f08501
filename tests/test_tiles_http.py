"""HTTP tile routes: /tiles (MVT, TileJSON), /styles, /packs (range requests), /terrain."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from pathlib import Path

import mapbox_vector_tile
import morecantile
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from spatial_api.app import create_app
from spatial_api.cli import cli
from spatial_api.settings import Settings

TMS = morecantile.tms.get("WebMercatorQuad")
BASE = "http://127.0.0.1:8000"


def zxy(z: int, lon: float = 114.12, lat: float = 22.55) -> str:
    t = TMS.tile(lon, lat, z)
    return f"{t.z}/{t.x}/{t.y}"


@pytest.fixture(scope="module")
def data_dir(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo store plus a small basemap pack of one subdistrict in <data>/packs."""
    packs = tmp_path_factory.mktemp("packs")
    r = CliRunner().invoke(cli, ["tiles", "pack", "--area", "440303001", "--minzoom", "12",
                                 "--maxzoom", "13", "--data-dir", str(demo_dir),
                                 str(packs / "guiyuan.pmtiles")])
    assert r.exit_code == 0, r.output
    return packs


@pytest.fixture(scope="module")
def client(demo_dir: Path, data_dir: Path) -> Iterator[TestClient]:
    import os

    os.environ["ONEMAP_TILES_PACKS_DIR"] = str(data_dir)
    try:
        with TestClient(create_app(Settings(data_dir=demo_dir))) as c:
            yield c
    finally:
        os.environ.pop("ONEMAP_TILES_PACKS_DIR", None)


def test_mvt_gzip_etag_and_cache_headers(client: TestClient) -> None:
    url = f"/tiles/buildings/{zxy(15)}.mvt"
    r = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert r.headers["content-encoding"] == "gzip"
    assert r.headers["cache-control"].startswith("public, max-age=")
    etag = r.headers["etag"]
    feats = mapbox_vector_tile.decode(r.content)["buildings"]["features"]  # httpx un-gzips
    assert feats and "use" in feats[0]["properties"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and not again.content
    plain = client.get(url, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.content == r.content and plain.headers["etag"] == etag


def test_composite_tile_and_the_ogc_path_agree(client: TestClient) -> None:
    r = client.get(f"/tiles/buildings,roads/{zxy(15)}.mvt")
    assert set(mapbox_vector_tile.decode(r.content)) == {"buildings", "roads"}
    t = TMS.tile(114.12, 22.55, 15)
    ogc = client.get(f"/ogc/collections/buildings/tiles/WebMercatorQuad/{t.z}/{t.y}/{t.x}?f=mvt")
    mine = client.get(f"/tiles/buildings/{zxy(15)}.mvt", headers={"Accept-Encoding": "identity"})
    assert ogc.status_code == 200 and ogc.content == mine.content


def test_errors_are_4xx_never_500(client: TestClient) -> None:
    assert client.get("/tiles/buildings/30/1/1.mvt").status_code == 404
    assert client.get("/tiles/buildings/3/8/0.mvt").status_code == 404
    assert client.get("/tiles/buildings/3/-1/0.mvt").status_code == 404
    assert client.get("/tiles/buildings/a/b/c.mvt").status_code == 400
    assert client.get("/tiles/nosuch/14/1/1.mvt").status_code == 404
    assert client.get("/tiles/bad%20name/14/1/1.mvt").status_code == 400
    assert client.get("/tiles/nosuch.json").status_code == 404
    # hidden layers are 404 for the public, served for a department
    assert client.get(f"/tiles/events/{zxy(14)}.mvt").status_code == 404
    assert client.get(f"/tiles/persons/{zxy(14)}.mvt").status_code == 404
    ok = client.get(f"/tiles/events/{zxy(14)}.mvt", headers={"X-API-Key": "demo-population-key"})
    assert ok.status_code == 200 and ok.headers["cache-control"].startswith("private")
    assert client.get(f"/tiles/roads/{zxy(14)}.mvt",
                      headers={"X-API-Key": "wrong"}).status_code == 401
    assert client.get(f"/tiles/events/{zxy(14)}.mvt", params={"datetime": "last tuesday"},
                      headers={"X-API-Key": "demo-population-key"}).status_code == 400
    # a tile outside the data is an empty MVT (200), documented in docs/tiles.md
    empty = client.get(f"/tiles/basemap/{zxy(14, 10.0, 10.0)}.mvt")
    assert empty.status_code == 200
    assert all(not v["features"] for v in mapbox_vector_tile.decode(empty.content).values())


def test_tilejson_route(client: TestClient) -> None:
    doc = client.get("/tiles/basemap.json").json()
    assert doc["tiles"] == [f"{BASE}/tiles/basemap/{{z}}/{{x}}/{{y}}.mvt"]
    w, s, e, n = doc["bounds"]
    assert 113.9 < w < e < 114.4 and 22.4 < s < n < 22.8
    assert {v["id"] for v in doc["vector_layers"]} >= {"roads", "water", "labels"}


def _urls(obj: object) -> list[str]:
    text = json.dumps(obj)
    return re.findall(r"[a-z][a-z0-9+.-]*://[^\"\s]+", text)


def test_styles_point_only_at_this_server(client: TestClient) -> None:
    index = client.get("/styles").json()["styles"]
    ids = {s["id"] for s in index}
    assert {"basemap", "buildings", "population_blocks"} <= ids and "persons" not in ids
    for s in index:
        style = client.get(s["url"].removeprefix(BASE)).json()
        assert style["version"] == 8
        urls = _urls(style)
        assert urls and all(u.startswith(BASE + "/") for u in urls), urls
        # every source resolves on this server and every source-layer exists in it
        for src in style["sources"].values():
            tj = client.get(src["url"].removeprefix(BASE))
            assert tj.status_code == 200
        known = set()
        for src in style["sources"].values():
            known |= {v["id"] for v in client.get(src["url"].removeprefix(BASE)).json()[
                "vector_layers"]}
        for lyr in style["layers"]:
            if "source-layer" in lyr:
                assert lyr["source-layer"] in known
    glyphs = client.get("/styles/glyphs/Noto%20Sans%20Regular/0-255.pbf")
    assert glyphs.status_code == 200
    style = client.get("/styles/basemap.json").json()
    assert "localIdeographFontFamily" in json.dumps(style["metadata"])
    assert client.get("/styles/persons.json").status_code == 404


def test_packs_listed_and_served_with_ranges(client: TestClient) -> None:
    packs = client.get("/packs").json()["packs"]
    assert [p["name"] for p in packs] == ["guiyuan"]
    p = packs[0]
    assert p["url"] == f"{BASE}/packs/guiyuan.pmtiles" and p["minzoom"] == 12
    r = client.get("/packs/guiyuan.pmtiles", headers={"Range": "bytes=0-126"})
    assert r.status_code == 206 and len(r.content) == 127
    assert r.content[:7] == b"PMTiles" and r.content[7] == 3
    assert r.headers["etag"] and r.headers["content-range"].startswith("bytes 0-126/")
    full = client.get("/packs/guiyuan.pmtiles")
    assert full.status_code == 200 and len(full.content) == p["bytes"]
    assert client.get("/packs/nosuch.pmtiles").status_code == 404
    assert client.get("/packs/..%2Fonemap.pmtiles").status_code == 404


def test_terrain_tiles_and_elevation(client: TestClient) -> None:
    r = client.get(f"/tiles/terrain/{zxy(13, 114.19, 22.58)}.png")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.content[:8] == b"\x89PNG\r\n\x1a\n"
    import io

    import rasterio

    with rasterio.MemoryFile(io.BytesIO(r.content)) as mf, mf.open() as ds:
        grey, alpha = ds.read(1), ds.read(2)
    assert ds.width == 256 and alpha.max() == 255 and grey[alpha > 0].std() > 0
    el = client.get("/terrain/elevation", params={"lon": 114.2, "lat": 22.58})
    assert el.status_code == 200 and el.json()["elevation_m"] > 0
    assert client.get("/terrain/elevation", params={"lon": 100, "lat": 20}).status_code == 404
    assert client.get("/terrain/elevation", params={"lon": "x", "lat": 20}).status_code == 400
    assert client.get("/tiles/terrain/40/1/1.png").status_code == 404


def test_pack_is_deterministic_and_reads_back(demo_dir: Path, data_dir: Path,
                                              tmp_path: Path) -> None:
    from pmtiles.reader import MmapSource, Reader, all_tiles
    from pmtiles.tile import Compression, TileType

    first = data_dir / "guiyuan.pmtiles"
    again = tmp_path / "again.pmtiles"
    r = CliRunner().invoke(cli, ["tiles", "pack", "--area", "440303001", "--minzoom", "12",
                                 "--maxzoom", "13", "--data-dir", str(demo_dir), str(again)])
    assert r.exit_code == 0, r.output
    assert again.read_bytes() == first.read_bytes()
    with first.open("rb") as f:
        reader = Reader(MmapSource(f))
        h = reader.header()
        meta = reader.metadata()
        tiles = list(all_tiles(reader.get_bytes))
    assert h["tile_type"] == TileType.MVT and h["tile_compression"] == Compression.GZIP
    assert h["clustered"] and h["min_zoom"] == 12 and h["max_zoom"] == 13
    assert 114.0 < h["min_lon_e7"] / 1e7 < h["center_lon_e7"] / 1e7 < h["max_lon_e7"] / 1e7
    assert {v["id"] for v in meta["vector_layers"]} >= {"roads", "buildings", "labels"}
    assert tiles
    layers: set[str] = set()
    for (z, _x, _y), data in tiles:
        assert z in (12, 13)
        layers |= set(mapbox_vector_tile.decode(gzip.decompress(data)))
    assert {"roads", "district"} <= layers
    # bad arguments are one-line errors
    bad = CliRunner().invoke(cli, ["tiles", "pack", "--area", "12", "--data-dir",
                                   str(demo_dir), str(tmp_path / "x.pmtiles")])
    assert bad.exit_code != 0


def test_cli_packs_all(demo_dir: Path, tmp_path: Path) -> None:
    r = CliRunner().invoke(cli, ["tiles", "packs-all", "--minzoom", "11", "--maxzoom", "11",
                                 "--out-dir", str(tmp_path), "--data-dir", str(demo_dir)])
    assert r.exit_code == 0, r.output
    names = sorted(p.name for p in tmp_path.glob("*.pmtiles"))
    assert names[-1] == "district.pmtiles" and len(names) == 11  # district + 10 subdistricts
