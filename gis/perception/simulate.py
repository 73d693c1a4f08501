"""A storm crossing the district, as readings of the water sensors (the demo's live mode).

A rain cell (Gaussian, ``radius_m``) moves from the west edge of the sensors to the east
edge over ``duration_min`` simulated minutes. Each water sensor reads its dry-weather
base plus ``peak`` × threshold × the cell's intensity at the sensor, so the sensors
under the cell's track cross their thresholds and clear again after it has passed.
Fire sensors are left alone. Deterministic for a seed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from gis.crs import to_metric

WATER = ("waterlogging", "rainwater_pipe_flow", "outfall_flow", "water_quality")


@dataclass(frozen=True)
class SimSensor:
    """A sensor as the simulator needs it."""

    id: str
    sensor_type: str
    lon: float
    lat: float
    threshold: float


def storm(sensors: list[SimSensor], *, start: float, step_s: int = 900,
          duration_min: int = 360, radius_m: float = 2500.0, peak: float = 1.8,
          seed: int = 42) -> Iterator[tuple[float, list[tuple[str, float]]]]:
    """Yield ``(t, [(sensor_id, value), ...])`` per simulated step."""
    ws = [s for s in sensors if s.sensor_type in WATER]
    if not ws:
        return
    x, y = to_metric(np.array([s.lon for s in ws]), np.array([s.lat for s in ws]))
    thr = np.array([s.threshold for s in ws])
    rng = np.random.default_rng(seed)
    base = thr * rng.uniform(0.05, 0.3, len(ws))
    y0 = float(np.median(y)) + rng.uniform(-1000, 1000)
    steps = max(1, duration_min * 60 // step_s)
    for k in range(steps + 1):
        cx = x.min() + (x.max() - x.min()) * k / steps
        d2 = (x - cx) ** 2 + (y - y0) ** 2
        inten = np.exp(-d2 / (2 * radius_m**2))
        vals = base + peak * thr * inten + thr * 0.02 * rng.standard_normal(len(ws))
        yield start + k * step_s, [(s.id, round(float(max(v, 0.0)), 4))
                                   for s, v in zip(ws, vals, strict=True)]
