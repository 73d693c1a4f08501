"""``onemap report renewal``: a standalone HTML report that opens with no internet."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from spatial_api.cli import cli

LEAFLET = Path(__file__).resolve().parent.parent / "viewer" / "node_modules" / "leaflet"
AREA = {"type": "Polygon", "coordinates": [[[114.11, 22.54], [114.12, 22.54], [114.12, 22.55],
                                            [114.11, 22.55], [114.11, 22.54]]]}


@pytest.mark.skipif(not LEAFLET.is_dir(), reason="viewer/node_modules missing (make runs npm ci)")
def test_report_renewal_is_standalone(demo_dir: Path, tmp_path: Path) -> None:
    area = tmp_path / "area.geojson"
    area.write_text(json.dumps(AREA))
    out = tmp_path / "report.html"
    res = CliRunner().invoke(cli, ["report", "renewal", "--area", str(area), "--out", str(out),
                                   "--data-dir", str(demo_dir)])
    assert res.exit_code == 0, res.output
    html = out.read_text(encoding="utf-8")
    # no script or stylesheet from the network, in the page or in the map's srcdoc
    unescaped = html.replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")
    assert not re.search(r"""<(script|link)[^>]+(src|href)=["']https?://""", unescaped, re.I)
    assert "L.map(" in unescaped or "L.map (" in unescaped  # the folium map
    assert "Leaflet" in unescaped  # inlined library
    assert "<svg" in html and "楼栋" in html and "affected buildings" in html
    assert "<table" in html


def test_report_needs_an_area(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["report", "renewal", "--area", str(tmp_path / "none.geojson"),
                                   "--out", str(tmp_path / "x.html")])
    assert res.exit_code != 0
