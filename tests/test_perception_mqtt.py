"""Readings over MQTT through a real Mosquitto started by the server (both stores)."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from gis.perception.mqtt import client_for
from gis.perception.service import PerceptionService
from spatial_api.app import create_app
from spatial_api.cli import cli
from spatial_api.local_server import free_port, serve_in_thread
from spatial_api.settings import Settings
from tests.conftest import copy_demo
from tests.test_perception import EMERGENCY, WAIT_S, SSEReader, _iso

pytestmark = pytest.mark.skipif(shutil.which("mosquitto") is None,
                                reason="mosquitto not installed (make test installs it)")


@pytest.fixture(scope="module", params=["geopackage", "postgis"])
def served(request: pytest.FixtureRequest, demo_dir: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, object]]:
    d = tmp_path_factory.mktemp("mqtt")
    copy_demo(demo_dir, d, terrain=True)
    with pytest.MonkeyPatch.context() as mp:
        url = None
        mp.delenv("ONEMAP_MQTT_URL", raising=False)
        if request.param == "postgis":
            cluster = request.getfixturevalue("pg_cluster")
            url = cluster.new_database()
            r = CliRunner().invoke(cli, ["db", "copy", "--from", f"gpkg:{d / 'onemap.gpkg'}",
                                         "--to", url])
            assert r.exit_code == 0, r.output
            mp.setenv("ONEMAP_DB_URL", url)
        else:
            mp.delenv("ONEMAP_DB_URL", raising=False)
        app = create_app(Settings(data_dir=d, offline_check_s=0))
        with serve_in_thread(app, free_port()) as base:
            yield base, app
        # Shutdown stopped the embedded broker.
        broker = app.state.perception_rt.mqtt.broker
        assert broker.proc.poll() is not None
        if url is not None:
            cluster.drop_database(url)


def _wait(cond: object) -> None:
    deadline = time.monotonic() + WAIT_S
    while not cond() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.05)


def test_mqtt_readings_alert_and_burst(served: tuple[str, object]) -> None:
    base, app = served
    health = httpx.get(f"{base}/health").json()["mqtt"]
    assert health["broker"] == "embedded" and health["connected"] is True
    svc: PerceptionService = app.state.perception  # type: ignore[attr-defined]
    dev = client_for(health["url"], "test-device")
    try:
        # A crossing reading published by a device raises an alert pushed over SSE.
        sid = sorted(s for s, st in svc.sensors.items()
                     if st.place.sensor_type == "smoke")[0]
        rule = svc.sensors[sid].rule
        sse = SSEReader(f"{base}/alerts/stream", EMERGENCY)
        topic = f"onemap/sensors/{sid}/readings"
        dev.publish(topic, json.dumps({"t": _iso(time.time() - 5), "value": rule.threshold * 2}),
                    qos=1).wait_for_publish()
        ev = sse.next()
        assert ev["data"]["sensor_id"] == sid and ev["data"]["state"] == "active"
        assert ev["data"]["impact"]["buildings"] >= 1
        sse.close()
        # A bad payload is refused and writes nothing.
        before = svc.db.count_readings(sid)
        rejected = app.state.perception_rt.mqtt.rejected  # type: ignore[attr-defined]
        dev.publish(topic, json.dumps([{"t": _iso(time.time()), "value": 1},
                                       {"t": "x", "value": 1}]), qos=1).wait_for_publish()
        _wait(lambda: app.state.perception_rt.mqtt.rejected > rejected)  # type: ignore[attr-defined]
        assert app.state.perception_rt.mqtt.rejected == rejected + 1  # type: ignore[attr-defined]
        assert svc.db.count_readings(sid) == before
        # A burst of 10,000 readings (1,000 messages of 10) loses none.
        ids = sorted(s for s, st in svc.sensors.items()
                     if st.place.sensor_type == "rainwater_pipe_flow")[:10]
        counts = {s: svc.db.count_readings(s) for s in ids}
        start = time.time() - 20 * 86400
        infos = []
        for m in range(100):
            for s in ids:
                body = [{"t": _iso(start + 60 * (m * 10 + i)), "value": 0.01}
                        for i in range(10)]
                infos.append(dev.publish(f"onemap/sensors/{s}/readings", json.dumps(body),
                                         qos=1))
        for info in infos:
            info.wait_for_publish(timeout=WAIT_S)

        def total() -> int:
            return sum(svc.db.count_readings(s) - counts[s] for s in ids)

        _wait(lambda: total() >= 10_000)
        assert total() == 10_000
    finally:
        dev.disconnect()
        dev.loop_stop()


def test_no_broker_is_reported(demo_dir: Path, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    copy_demo(demo_dir, tmp_path)
    monkeypatch.delenv("ONEMAP_DB_URL", raising=False)
    monkeypatch.setenv("ONEMAP_MQTT_URL", f"mqtt://127.0.0.1:{free_port()}")  # nobody there
    app = create_app(Settings(data_dir=tmp_path, offline_check_s=0))
    with serve_in_thread(app, free_port()) as base:
        h = httpx.get(f"{base}/health").json()
        assert h["status"] == "ok" and h["mqtt"]["broker"] is None
        assert "no MQTT broker" in h["mqtt"]["note"]


@pytest.mark.skipif(shutil.which("mosquitto") is None, reason="mosquitto not installed")
def test_broker_dies_with_a_killed_server(tmp_path: Path) -> None:
    """A server killed with SIGKILL runs no clean-up; its embedded broker must not go on
    listening (the crash tests left two orphaned brokers per run)."""
    import os
    import signal
    import subprocess
    import sys

    script = ("import sys, time\n"
              "from gis.perception.mqtt import EmbeddedMosquitto\n"
              "b = EmbeddedMosquitto()\n"
              "print(b.proc.pid, b.port, flush=True)\n"
              "time.sleep(120)\n")
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                             cwd=Path(__file__).resolve().parent.parent, text=True)
    try:
        assert child.stdout is not None
        broker_pid, port = (int(x) for x in child.stdout.readline().split())
        assert _alive(broker_pid)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        deadline = time.monotonic() + 10
        while _alive(broker_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(broker_pid), "the broker outlived the killed server"
        import socket

        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), 1):
            pass  # nothing listens on its port any more
    finally:
        child.kill()


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for a reaper counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
