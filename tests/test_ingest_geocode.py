"""`onemap ingest` resolves rows that carry only an address text (hotline events)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from gis.store.gpkg import GeoPackageStore
from spatial_api.cli import cli
from tests.conftest import copy_demo


def test_hotline_rows_are_geocoded_at_ingest(demo_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    copy_demo(demo_dir, data)
    store = GeoPackageStore(data / "onemap.gpkg")
    building = store.query("building", order_by=["id"], limit=1).iloc[0]
    before = store.count("event")
    store.close()
    text = f"市民反映：{building['address'].removeprefix('广东省深圳市')}门口垃圾堆放，请处理"
    csv = tmp_path / "hotline.csv"
    csv.write_text(
        "id,source,category,status,occurred_at,address_text\n"
        f"H1,hotline_12345,垃圾暴露,open,2025-03-01T09:00:00Z,{text}\n"
        "H2,hotline_12345,噪音扰民,open,2025-03-01T10:00:00Z,火星基地七号舱\n",
        encoding="utf-8")
    res = CliRunner().invoke(cli, ["ingest", str(csv), "--kind", "event", "--data-dir",
                                   str(data)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert json.loads(res.output.strip().splitlines()[-1])["rows"] == 2
    store = GeoPackageStore(data / "onemap.gpkg")
    assert store.count("event") == before + 2
    h1 = store.get("event", "H1").iloc[0]
    h2 = store.get("event", "H2").iloc[0]
    assert h1["geocode_status"] == "resolved"
    assert h1["address_id"] == building["address_id"]
    assert h1["community_code"] == building["community_code"]
    assert h1.geometry.distance(building.geometry) < 0.001
    assert h2["geocode_status"] == "unresolved" and h2.geometry is None
    store.close()
