"""``ONEMAP_WARMUPS``: which start-up warm-ups a server runs (a city-sized server
starts with fewer, docs/scale.md), and an unknown name stops start-up."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from spatial_api.app import create_app
from spatial_api.settings import WARMUPS, Settings
from tests.conftest import copy_demo


def test_the_setting_names_warmups() -> None:
    assert all(Settings().warm(w) for w in WARMUPS)  # default (auto), one district: all
    # auto on a store of several districts: only the small working sets
    assert [w for w in WARMUPS if Settings().warm(w, districts=9)] == ["coverage", "tiles"]
    assert Settings().for_store(9).warmups == "coverage,tiles"
    assert Settings().for_store(1).warmups == ",".join(WARMUPS)
    assert all(Settings(warmups="all").warm(w, districts=9) for w in WARMUPS)
    assert not any(Settings(warmups="none").warm(w) for w in WARMUPS)
    s = Settings(warmups="tiles, indicators")
    assert [w for w in WARMUPS if s.warm(w)] == ["indicators", "tiles"]
    with pytest.raises(ValidationError, match="unknown warm-up"):
        Settings(warmups="tiles,enterprises")


@pytest.mark.parametrize("warmups", ["all", "none"])
def test_a_server_without_warmups_starts_none_and_still_serves(
        demo_dir: Path, tmp_path: Path, warmups: str) -> None:
    copy_demo(demo_dir, tmp_path)
    settings = Settings(data_dir=tmp_path, warmups=warmups, mqtt_embedded=False,
                        offline_check_s=0, indicator_alerts_s=0, indicators_warm=True)
    with TestClient(create_app(settings)) as c:
        state = c.app.state  # type: ignore[attr-defined]
        started = {"coverage": state.network_warm.ident is not None,
                   "tiles": state.tiles.prewarm is not None}
        assert started == {"coverage": warmups == "all", "tiles": warmups == "all"}
        if warmups == "none":
            tasks = c.get("/health").json()["tasks"]
            assert not {"coverage_warm", "tiles_prewarm", "indicator_warm",
                        "perception_warm", "enterprise_snapshot"} & set(tasks)
        r = c.get("/ogc/collections/buildings/items", params={"limit": 2, "f": "json"})
        assert r.status_code == 200 and len(r.json()["features"]) == 2
        # A skipped warm-up is read on first use.
        summary = c.get("/indicators/summary", headers={"X-API-Key": "demo-admin-key"})
        assert summary.status_code == 200 and summary.json()["items"]
