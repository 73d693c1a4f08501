"""Serving like the best peer: gzip on the wire for items, TileJSON and styles."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from spatial_api.app import GZIP_MIN_BYTES


@pytest.fixture(scope="module")
def base_url(demo_dir: Path) -> Iterator[str]:
    """A real uvicorn server on the demo (the client sees the real wire bytes)."""
    from spatial_api.app import create_app
    from spatial_api.local_server import free_port, serve_in_thread
    from spatial_api.settings import Settings

    port = free_port()
    app = create_app(Settings(data_dir=demo_dir, port=port))
    with serve_in_thread(app, port):
        yield f"http://127.0.0.1:{port}"


def _raw(url: str, gz: bool) -> tuple[httpx.Headers, bytes]:
    headers = {"Accept-Encoding": "gzip" if gz else "identity"}
    with httpx.Client(timeout=60) as c, c.stream("GET", url, headers=headers) as r:
        assert r.status_code == 200, url
        return r.headers, b"".join(r.iter_raw())


@pytest.mark.parametrize("path", [
    "/ogc/collections/buildings/items?limit=200",
    "/tiles/buildings.json",
    "/styles/basemap.json",
])
def test_large_json_is_gzipped_when_asked(base_url: str, path: str) -> None:
    h_plain, plain = _raw(base_url + path, gz=False)
    h_gz, packed = _raw(base_url + path, gz=True)
    assert "content-encoding" not in h_plain
    assert len(plain) >= GZIP_MIN_BYTES
    assert h_gz["content-encoding"] == "gzip"
    assert "accept-encoding" in h_gz.get("vary", "").lower()
    assert len(packed) < len(plain)
    a, b = json.loads(gzip.decompress(packed)), json.loads(plain)
    if isinstance(a, dict):  # items carry the time of the answer
        a.pop("timeStamp", None)
        b.pop("timeStamp", None)
    assert a == b


def test_small_bodies_stay_plain(base_url: str) -> None:
    with httpx.Client(timeout=60) as c:
        r = c.get(base_url + "/ogc/collections/buildings/items?limit=1&skipGeometry=true"
                  "&properties=id", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200
    if len(r.content) < GZIP_MIN_BYTES:
        assert "content-encoding" not in r.headers
