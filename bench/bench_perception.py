"""Perception figures on both stores: readings ingest over HTTP batches and MQTT,
alarm → SSE latency (POST or publish of the crossing reading to the SSE event carrying
the impact), impact time, and "latest per sensor" / "one series" at full history.

The history is a simulated year at 15-minute resolution for every sensor (~16 M
readings at full scale) on top of the demo's hourly year. It is built once and reused
by later runs:

- GeoPackage: written into the store, remembered in its metadata (``HISTORY_KEY``);
- PostGIS: a cluster kept under the bench cache folder (``ONEMAP_BENCH_CACHE``,
  default ``onemap-bench-cache`` in the system's temporary folder) or the database
  named by ``ONEMAP_BENCH_PG_URL``; the demo is copied into it (``onemap db copy``)
  and the history loaded with ``COPY``, then a marker in the store's metadata (the
  demo's fingerprint and the row count) lets the next run start the same cluster and
  skip both.

The PostGIS rows also report the plan of the latest-per-sensor query (``EXPLAIN
ANALYZE``): one backward index probe per sensor, never a scan of the readings.

Run alone (it writes into the store, so on a copy)::

    python -m bench.bench_perception PATH/onemap.gpkg [--postgis-only | --gpkg-only]
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import queue
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from bench.common import Row, ms, p, timeit
from gis.perception.db import PerceptionDB
from gis.store.base import Store

HISTORY_KEY = "bench:readings_15min_2025"
YEAR0 = 1735689600  # 2025-01-01T00:00:00Z
STEP = 900
EMERGENCY = {"X-API-Key": "demo-emergency-key"}
PG_DB = "perception_bench"


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _history(ids: list[str]) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The simulated year, 20 sensors at a time (the same numbers on every run)."""
    n_t = 365 * 24 * 3600 // STEP
    rng = np.random.default_rng(11)
    ts = YEAR0 + STEP * np.arange(n_t, dtype=np.int64)
    for chunk in range(0, len(ids), 20):
        part = ids[chunk:chunk + 20]
        sid = np.repeat(np.array(part, dtype=object), n_t)
        t = np.tile(ts, len(part))
        v = np.round(rng.gamma(2.0, 0.1, len(t)), 4)
        yield sid, t, v


def build_history(store: Store, ids: list[str]) -> tuple[int, float]:
    """A year of 15-minute readings for every sensor (once per store): the live
    write path (``PerceptionDB.insert_many``) on GeoPackage, ``COPY`` with the
    readings indexes rebuilt afterwards on PostGIS."""
    db = PerceptionDB(store)
    db.ensure_schema()
    meta = store.get_meta()
    if meta.get(HISTORY_KEY):
        return int(meta[HISTORY_KEY]), 0.0
    t0 = time.perf_counter()
    total = 0
    if store.backend == "postgis":
        total = _copy_history(store, ids)
    else:
        for sid, t, v in _history(ids):
            db.insert_many(sid, t, v)
            total += len(t)
    dt = time.perf_counter() - t0
    store.set_meta({HISTORY_KEY: str(total)})
    return total, dt


def _copy_history(store: Any, ids: list[str]) -> int:
    """COPY the history into PostGIS in one transaction; the readings indexes are
    dropped first and rebuilt from their catalog definitions (several times faster
    than maintaining them row by row), then the table is analysed."""
    total = 0
    with store.pool.connection() as conn, conn.transaction():
        defs = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename = 'readings' AND indexname NOT LIKE '%%pkey'").fetchall()
        for name, _ in defs:
            conn.execute(f'DROP INDEX "{name}"')
        with conn.cursor() as cur:
            for sid, t, v in _history(ids):
                buf = io.StringIO()
                pd.DataFrame({"s": sid, "t": t, "v": v, "a": 0}).to_csv(
                    buf, sep="\t", header=False, index=False)
                with cur.copy("COPY readings (sensor_id, ts, value, alert) FROM STDIN") as cp:
                    cp.write(buf.getvalue())
                total += len(t)
        for _, ddl in defs:
            conn.execute(ddl)
    with store.pool.connection() as conn:
        conn.autocommit = True
        conn.execute("ANALYZE readings")
    return total


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


