"""``onemap sensors``: device keys, bulk history, and the storm simulator."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import click

from spatial_api.cli_report import data_dir_option, report


@click.group()
def sensors() -> None:
    """Sensors: device keys, readings history, storm simulation."""


@sensors.command("keys")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="CSV of sensor_id,key (default: DATA_DIR/sensor_keys.csv, "
              "outside the tracked files).")
@click.option("--mosquitto-passwd", "passwd", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Also write a Mosquitto password file (user = sensor id).")
@data_dir_option
def keys(out_path: Path | None, passwd: Path | None, data_dir: Path | None) -> None:
    """Make a new device key for every sensor; store their hashes, write the keys to OUT."""
    from gis.perception.db import PerceptionDB
    from gis.perception.service import key_hash
    from spatial_api.cli import _settings, _store

    out = out_path or _settings(data_dir).data_dir / "sensor_keys.csv"
    import secrets

    with _store(data_dir) as store:
        db = PerceptionDB(store)
        db.ensure_schema()
        ids = sorted(store.query("sensor", columns=["id"])["id"])
        made = {sid: secrets.token_urlsafe(24) for sid in ids}
        db.set_keys({sid: key_hash(k) for sid, k in made.items()})
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("sensor_id,key\n" + "".join(f"{s},{k}\n" for s, k in made.items()),
                   encoding="utf-8")
    out.chmod(0o600)
    click.echo(f"{len(made)} device keys written to {out}")
    if passwd is not None:
        passwd.write_text("".join(f"{s}:{k}\n" for s, k in made.items()), encoding="utf-8")
        passwd.chmod(0o600)
        tool = shutil.which("mosquitto_passwd")
        if tool:  # hash the plain passwords in place (mosquitto_passwd -U)
            subprocess.run([tool, "-U", str(passwd)], check=True)
        click.echo(f"Mosquitto password file written to {passwd}")


@sensors.command("ingest")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@data_dir_option
def ingest(file: Path, data_dir: Path | None) -> None:
    """Load a readings history CSV (sensor_id,t,value) in one transaction."""
    from gis.errors import CoreError
    from gis.perception.bulk import ingest_readings, read_readings_csv
    from spatial_api.cli import _store

    with _store(data_dir) as store:
        known = set(store.query("sensor", columns=["id"])["id"])
        try:
            frame = read_readings_csv(file, known)
            t0 = time.perf_counter()
            n = ingest_readings(store, frame)
        except CoreError as exc:
            raise click.ClickException(exc.message) from None
    dt = time.perf_counter() - t0
    click.echo(f"{len(frame)} readings read, {n} new stored in {dt:.1f} s "
               f"({len(frame) / max(dt, 1e-9):,.0f} rows/s)")


@sensors.command("simulate")
@click.option("--storm", is_flag=True, required=True, help="Replay a storm across the district.")
@click.option("--url", default="http://127.0.0.1:8000", show_default=True,
              help="Server to post to (HTTP) or read sensors from.")
@click.option("--via", type=click.Choice(["http", "mqtt"]), default="http", show_default=True)
@click.option("--mqtt-url", default="", help="Broker for --via mqtt (default: the server's).")
@click.option("--api-key", default="demo-emergency-key", show_default=True,
              help="An emergency/admin API key (posts for every sensor).")
@click.option("--speed", type=float, default=60.0, show_default=True,
              help="Simulated seconds per real second (0: as fast as possible).")
@click.option("--minutes", type=int, default=360, show_default=True,
              help="Simulated storm duration.")
@click.option("--seed", type=int, default=42, show_default=True)
def simulate(storm: bool, url: str, via: str, mqtt_url: str, api_key: str, speed: float,
             minutes: int, seed: int) -> None:
    """Replay a storm through HTTP or MQTT so the map comes alive."""
    import httpx

    from gis.perception.simulate import SimSensor
    from gis.perception.simulate import storm as make_storm

    feats = []
    nxt: str | None = f"{url}/ogc/collections/sensors/items?limit=1000&f=json"
    while nxt:
        page = httpx.get(nxt, headers={"X-API-Key": api_key}, timeout=60).json()
        feats += page["features"]
        nxt = next((lk["href"] for lk in page.get("links", []) if lk.get("rel") == "next"),
                   None)
    sims = [SimSensor(f["id"], f["properties"]["sensor_type"], f["geometry"]["coordinates"][0],
                      f["geometry"]["coordinates"][1],
                      float(f["properties"].get("threshold") or 1.0)) for f in feats]
    client = None
    if via == "mqtt":
        from gis.perception.mqtt import client_for

        broker = mqtt_url or httpx.get(f"{url}/health").json()["mqtt"].get("url")
        if not broker:
            raise click.ClickException("the server has no MQTT broker; use --via http")
        client = client_for(broker, "onemap-simulator")
    t_real0 = time.time()
    start = t_real0 - (minutes * 60 if speed == 0 else 0)
    sent = 0
    with httpx.Client(timeout=60, headers={"X-API-Key": api_key}) as http:
        for t, values in make_storm(sims, start=start, duration_min=minutes, seed=seed):
            if speed > 0:  # wait for the simulated instant (never post the future)
                time.sleep(max(0.0, t_real0 + (t - start) / speed - time.time()))
                t = min(t, time.time())
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
            for sid, v in values:
                body = {"t": stamp, "value": v}
                if client is not None:
                    client.publish(f"onemap/sensors/{sid}/readings", json.dumps(body), qos=1)
                else:
                    r = http.post(f"{url}/sensors/{sid}/readings", json=body)
                    if r.status_code != 201:
                        raise click.ClickException(f"{sid}: {r.status_code} {r.text}")
                sent += 1
            click.echo(f"{stamp}: {len(values)} readings")
    if client is not None:
        client.disconnect()
    click.echo(f"{sent} readings sent via {via}")


@report.command("alert")
@click.argument("alert_id", type=int)
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="HTML file to write.")
@data_dir_option
def alert_report(alert_id: int, out_path: Path, data_dir: Path | None) -> None:
    """Write the one-page warning of alert ALERT_ID (offline HTML)."""
    from gis.perception.db import PerceptionDB
    from gis.perception.impact import ImpactModel, SensorPlace
    from spatial_api.cli import _settings, _store
    from viewer.alert_report import render_alert_report

    with _store(data_dir) as store:
        db = PerceptionDB(store)
        alert = db.alert(alert_id) if db.has_tables() else None
        if alert is None:
            raise click.ClickException(f"no alert {alert_id}")
        s = store.get("sensor", alert.sensor_id)
        pt = s.geometry.iloc[0]
        impact = db.impact(alert_id)
        if impact is None:  # an offline alert, or one from before impacts were stored
            terrain = _settings(data_dir).data_dir / store.get_meta().get("terrain", "")
            place = SensorPlace(alert.sensor_id, str(s["sensor_type"].iloc[0]), pt.x, pt.y,
                                s["water_body"].iloc[0] if "water_body" in s else None,
                                alert.threshold or float(s["threshold"].iloc[0]))
            impact = ImpactModel(store, terrain).impact(alert_id, place, alert.value or 0.0,
                                                        alert.started_at)
        page = render_alert_report(alert.as_dict(), impact, (pt.x, pt.y))
    tmp = out_path.with_suffix(out_path.suffix + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out_path)
    click.echo(f"wrote {out_path} ({len(page):,} bytes)")
