"""``onemap address`` commands over the tiny hand-made district (click's runner)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from spatial_api.cli_address import address
from tests.test_address_service import build_tiny_store


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("address_cli")
    build_tiny_store(d / "onemap.gpkg").close()
    return d


def test_parse(data_dir: Path) -> None:
    r = CliRunner().invoke(address, ["parse", "东门中路2001号湖贝大夏A座", "--data-dir",
                                     str(data_dir)])
    assert r.exit_code == 0, r.output
    body = json.loads(r.output)
    assert body["components"]["poi"] == "湖贝大厦"
    assert body["normalized"] == "东门中路2001号湖贝大厦A座"


def test_parse_without_store(tmp_path: Path) -> None:
    r = CliRunner().invoke(address, ["parse", "罗湖区东门街道湖贝社区", "--data-dir",
                                     str(tmp_path)])
    assert r.exit_code == 0, r.output
    body = json.loads(r.stdout)
    assert body["components"]["community"] == "湖贝社区"


def test_geocode(data_dir: Path) -> None:
    r = CliRunner().invoke(address, ["geocode", "湖贝大厦A座", "--limit", "2", "--data-dir",
                                     str(data_dir)])
    assert r.exit_code == 0, r.output
    fc = json.loads(r.output)
    assert fc["features"][0]["properties"]["address_id"] == "A0001"
    assert len(fc["features"]) <= 2


def test_geocode_bad_input(data_dir: Path) -> None:
    r = CliRunner().invoke(address, ["geocode", "  ", "--data-dir", str(data_dir)])
    assert r.exit_code == 2 and "empty" in r.output


def test_reverse(data_dir: Path) -> None:
    r = CliRunner().invoke(address, ["reverse", "114.1221", "22.5492", "--data-dir",
                                     str(data_dir)])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["context"]["community"]["name"] == "湖贝社区"


def test_batch(data_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    dst = tmp_path / "out.csv"
    pd.DataFrame({"address_text": ["湖贝大厦A座", "火星基地", "春风路"]}).to_csv(src, index=False)
    r = CliRunner().invoke(address, ["batch", str(src), str(dst), "--data-dir", str(data_dir)])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout[r.stdout.index("{"):])
    assert (summary["rows"], summary["resolved"], summary["unresolved_rows"]) == (3, 2, [2])
    out = pd.read_csv(dst, dtype=str, keep_default_na=False)
    assert len(out) == 3 and out["level"].tolist() == ["building", "", "road"]


def test_batch_no_store(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("address\n湖贝\n", encoding="utf-8")
    r = CliRunner().invoke(address, ["batch", str(src), str(tmp_path / "o.csv"), "--data-dir",
                                     str(tmp_path / "nowhere")])
    assert r.exit_code == 2 and "store" in r.output
