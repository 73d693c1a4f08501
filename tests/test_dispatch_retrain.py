"""Retraining on closed cases without a restart: the admin's ``POST /dispatch/model/retrain``
writes a new version, the serving app swaps it in, and a second app on the same data (another
worker) picks it up from its next request; the retraining is audited."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from gis.cases import RetrainBusy
from gis.cases import classifier as clf_mod
from gis.cases.config import load_table
from gis.cases.history import history
from gis.cases.live import LiveTriage, Retrainer
from gis.store.gpkg import GeoPackageStore
from spatial_api.app import create_app
from spatial_api.cli import cli
from spatial_api.settings import Settings
from tests.conftest import copy_demo

KEY = {"X-API-Key": "demo-planning-key"}
ADMIN = {"X-API-Key": "demo-admin-key"}
#: A text the first model has never seen, corrected by the operator to 井盖缺失.
CORRECTED = "人行道上有个方形的坑口敞着没东西盖，小孩差点踩进去"


@pytest.fixture(scope="module")
def data_dir(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("retrain")
    copy_demo(demo_dir, d)
    r = CliRunner().invoke(cli, ["dispatch", "train", "--data-dir", str(d), "--limit", "800"])
    assert r.exit_code == 0, r.output
    return d


@pytest.fixture(scope="module")
def clients(data_dir: Path) -> Iterator[tuple[TestClient, TestClient]]:
    """Two apps on the same data: two workers of one server."""
    with TestClient(create_app(Settings(data_dir=data_dir))) as a, \
            TestClient(create_app(Settings(data_dir=data_dir))) as b:
        yield a, b


def _wait(client: TestClient, job_id: str) -> dict[str, Any]:
    for _ in range(1200):  # a bound, not a timing claim: training 800 texts takes seconds
        job: dict[str, Any] = client.get(f"/dispatch/model/retrain/{job_id}",
                                         headers=ADMIN).json()
        if job["state"] in ("successful", "failed"):
            return job
        time.sleep(0.25)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def test_retrain_swaps_the_model_in_every_worker(
        clients: tuple[TestClient, TestClient], data_dir: Path) -> None:
    a, b = clients
    text = "楼下烧烤店油烟很大"
    assert a.post("/dispatch/triage", json={"text": text}, headers=KEY).json()[
        "model_version"] == 1
    assert b.get("/dispatch/model", headers=KEY).json()["version"] == 1
    # An operator corrects a case's category and closes it: retraining learns the label.
    case = a.post("/events", json={"text": CORRECTED, "category": "道路破损"},
                  headers=KEY).json()
    for action, extra in (("dispatch", {"category": "井盖缺失"}), ("start", {}),
                          ("close", {})):
        r = a.post(f"/events/{case['id']}/transitions", json={"action": action, **extra},
                   headers=KEY)
        assert r.status_code == 200, r.text
    closed = r.json()
    assert closed["category"] == "井盖缺失" and closed["department"] == \
        load_table().route("井盖缺失", CORRECTED)

    # Only the admin may retrain.
    assert a.post("/dispatch/model/retrain", json={"limit": 800}).status_code == 401
    r = a.post("/dispatch/model/retrain", json={"limit": 800}, headers=KEY)
    assert r.status_code == 403
    r = a.post("/dispatch/model/retrain", json={"limit": 800}, headers=ADMIN)
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["location"] == f"/dispatch/model/retrain/{job['id']}"
    assert job["state"] in ("accepted", "running") and job["previous_version"] == 1
    done = _wait(a, job["id"])
    assert done["state"] == "successful", done
    assert done["version"] == 2 and done["n_cases"] == 1 and done["n_texts"] == 801
    # The worker that polled may be another one: the job's state is shared.
    assert b.get(f"/dispatch/model/retrain/{job['id']}", headers=ADMIN).json() == done

    # Both workers answer with version 2 from now on, without a restart.
    for c in (a, b):
        body = c.post("/dispatch/triage", json={"text": text}, headers=KEY).json()
        assert body["model_version"] == 2
        info = c.get("/dispatch/model", headers=KEY).json()
        assert info["version"] == 2 and info["closed_cases"] == 1 and info["job"] == job["id"]
    assert clf_mod.latest_version(data_dir) == 2

    # Audited as a privileged operation.
    recs = a.get("/audit", params={"layer": "dispatch-model"}, headers=ADMIN).json()["records"]
    rec = next(x for x in recs if x["params"].get("job") == job["id"])
    assert rec["operation"] == "retrain" and rec["role"] == "admin"
    assert str(rec["params"]["limit"]) == "800" and str(rec["params"]["previous_version"]) == "1"


def test_history_holds_the_corrected_case(clients: tuple[TestClient, TestClient],
                                          data_dir: Path) -> None:
    store = GeoPackageStore(data_dir / "onemap.gpkg")
    try:
        texts, labels = history(store, limit=100)
    finally:
        store.close()
    pairs = dict(zip(texts, labels, strict=True))
    assert len(texts) == 101 and pairs[CORRECTED] == "井盖缺失"


def test_retrain_bad_requests(clients: tuple[TestClient, TestClient]) -> None:
    a, _ = clients
    for body in ({"limit": "many"}, {"limit": 5}, {"limit": True}, {"seed": "x"}, {"seed": -1},
                 {"seed": 2**40}, {"limit": 500, "epochs": 3}, [1]):
        r = a.post("/dispatch/model/retrain", json=body, headers=ADMIN)
        assert r.status_code == 400, (body, r.text)
    assert a.get("/dispatch/model/retrain/nosuchjob", headers=ADMIN).status_code == 404
    assert a.get("/dispatch/model/retrain/..%2Fx", headers=ADMIN).status_code == 404
    assert a.get("/dispatch/model/retrain/x", headers=KEY).status_code == 403


def test_one_job_at_a_time(data_dir: Path) -> None:
    store = GeoPackageStore(data_dir / "onemap.gpkg")
    try:
        r = Retrainer(store, LiveTriage(data_dir, load_table()))
        r._busy.acquire()  # a job is running in this process
        with pytest.raises(RetrainBusy):
            r.submit(limit=500)
        r._busy.release()
    finally:
        store.close()


def test_a_model_trained_by_the_cli_is_picked_up(data_dir: Path, tmp_path: Path) -> None:
    d = tmp_path / "d"
    live = LiveTriage(d, load_table())
    assert not live.available and live.info() == {"version": None}
    clf_mod.save(clf_mod.load(data_dir, 1), d)
    assert live.available and live.version == 1
    assert live("井盖不见了")["model_version"] == 1
