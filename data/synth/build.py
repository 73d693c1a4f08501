"""``onemap demo build``: generate the synthetic Luohu demo and ingest it into a new store.

The store is written to a temporary file next to the target and renamed into
place only when every stage has succeeded, so a failed or interrupted build
never leaves a half-written store behind. Same seed and scale → same content
(see :func:`gis.store.content_hash`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from gis.store.gpkg import GeoPackageStore, remove_store_files

#: Stage names in build order (for the progress bar).
STAGES = (
    "geography", "houses", "persons", "enterprises", "industrial spaces", "events",
    "sensors", "readings", "finish",
)

TERRAIN_FILE = "terrain.tif"


@dataclass
class BuildReport:
    """What a build produced and how long each stage took."""

    path: Path
    seed: int
    scale: float
    seconds: float
    stage_seconds: dict[str, float] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)


StageCallback = Callable[[str, int, int], None]


def build_demo(
    data_dir: Path,
    *,
    scale: float = 1.0,
    seed: int = 42,
    store_file: str = "onemap.gpkg",
    on_stage: StageCallback | None = None,
) -> BuildReport:
    """Build the demo store ``data_dir/store_file`` and the terrain GeoTIFF beside it.

    ``on_stage(name, index, total)`` is called as each stage starts.
    """
    from data.synth import activity, census, geography, parking, people

    if not 0 < scale <= 2:
        raise ValueError("scale must be in (0, 2]")
    data_dir.mkdir(parents=True, exist_ok=True)
    final = data_dir / store_file
    tmp = data_dir / (store_file + ".building")
    remove_store_files(tmp)
    t_start = time.perf_counter()
    times: dict[str, float] = {}
    rows: dict[str, int] = {}
    store = GeoPackageStore(tmp, create=True, bulk=True)

    def stage(name: str) -> None:
        if on_stage is not None:
            on_stage(name, STAGES.index(name), len(STAGES))

    def timed(name: str, t0: float) -> None:
        times[name] = round(time.perf_counter() - t0, 3)

    def put(kind: str, frame: pd.DataFrame) -> None:
        store.ingest(kind, frame)
        rows[kind] = len(frame)

    try:
        t0 = time.perf_counter()
        stage("geography")
        geo = geography.build_geography(seed, scale)
        for kind, frame in (
            ("district", geo.district), ("subdistrict", geo.subdistricts),
            ("community", geo.communities), ("grid", geo.grids), ("road", geo.roads),
            ("water", geo.water), ("building", geo.buildings), ("facility", geo.facilities),
        ):
            put(kind, frame)
        geo.terrain.write_geotiff(data_dir / TERRAIN_FILE)
        timed("geography", t0)

        t0 = time.perf_counter()
        stage("houses")
        houses = people.build_houses(geo.buildings, seed, scale)
        put("house", houses)
        timed("houses", t0)

        t0 = time.perf_counter()
        stage("persons")
        persons = people.build_persons(houses, geo.buildings, census.load_census(), seed, scale)
        put("person", persons)
        del persons
        timed("persons", t0)

        t0 = time.perf_counter()
        stage("enterprises")
        put("enterprise", activity.build_enterprises(geo.buildings, houses, seed, scale))
        timed("enterprises", t0)

        t0 = time.perf_counter()
        stage("industrial spaces")
        put("industrial_space", activity.build_industrial_spaces(geo.buildings, seed, scale))
        timed("industrial spaces", t0)

        t0 = time.perf_counter()
        stage("events")
        put("event", activity.build_events(geo.buildings, geo.roads, geo.communities, seed,
                                           scale))
        timed("events", t0)

        t0 = time.perf_counter()
        stage("sensors")
        sensors = activity.build_sensors(geo.roads, geo.water, geo.buildings, seed, scale)
        lot_sensors = parking.build_parking_sensors(geo.facilities)
        put("sensor", pd.concat([sensors, lot_sensors], ignore_index=True))
        timed("sensors", t0)

        t0 = time.perf_counter()
        stage("readings")
        put("reading", pd.concat([activity.build_readings(sensors, seed, scale),
                                  parking.build_parking_readings(lot_sensors, geo.facilities,
                                                                 seed)], ignore_index=True))
        timed("readings", t0)

        t0 = time.perf_counter()
        stage("finish")
        store.set_meta({
            "build_time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "seed": str(seed),
            "scale": repr(scale),
            "generator": "onemap demo build",
            "terrain": TERRAIN_FILE,
        })
        store.finish_bulk()
        timed("finish", t0)
    except BaseException:
        store.close()
        remove_store_files(tmp)
        raise
    store.close()
    remove_store_files(final)
    tmp.replace(final)
    return BuildReport(final, seed, scale, round(time.perf_counter() - t_start, 3), times, rows)
