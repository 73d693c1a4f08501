"""QGIS, the planners' desktop GIS, as a real client of the running server.

Debian's QGIS (``python3-qgis``, ``qgis-providers``; 3.22 on bookworm) runs headless
(``QT_QPA_PLATFORM=offscreen``) in a subprocess of Debian's own ``/usr/bin/python3``
(the project's virtualenv Python cannot import QGIS's bindings). One script does what a
planner does: add every public collection through the ``OAPIF`` provider and read it
whole, add a restricted collection with the department's key stored as Basic
credentials in QGIS's encrypted auth database (a master password in a temporary
profile), open the GeoPackage with the ``ogr`` provider, and render a vector-tile layer.
The script prints one JSON line; the tests compare it with the server's own answers.

Without QGIS the tests skip locally but fail in CI (``CI=true``).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from spatial_api.app import create_app
from spatial_api.local_server import free_port, serve_in_thread
from spatial_api.settings import Settings

DEBIAN_PYTHON = "/usr/bin/python3"
#: The restricted collection and a key of a role that sees it (config/roles.yaml).
RESTRICTED = "events"
RESTRICTED_KEY = "demo-emergency-key"
#: Where the vector-tile layer is rendered (WGS84 lon/lat box inside the district).
RENDER_BOX = (114.11, 22.54, 114.13, 22.56)


def _qgis_missing() -> str | None:
    if not Path(DEBIAN_PYTHON).exists():
        return f"{DEBIAN_PYTHON} is missing"
    try:
        out = subprocess.run([DEBIAN_PYTHON, "-c", "import qgis.core"], capture_output=True,
                             text=True, timeout=120,
                             env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"QGIS could not be imported: {exc}"
    if out.returncode != 0:
        return "QGIS's Python bindings are not installed (make test installs python3-qgis)"
    return None


MISSING = _qgis_missing()
if MISSING and os.environ.get("CI", "").lower() in ("1", "true", "yes"):
    raise RuntimeError(f"QGIS tests cannot run in CI: {MISSING}")
pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")

# The client script, run by Debian's python3. Its single argument is the job (JSON).
CLIENT = r'''
import json, os, sys

job = json.loads(sys.argv[1])
os.environ["QGIS_AUTH_DB_DIR_PATH"] = job["profile"]
from qgis.core import (
    QgsApplication, QgsAuthMethodConfig, QgsCoordinateReferenceSystem,
    QgsCoordinateTransform, QgsDataSourceUri, QgsMapRendererParallelJob, QgsMapSettings,
    QgsProject, QgsRectangle, QgsVectorLayer, QgsVectorTileBasicRenderer,
    QgsVectorTileLayer, QgsWkbTypes)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor

QgsApplication.setPrefixPath("/usr", True)
app = QgsApplication([], False, job["profile"])
app.initQgis()
out = {}


def oapif(coll, authcfg=None):
    # The connection a planner adds: the landing page URL exactly as advertised.
    uri = QgsDataSourceUri()
    uri.setParam("url", job["ogc"])
    uri.setParam("typename", coll)
    uri.setParam("pagingEnabled", "true")
    uri.setParam("pageSize", "1000")
    uri.setParam("restrictToRequestBBOX", "0")
    if authcfg:
        uri.setAuthConfigId(authcfg)
    return QgsVectorLayer(uri.uri(False), coll, "OAPIF")


def read(layer):
    if not layer.isValid():
        return {"valid": False}
    ids = [str(f["id"]) for f in layer.getFeatures()]
    return {"valid": True, "ids": ids, "feature_count": layer.featureCount(),
            "geometry": QgsWkbTypes.displayString(QgsWkbTypes.flatType(layer.wkbType()))}


out["public"] = {coll: read(oapif(coll)) for coll in job["public"]}

auth = QgsApplication.authManager()
out["master_password"] = bool(auth.setMasterPassword(job["master_password"], True))
cfg = QgsAuthMethodConfig("Basic")
cfg.setName("OneMap department key")
cfg.setConfig("username", "qgis")
cfg.setConfig("password", job["key"])
stored = auth.storeAuthenticationConfig(cfg)
out["auth_stored"] = bool(stored[0] if isinstance(stored, tuple) else stored)
out["restricted"] = read(oapif(job["restricted"], cfg.id()))
out["restricted_without_key"] = read(oapif(job["restricted"]))

gpkg = QgsVectorLayer(job["gpkg"] + "|layername=" + job["gpkg_layer"], "gpkg", "ogr")
out["gpkg"] = {"valid": gpkg.isValid(), "count": gpkg.featureCount(),
               "geometry": QgsWkbTypes.displayString(QgsWkbTypes.flatType(gpkg.wkbType()))}

vt = QgsVectorTileLayer(
    "type=xyz&url=%s&zmin=%d&zmax=%d" % (job["tiles"], job["zmin"], job["zmax"]), "vt")
out["vt_valid"] = vt.isValid()
red = QColor(200, 0, 0)
renderer = QgsVectorTileBasicRenderer()
renderer.setStyles(QgsVectorTileBasicRenderer.simpleStyle(red, red, 1.0, red, 1.0, red, red,
                                                          3.0))
vt.setRenderer(renderer)
settings = QgsMapSettings()
settings.setLayers([vt])
merc = QgsCoordinateReferenceSystem("EPSG:3857")
settings.setDestinationCrs(merc)
to_merc = QgsCoordinateTransform(QgsCoordinateReferenceSystem("EPSG:4326"), merc,
                                 QgsProject.instance())
settings.setExtent(to_merc.transformBoundingBox(QgsRectangle(*job["bbox"])))
settings.setOutputSize(QSize(512, 512))
white = QColor(255, 255, 255)
settings.setBackgroundColor(white)
render = QgsMapRendererParallelJob(settings)
render.start()
render.waitForFinished()
image = render.renderedImage()
image.save(os.path.join(job["profile"], "vector-tiles.png"))
out["vt_pixels"] = sum(1 for y in range(image.height()) for x in range(image.width())
                       if image.pixel(x, y) != white.rgb())
print("RESULT " + json.dumps(out), flush=True)
app.exitQgis()
# Python's teardown then destroys layers after the QGIS application (a known PyQGIS
# crash at exit): leave at once, everything has been written.
os._exit(0)
'''


@pytest.fixture(scope="module")
def server(demo_dir: Path) -> Iterator[str]:
    port = free_port()
    app = create_app(Settings(data_dir=demo_dir, host="127.0.0.1", port=port))
    with serve_in_thread(app, port) as base:
        yield base


def all_features(base: str, coll: str, headers: dict[str, str] | None = None) -> list[Any]:
    """Every feature of a collection, paged through the server's ``next`` links."""
    url: str | None = f"{base}/ogc/collections/{coll}/items?limit=1000&f=json"
    out: list[Any] = []
    while url:
        page = httpx.get(url, headers=headers or {}, timeout=120).json()
        out += page["features"]
        url = next((lk["href"] for lk in page["links"] if lk["rel"] == "next"), None)
    return out