def _queries(store: Store, ids: list[str], tag: str) -> list[Row]:
    rows: list[Row] = []
    db = PerceptionDB(store)
    lat = timeit(lambda: store.latest_readings(ids), repeat=9)
    rows.append(Row(f"perception ({tag}): latest per sensor ({len(ids)} sensors)",
                    f"p50 {ms(p(lat, 0.5))}, p95 {ms(p(lat, 0.95))}"))
    sid0 = ids[len(ids) // 2]
    for label, span in (("one day", 86400), ("one month", 30 * 86400),
                        ("one year", 365 * 86400)):
        lo = YEAR0 + 100 * 86400 if span < 365 * 86400 else YEAR0

        def one(lo: int = lo, span: int = span) -> None:
            db.series(sid0, lo, lo + span)

        ser = timeit(one, repeat=9)
        n = len(db.series(sid0, lo, lo + span))
        rows.append(Row(f"perception ({tag}): one sensor's series, {label} ({n:,} readings)",
                        f"p50 {ms(p(ser, 0.5))}, p95 {ms(p(ser, 0.95))}"))
    rows.append(Row(f"perception ({tag}): plan of latest per sensor", _plan(store, ids),
                    goal="one index probe per sensor"))
    return rows


def _plan(store: Any, ids: list[str]) -> str:
    """What the latest-per-sensor query reads, from the database's own plan."""
    if store.backend != "postgis":
        plan = store._conn().execute(
            "EXPLAIN QUERY PLAN SELECT sensor_id, ts, value, alert FROM readings "
            "WHERE sensor_id = ? ORDER BY ts DESC LIMIT 1", (ids[0],)).fetchall()
        return "; ".join(str(r[-1]) for r in plan) + f" (× {len(ids)} sensors)"
    with store.pool.connection() as conn:
        doc = conn.execute(
            "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT r.sensor_id, r.ts, r.value, "
            "r.alert FROM unnest(%s::text[]) WITH ORDINALITY AS s(id, n) CROSS JOIN LATERAL "
            "(SELECT * FROM readings x WHERE x.sensor_id = s.id ORDER BY x.ts DESC LIMIT 1) r "
            "ORDER BY s.n", [ids]).fetchone()[0]
    nodes: list[dict[str, Any]] = []

    def walk(n: dict[str, Any]) -> None:
        nodes.append(n)
        for c in n.get("Plans", []):
            walk(c)

    walk(doc[0]["Plan"])
    scans = [n for n in nodes if n.get("Relation Name") == "readings"]
    parts = []
    for n in scans:
        read = int(n.get("Actual Rows", 0)) * int(n.get("Actual Loops", 1))
        parts.append(f"{n['Node Type']} using {n.get('Index Name', '-')}: "
                     f"{n.get('Actual Loops', 1)} loops, {read:,} rows read")
    seq = any(n["Node Type"] == "Seq Scan" for n in scans)
    return ("; ".join(parts) + (" — SEQ SCAN" if seq else "") +
            f"; {doc[0]['Execution Time']:.1f} ms")


@contextmanager
def _served(store_url: str | None, data_dir: Path) -> Iterator[tuple[Any, str]]:
    """The app on the GeoPackage in ``data_dir`` (``store_url`` None) or on PostGIS."""
    from spatial_api.app import create_app
    from spatial_api.local_server import free_port, serve_in_thread
    from spatial_api.settings import Settings

    old = os.environ.get("ONEMAP_DB_URL")
    if store_url:
        os.environ["ONEMAP_DB_URL"] = store_url
    else:
        os.environ.pop("ONEMAP_DB_URL", None)
    try:
        app = create_app(Settings(data_dir=data_dir, offline_check_s=0))
        with serve_in_thread(app, free_port(), start_timeout=600) as base:
            yield app, base
    finally:
        if old is None:
            os.environ.pop("ONEMAP_DB_URL", None)
        else:
            os.environ["ONEMAP_DB_URL"] = old


def _live(app: Any, base: str, ids: list[str], tag: str, alarms: bool) -> list[Row]:
    """Ingest rates over HTTP and MQTT, then (``alarms``) crossing → SSE and impact."""
    from gis.perception.mqtt import client_for

    rows: list[Row] = []
    svc = app.state.perception
    db = svc.db
    # The warm-up of the impact's layers and resident counts is a start-up cost, not
    # an alert's: wait for it.
    svc.impact_model.warm(_iso(time.time()))
    quiet = [s for s in ids if svc.sensors[s].place.sensor_type == "outfall_flow"][:40]
    # Whole minutes plus a second offset of this run: on a kept store, the readings of
    # an earlier run seldom share an instant with this run's (those would be accepted
    # and stored once, so "new" would be fewer than "accepted").
    t_base = int(time.time()) // 60 * 60 - 30 * 86400 + 1 + int(time.time()) % 59

    # The request bodies are made before the clock starts: the clients share the
    # server's process, and encoding JSON is the devices' work, not the server's.
    bodies = {(k, b): json.dumps([{"t": _iso(t_base + 60 * (k * 10_000 + b * 1000 + i)),
                                   "value": 0.01} for i in range(1000)]).encode()
              for k in range(4) for b in range(10)}

    # So are the clients (an httpx client builds its TLS context when made: ~0.3 s of
    # CPU each on the loaded machine, which the server's process would pay inside the
    # window).
    clients = [httpx.Client(timeout=120, headers={**EMERGENCY,
                                                  "Content-Type": "application/json"})
               for _ in range(4)]

    def post_batches(k: int, out: list[int]) -> None:
        c = clients[k]
        for b in range(10):
            s = quiet[(k * 10 + b) % len(quiet)]
            r = c.post(f"{base}/sensors/{s}/readings", content=bodies[k, b])
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
    for c in clients:
        c.close()
    new_http = db.count_readings() - before_http
    rows.append(Row(f"perception ({tag}): ingest over HTTP (batches of 1,000, 4 clients)",
                    f"{sum(got) / dt:,.0f} readings/s ({sum(got):,} accepted, {new_http:,} "
                    f"new, in {dt:.1f} s)", goal="≥ 20,000/s"))
    # MQTT ingest: 20,000 readings as 200 messages of 100, QoS 1.
    rt = app.state.perception_rt
    mq = client_for(rt.health()["url"], f"bench-device-{os.getpid()}")
    before = db.count_readings()
    accepted0 = int(rt.health()["received"])
    # Before the HTTP batches' window (they start at t_base): all new readings.
    messages = [json.dumps([{"t": _iso(t_base - 86400 * 25 + 60 * (m * 100 + i)),
                             "value": 0.01} for i in range(100)]) for m in range(200)]
    t0 = time.perf_counter()
    infos = []
    for m in range(200):
        s = quiet[m % len(quiet)]
        infos.append(mq.publish(f"onemap/sensors/{s}/readings", messages[m], qos=1))
    for i in infos:
        i.wait_for_publish(timeout=120)
    # Done when the server has stored all 20,000 (its bridge counts what it accepted).
    while int(rt.health()["received"]) - accepted0 < 20_000 and time.perf_counter() - t0 < 300:
        time.sleep(0.02)
    dt = time.perf_counter() - t0
    got_mqtt = int(rt.health()["received"]) - accepted0
    new_mqtt = db.count_readings() - before
    rows.append(Row(f"perception ({tag}): ingest over MQTT (messages of 100, QoS 1)",
                    f"{got_mqtt / dt:,.0f} readings/s ({got_mqtt:,} of 20,000 accepted, "
                    f"{new_mqtt:,} new, in {dt:.1f} s)", goal="≥ 20,000/s"))
    if not alarms:
        mq.disconnect()
        return rows
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
    rows.append(Row(f"perception ({tag}): crossing POST → SSE event with impact",
                    f"p50 {ms(p(lat_http, 0.5))}, p95 {ms(p(lat_http, 0.95))} "
                    f"(n={len(lat_http)})", goal="p95 ≤ 1 s"))
    rows.append(Row(f"perception ({tag}): crossing MQTT publish → SSE event with impact",
                    f"p50 {ms(p(lat_mqtt, 0.5))}, p95 {ms(p(lat_mqtt, 0.95))} "
                    f"(n={len(lat_mqtt)})"))
    rows.append(Row(f"perception ({tag}): impact computation (the same 30 alerts)",
                    f"p50 {ms(p(impacts, 0.5))}, p95 {ms(p(impacts, 0.95))}",
                    goal="p95 ≤ 300 ms"))
    return rows


def _cache() -> Path:
    return Path(os.environ.get("ONEMAP_BENCH_CACHE", "") or
                Path(tempfile.gettempdir()) / "onemap-bench-cache")


def _cached_gpkg(store: Store) -> Path:
    """The folder of a kept copy of ``store`` (and its terrain) for the perception
    figures: ``make bench`` builds a new demo each run, and the history written into
    the copy then survives for the next run (same demo fingerprint)."""
    from contextlib import closing

    from gis.store.gpkg import GeoPackageStore

    src = Path(store.path)  # type: ignore[attr-defined]
    folder = _cache() / "perception-gpkg"
    target = folder / "onemap.gpkg"
    fp = _fingerprint(store)
    if target.exists():
        kept = GeoPackageStore(target)
        try:
            if kept.get_meta().get("bench:demo_fingerprint") == fp:
                return folder
        finally:
            kept.close()
    folder.mkdir(parents=True, exist_ok=True)
    for f in folder.glob("onemap.gpkg*"):
        f.unlink()
    # SQLite's backup API also copies what the WAL holds.
    with closing(sqlite3.connect(src)) as a, closing(sqlite3.connect(target)) as b:
        a.backup(b)
    if (src.parent / "terrain.tif").exists():
        shutil.copy(src.parent / "terrain.tif", folder / "terrain.tif")
    kept = GeoPackageStore(target)
    try:
        kept.set_meta({"bench:demo_fingerprint": fp})
    finally:
        kept.close()
    return folder


def run_gpkg(store: Store) -> list[Row]:
    """The figures on a kept GeoPackage copy of ``store`` (they write readings and
    alerts, so never on the store itself)."""
    from gis.store.gpkg import GeoPackageStore

    folder = _cached_gpkg(store)
    kept = GeoPackageStore(folder / "onemap.gpkg")
    try:
        ids = sorted(kept.query("sensor", columns=["sensor_type"])["id"])
        n, dt = build_history(kept, ids)
        rows = [Row("perception (GeoPackage): readings history (15 min, one year, all "
                    f"{len(ids)} sensors)",
                    f"{n:,} readings" + (f", written in {dt:.0f} s" if dt else ", reused") +
                    f"; {PerceptionDB(kept).count_readings():,} readings in all")]
        rows += _queries(kept, ids, "GeoPackage")
    finally:
        kept.close()
    with _served(None, folder) as (app, base):
        rows += _live(app, base, ids, "GeoPackage", alarms=True)
    return rows


def _fingerprint(store: Store) -> str:
    """What identifies the demo a cached PostGIS copy was made from."""
    meta = store.get_meta()
    keep = {k: v for k, v in meta.items() if k.startswith(("rows:", "seed", "scale"))}
    return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:16]


