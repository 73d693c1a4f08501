"""Bounded load test of a running OneMap server (issue 16; ``make loadtest``).

Each simulated user looks at the map: vector tiles around Luohu, items of a
small bbox, an address search, a block portrait (OGC API - Processes), and posts
a sensor reading with the emergency demo key. Between two actions a user waits
0.5-2 s (a person reading the map, not a flood of requests): 64 users make
about 50 requests a second. Request names are route templates, so Locust's
statistics are per route.

Run headless only, against 127.0.0.1, for a fixed time and user count::

    locust -f bench/locustfile.py --headless -H http://127.0.0.1:8000 \\
        -u 64 -r 16 -t 60s --csv bench/results/loadtest

Sample data (sensor ids, address texts) are read from the server at the start.
"""

from __future__ import annotations

import json
import random
import threading
import time
from typing import Any

import morecantile
import requests
from locust import HttpUser, between, events, task
from locust.env import Environment

#: The emergency role's demo key (README): it may post readings and see events.
EMERGENCY_KEY = "demo-emergency-key"
#: Central Luohu (w, s, e, n), where the demo's buildings are.
AREA = (114.095, 22.535, 114.150, 22.580)
TILE_LAYERS = ("buildings", "roads", "basemap")
ITEM_COLLECTIONS = ("buildings", "addresses", "facilities")

_TMS = morecantile.tms.get("WebMercatorQuad")
_data: dict[str, list[Any]] = {"sensors": [], "addresses": []}
_data_lock = threading.Lock()


@events.test_start.add_listener
def _load_sample(environment: Environment, **_: Any) -> None:
    """Read sensor ids and address texts once (shared by every user)."""
    host = (environment.host or "").rstrip("/")
    with _data_lock:
        if _data["sensors"]:
            return
        r = requests.get(f"{host}/ogc/collections/sensors/items",
                         params={"limit": "200", "f": "json"},
                         headers={"X-API-Key": EMERGENCY_KEY}, timeout=60)
        r.raise_for_status()
        # Parking counters take integers up to the lot's capacity; the others a level.
        _data["sensors"] = [
            (f["properties"].get("id") or f["id"], f["properties"].get("threshold"))
            for f in r.json()["features"]]
        r = requests.get(f"{host}/ogc/collections/addresses/items",
                         params={"limit": "200", "f": "json", "bbox": ",".join(map(str, AREA))},
                         timeout=60)
        r.raise_for_status()
        _data["addresses"] = [f["properties"]["address"] for f in r.json()["features"]
                              if f["properties"].get("address")]


def _point() -> tuple[float, float]:
    return random.uniform(AREA[0], AREA[2]), random.uniform(AREA[1], AREA[3])


class MapUser(HttpUser):
    """One person using the map (see the module docstring)."""

    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        """Each route once as the user arrives, so every route of the mix is measured in
        any run (a short run could otherwise draw no request of a rare task)."""
        for step in (self.tile, self.items, self.geocode, self.process, self.reading):
            step()

    @task(6)
    def tile(self) -> None:
        """A vector tile at z14-16 over central Luohu."""
        z = random.choice((14, 15, 16))
        t = _TMS.tile(*_point(), z)
        layer = random.choice(TILE_LAYERS)
        self.client.get(f"/tiles/{layer}/{z}/{t.x}/{t.y}.mvt",
                        headers={"Accept-Encoding": "gzip"}, name="/tiles/{layers}/{z}/{x}/{y}.mvt")

    @task(3)
    def items(self) -> None:
        """Items of one collection in a bbox of about 300 m."""
        lon, lat = _point()
        coll = random.choice(ITEM_COLLECTIONS)
        self.client.get(f"/ogc/collections/{coll}/items",
                        params={"bbox": f"{lon:.5f},{lat:.5f},{lon + 0.003:.5f},{lat + 0.003:.5f}",
                                "limit": 50, "f": "json"},
                        name="/ogc/collections/{id}/items")

    @task(2)
    def geocode(self) -> None:
        """An address search with one of the demo's standard address texts."""
        if not _data["addresses"]:
            return
        self.client.get("/address/geocode", params={"q": random.choice(_data["addresses"])},
                        name="/address/geocode")

    @task(1)
    def process(self) -> None:
        """The portrait of the H3 block (res 9) at a point (OGC API - Processes)."""
        lon, lat = _point()
        body = {"inputs": {"lon": lon, "lat": lat, "res": 9}}
        self.client.post("/ogc/processes/block-portrait/execution", data=json.dumps(body),
                         headers={"Content-Type": "application/json"},
                         name="/ogc/processes/{id}/execution")

    @task(2)
    def reading(self) -> None:
        """One reading of a sensor, below its alarm threshold, with the emergency key."""
        if not _data["sensors"]:
            return
        sid, threshold = random.choice(_data["sensors"])
        level = float(threshold) * 0.5 if threshold else 0.0
        value = round(level * random.uniform(0.2, 1.0), 3)
        reading = {"t": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "value": value}
        self.client.post(f"/sensors/{sid}/readings", data=json.dumps(reading),
                         headers={"Content-Type": "application/json",
                                  "X-API-Key": EMERGENCY_KEY},
                         name="/sensors/{id}/readings")