def matched(base: str, coll: str, headers: dict[str, str] | None = None) -> int:
    r = httpx.get(f"{base}/ogc/collections/{coll}/items?limit=1", headers=headers or {})
    assert r.status_code == 200, r.text
    return int(r.json()["numberMatched"])


@pytest.fixture(scope="module")
def qgis_run(server: str, demo_dir: Path, tmp_path_factory: pytest.TempPathFactory
             ) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("qgis")
    profile = work / "profile"
    profile.mkdir()
    script = work / "qgis_client.py"
    script.write_text(CLIENT, encoding="utf-8")
    # Features collections only: an EDR collection (sensor-readings) has no items.
    colls = [c["id"] for c in httpx.get(f"{server}/ogc/collections").json()["collections"]
             if "data_queries" not in c]
    # QGIS opens a copy: on closing a GeoPackage it puts the file back in rollback-journal
    # mode, and every later WAL connection to the shared test store then found it locked.
    gpkg = work / "onemap-copy.gpkg"
    with sqlite3.connect(demo_dir / "onemap.gpkg") as src, sqlite3.connect(gpkg) as dst:
        src.backup(dst)
    job = {"ogc": f"{server}/ogc", "public": colls, "restricted": RESTRICTED,
           "key": RESTRICTED_KEY, "master_password": "test-master-password",
           "profile": str(profile), "gpkg": str(gpkg),
           "gpkg_layer": "buildings",
           "tiles": f"{server}/tiles/buildings/{{z}}/{{x}}/{{y}}.mvt", "zmin": 14, "zmax": 16,
           "bbox": list(RENDER_BOX)}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(QT_QPA_PLATFORM="offscreen", HOME=str(work), XDG_RUNTIME_DIR=str(work))
    out = subprocess.run([DEBIAN_PYTHON, str(script), json.dumps(job)], capture_output=True,
                         text=True, timeout=900, env=env, cwd=work)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
    assert out.returncode == 0 and lines, (out.returncode, out.stderr[-3000:])
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT "):])
    result["public_ids"] = colls
    return result


def expected_type(features: list[Any]) -> str:
    """The single geometry type QGIS should give a layer of these GeoJSON features."""
    types = {f["geometry"]["type"] for f in features if f.get("geometry")}
    if len(types) == 1:
        return types.pop()
    multi = {t.removeprefix("Multi") for t in types}
    assert len(multi) == 1, types
    return "Multi" + multi.pop()


def test_every_public_collection_loads_whole(server: str, qgis_run: dict[str, Any]) -> None:
    colls = qgis_run["public_ids"]
    assert "buildings" in colls and RESTRICTED not in colls
    for coll in colls:
        layer = qgis_run["public"][coll]
        assert layer["valid"], coll
        feats = all_features(server, coll)
        assert len(layer["ids"]) == matched(server, coll) == len(feats), coll
        assert sorted(layer["ids"]) == sorted(str(f["id"]) for f in feats), coll
        assert layer["geometry"] == expected_type(feats), coll


def test_restricted_collection_loads_with_basic_credentials(
        server: str, qgis_run: dict[str, Any]) -> None:
    assert qgis_run["master_password"] and qgis_run["auth_stored"]
    key = {"X-API-Key": RESTRICTED_KEY}
    layer = qgis_run["restricted"]
    assert layer["valid"]
    feats = all_features(server, RESTRICTED, key)
    assert len(layer["ids"]) == matched(server, RESTRICTED, key) == len(feats) > 0
    assert sorted(layer["ids"]) == sorted(str(f["id"]) for f in feats)
    assert layer["geometry"] == expected_type(feats)
    # Without the credentials the collection does not exist for QGIS either.
    assert qgis_run["restricted_without_key"]["valid"] is False


def test_geopackage_opens_with_ogr(demo_dir: Path, qgis_run: dict[str, Any]) -> None:
    db = sqlite3.connect(demo_dir / "onemap.gpkg")
    with db:
        n = db.execute("SELECT count(*) FROM buildings").fetchone()[0]
    db.close()
    assert qgis_run["gpkg"] == {"valid": True, "count": n, "geometry": "Polygon"}


def test_vector_tiles_render(qgis_run: dict[str, Any]) -> None:
    assert qgis_run["vt_valid"]
    assert qgis_run["vt_pixels"] > 0