class _KeptCluster:
    """A PostgreSQL cluster whose data folder survives the run (the bench cache)."""

    def __init__(self, folder: Path) -> None:
        from spatial_api.local_server import free_port
        from tests.pg import PG_BIN, Cluster, _as_postgres

        self.dir = folder
        self.data = folder / "data"
        self.port = free_port()
        self._as_postgres, self._bin = _as_postgres, PG_BIN
        if not (self.data / "PG_VERSION").exists():
            # A fresh cluster made the tests' way, then moved into the cache folder.
            fresh = Cluster()
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(fresh.data), "-m", "fast", "-w",
                          "stop"])
            folder.mkdir(parents=True, exist_ok=True)
            os.chmod(folder, 0o777)
            shutil.move(fresh.data, self.data)
            shutil.rmtree(fresh.dir, ignore_errors=True)
        opts = (f"-p {self.port} -k {folder} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=100 -c jit=off -c max_wal_size=4GB")
        r = _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", opts,
                          "-l", str(folder / "log"), "-w", "start"])
        if r.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {r.stderr.strip()}")
        self.base = f"postgresql://postgres@127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop the server, keeping its data."""
        self._as_postgres([str(self._bin / "pg_ctl"), "-D", str(self.data), "-m", "fast",
                           "-w", "stop"])


