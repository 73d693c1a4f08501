"""Perception figures: readings ingest over HTTP batches and MQTT, alarm → SSE latency
(POST or publish of the crossing reading to the SSE event carrying the impact), impact
time, and "latest per sensor" / "one series" at full history.

The history is a simulated year at 15-minute resolution for every sensor (~16 M
readings at full scale), written once into the store and reused by later runs (the
store's metadata remembers it). Run alone::

    python -m bench.bench_perception PATH/onemap.gpkg   (a copy: it writes)
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.common import Row, ms, p, timeit
from gis.perception.db import PerceptionDB
from gis.store.base import Store

HISTORY_KEY = "bench:readings_15min_2025"
YEAR0 = 1735689600  # 2025-01-01T00:00:00Z
STEP = 900
EMERGENCY = {"X-API-Key": "demo-emergency-key"}


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def build_history(store: Store, ids: list[str]) -> tuple[int, float]:
    """A year of 15-minute readings for every sensor (once per store)."""
    db = PerceptionDB(store)
    db.ensure_schema()
    if store.get_meta().get(HISTORY_KEY):
        return int(store.get_meta()[HISTORY_KEY]), 0.0
    n_t = 365 * 24 * 3600 // STEP
    rng = np.random.default_rng(11)
    t0 = time.perf_counter()
    total = 0
    ts = YEAR0 + STEP * np.arange(n_t, dtype=np.int64)
    for chunk in range(0, len(ids), 20):
        part = ids[chunk:chunk + 20]
        sid = np.repeat(np.array(part, dtype=object), n_t)
        t = np.tile(ts, len(part))
        v = np.round(rng.gamma(2.0, 0.1, len(t)), 4)
        db.insert_many(sid, t, v)
        total += len(t)
    dt = time.perf_counter() - t0
    store.set_meta({HISTORY_KEY: str(total)})
    return total, dt


class _SSE:
    def __init__(self, url: str) -> None:
        self.q: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
        self.ready = threading.Event()
        threading.Thread(target=self._run, args=(url,), daemon=True).start()
        self.ready.wait(60)

    def _run(self, url: str) -> None:
        with httpx.Client(timeout=None) as c, c.stream("GET", url, headers=EMERGENCY) as r:
            self.ready.set()
            for line in r.iter_lines():
                if line.startswith("data: "):
                    self.q.put((time.perf_counter(), json.loads(line[6:])))

    def wait_for(self, sensor_id: str, state: str) -> tuple[float, dict[str, Any]]:
        while True:
            t, d = self.q.get(timeout=120)
            if d["sensor_id"] == sensor_id and d["state"] == state:
                return t, d


def run(store: Store, data_dir: Path | None = None) -> list[Row]:
    """The perception figures on ``store`` (it writes readings and alerts)."""
    from gis.perception.mqtt import client_for
    from spatial_api.app import create_app
    from spatial_api.local_server import free_port, serve_in_thread
    from spatial_api.settings import Settings

    rows: list[Row] = []
    sensors = store.query("sensor", columns=["sensor_type", "threshold"])
    ids = sorted(sensors["id"])
    n, dt = build_history(store, ids)
    rows.append(Row("perception: readings history (15 min, one year, all sensors)",
                    f"{n:,} readings" + (f", written in {dt:.0f} s" if dt else ", reused")))
    db = PerceptionDB(store)
    lat = timeit(lambda: store.latest_readings(ids), repeat=7)
    rows.append(Row(f"perception: latest per sensor ({len(ids)} sensors)",
                    f"p50 {ms(p(lat, 0.5))}, p95 {ms(p(lat, 0.95))}"))
    sid0 = ids[len(ids) // 2]
    for label, span in (("one day", 86400), ("one month", 30 * 86400),
                        ("one year", 365 * 86400)):
        lo = YEAR0 + 100 * 86400 if span < 365 * 86400 else YEAR0

        def one(lo: int = lo, span: int = span) -> None:
            db.series(sid0, lo, lo + span)

        ser = timeit(one, repeat=7)
        rows.append(Row(f"perception: one sensor's series, {label}",
                        f"p50 {ms(p(ser, 0.5))}, p95 {ms(p(ser, 0.95))}"))

    data_dir = data_dir or Path(getattr(store, "path", "data/build/onemap.gpkg")).parent
    app = create_app(Settings(data_dir=data_dir, offline_check_s=0))
    with serve_in_thread(app, free_port(), start_timeout=300) as base:
        svc = app.state.perception
        # Wait for the warm-up of resident counts (a start-up cost, not an alert's).
        svc.impact_model.residents(_iso(time.time())[:10])
        # HTTP ingest: batches of 1,000 from 4 client threads.
        quiet = [s for s in ids if svc.sensors[s].place.sensor_type == "outfall_flow"][:40]
        t_base = time.time() - 30 * 86400

        def post_batches(k: int, out: list[int]) -> None:
            with httpx.Client(timeout=120, headers=EMERGENCY) as c:
                for b in range(10):
                    s = quiet[(k * 10 + b) % len(quiet)]
                    body = [{"t": _iso(t_base + 60 * (k * 10_000 + b * 1000 + i)),
                             "value": 0.01} for i in range(1000)]
                    r = c.post(f"{base}/sensors/{s}/readings", json=body)
                    out.append(r.json()["accepted"])

        got: list[int] = []
        before_http = db.count_readings()
        t0 = time.perf_counter()
        th = [threading.Thread(target=post_batches, args=(k, got)) for k in range(4)]
        for x in th:
            x.start()
        for x in th:
            x.join()
        dt = time.perf_counter() - t0
        new_http = db.count_readings() - before_http  # duplicates of an earlier run: not new
        rows.append(Row("perception: ingest over HTTP (batches of 1,000, 4 clients)",
                        f"{sum(got) / dt:,.0f} readings/s ({sum(got):,} accepted, {new_http:,} "
                        f"new, in {dt:.1f} s)", goal="≥ 20,000/s"))
        # MQTT ingest: 20,000 readings as 200 messages of 100, QoS 1.
        mq = client_for(svc_url(app), "bench-device")
        before = db.count_readings()
        t0 = time.perf_counter()
        infos = []
        for m in range(200):
            s = quiet[m % len(quiet)]
            # Before the HTTP batches' window (they start at t_base): all new readings.
            body = [{"t": _iso(t_base - 86400 * 25 + 60 * (m * 100 + i)), "value": 0.01}
                    for i in range(100)]
            infos.append(mq.publish(f"onemap/sensors/{s}/readings", json.dumps(body), qos=1))
        for i in infos:
            i.wait_for_publish(timeout=120)
        while db.count_readings() - before < 20_000 and time.perf_counter() - t0 < 300:
            time.sleep(0.05)
        dt = time.perf_counter() - t0
        got_mqtt = db.count_readings() - before
        rows.append(Row("perception: ingest over MQTT (messages of 100, QoS 1)",
                        f"{got_mqtt / dt:,.0f} readings/s ({got_mqtt:,} of 20,000 in "
                        f"{dt:.1f} s)", goal="≥ 20,000/s"))
        # Alarm → SSE with impact, over HTTP and MQTT.
        sse = _SSE(f"{base}/alerts/stream")
        water = [s for s in ids if svc.sensors[s].place.sensor_type in
                 ("waterlogging", "rainwater_pipe_flow", "outfall_flow", "water_quality",
                  "smoke")]
        rng = np.random.default_rng(5)
        pick = list(rng.choice(water, size=min(30, len(water)), replace=False))
        lat_http: list[float] = []
        lat_mqtt: list[float] = []
        impacts: list[float] = []
        with httpx.Client(timeout=120, headers=EMERGENCY) as c:
            for k, s in enumerate(pick):
                rule = svc.sensors[s].rule
                now = time.time()
                via_mqtt = k % 2 == 1
                reading = {"t": _iso(now - 2), "value": rule.threshold * 1.3}
                t0 = time.perf_counter()
                if via_mqtt:
                    mq.publish(f"onemap/sensors/{s}/readings", json.dumps(reading), qos=1)
                else:
                    c.post(f"{base}/sensors/{s}/readings", json=reading)
                t1, d = sse.wait_for(s, "active")
                (lat_mqtt if via_mqtt else lat_http).append(t1 - t0)
                impacts.append(d["impact"]["computed_ms"] / 1000)
                c.post(f"{base}/sensors/{s}/readings",
                       json={"t": _iso(now - 1), "value": rule.clear * 0.5})
                sse.wait_for(s, "ended")
        mq.disconnect()
        rows.append(Row("perception: crossing POST → SSE event with impact",
                        f"p50 {ms(p(lat_http, 0.5))}, p95 {ms(p(lat_http, 0.95))} "
                        f"(n={len(lat_http)})", goal="p95 ≤ 1 s"))
        rows.append(Row("perception: crossing MQTT publish → SSE event with impact",
                        f"p50 {ms(p(lat_mqtt, 0.5))}, p95 {ms(p(lat_mqtt, 0.95))} "
                        f"(n={len(lat_mqtt)})"))
        rows.append(Row("perception: impact computation",
                        f"p50 {ms(p(impacts, 0.5))}, p95 {ms(p(impacts, 0.95))}",
                        goal="p95 ≤ 300 ms"))
    return rows


def svc_url(app: Any) -> str:
    """The MQTT broker URL the server uses."""
    url: str = app.state.perception_rt.health()["url"]
    return url


if __name__ == "__main__":
    from bench.common import table
    from gis.store.gpkg import GeoPackageStore

    st = GeoPackageStore(Path(sys.argv[1]))
    try:
        print(table(run(st)))
    finally:
        st.close()