def _pg_database(cluster: _KeptCluster) -> str:
    import psycopg

    with psycopg.connect(cluster.base + "/postgres", autocommit=True) as conn:
        have = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [PG_DB]).fetchone()
        if not have:
            conn.execute(f"CREATE DATABASE {PG_DB} TEMPLATE onemap_template")
    return f"{cluster.base}/{PG_DB}"


def run_postgis(store: Store, data_dir: Path | None = None) -> list[Row]:
    """The same figures on PostGIS, in a kept cluster (or ``ONEMAP_BENCH_PG_URL``)."""
    import psycopg

    from gis.store.postgis import PostGISStore
    from spatial_api.cli_db import copy_store

    cache = _cache()
    url = os.environ.get("ONEMAP_BENCH_PG_URL", "")
    cluster = None
    if not url:
        cluster = _KeptCluster(cache / "perception-pg")
        url = _pg_database(cluster)
    rows: list[Row] = []
    try:
        fp = _fingerprint(store)
        pg = PostGISStore(url)
        t0 = time.perf_counter()
        copied = pg.get_meta().get("bench:demo_fingerprint") == fp
        if not copied:
            pg.close()
            if cluster is not None:  # start from an empty database
                with psycopg.connect(cluster.base + "/postgres", autocommit=True) as conn:
                    conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
                url = _pg_database(cluster)
            pg = PostGISStore(url)
            copy_store(store, pg, replace=True)
            pg.set_meta({"bench:demo_fingerprint": fp})
        dt_copy = time.perf_counter() - t0
        ids = sorted(pg.query("sensor", columns=["sensor_type"])["id"])
        n, dt = build_history(pg, ids)
        total = PerceptionDB(pg).count_readings()
        rows.append(Row("perception (PostGIS): demo copied and readings history loaded",
                        (f"demo copied in {dt_copy:.0f} s" if not copied else "demo reused") +
                        f"; {n:,} history readings" +
                        (f" loaded in {dt:.0f} s" if dt else " reused") +
                        f"; {total:,} readings in all"))
        rows += _queries(pg, ids, "PostGIS")
        pg.close()
        folder = data_dir or Path(getattr(store, "path", "data/build/onemap.gpkg")).parent
        with _served(url, folder) as (app, base):
            rows += _live(app, base, ids, "PostGIS", alarms=True)
    finally:
        if cluster is not None:
            cluster.stop()
    return rows


def run(store: Store, data_dir: Path | None = None) -> list[Row]:
    """The perception figures on GeoPackage and on PostGIS, each on a kept copy of the
    demo in ``store`` (the history is built once and reused by later runs)."""
    return run_gpkg(store) + run_postgis(store, data_dir)


if __name__ == "__main__":
    from bench.common import table
    from gis.store.gpkg import GeoPackageStore

    st = GeoPackageStore(Path(sys.argv[1]))
    try:
        if "--postgis-only" in sys.argv:
            out = run_postgis(st)
        elif "--gpkg-only" in sys.argv:
            out = run_gpkg(st)
        else:
            out = run(st)
        print(table(out))
    finally:
        st.close()
