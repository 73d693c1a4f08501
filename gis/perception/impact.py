"""The area an alert affects, and who and what is in it as of the alert's time.

Area models (assumptions in docs/perception.md):

- ``flood`` (waterlogging, rainwater-pipe flow): a bathtub flood fill on the terrain
  raster. The water surface is the ground at the sensor plus a depth implied by the
  reading (waterlogging: the reading itself in metres; pipe flow: ``PIPE_DEPTH_M`` ×
  value/threshold, a surcharged pipe backing up onto the street). The flooded area is
  the set of cells below that surface and 4-connected to the sensor's cell
  (``scipy.ndimage.label``), inside a disc of ``FLOOD_RADIUS_M`` so a deep reading on
  low ground cannot flood the whole district; polygonised with ``rasterio.features``.
- ``river`` (outfall flow, water quality): the same fill restricted to the river
  corridor (the water body of the sensor buffered by ``BANK_M``) and to cells no higher
  than the sensor's ground plus ``RIVER_TOL_M``: water runs downhill, so the connected
  low cells are the reach downstream (and the level water beside it), up to
  ``REACH_M`` away.
- ``fire`` (smoke, temperature, electrical fire): the building holding the sensor and
  every building within ``FIRE_NEIGHBOUR_M`` of it; the nearest ``FIRE_STATIONS`` fire
  stations are listed among the facilities to notify.

Counts: buildings, enterprises, facilities and roads intersecting the area; persons
through the building of their house (``building_id``; per-building resident counts
are computed once per day from one scan of the persons table), all valid at the
alert's instant.

Speed (the one-second warning): the four counted layers are loaded once per day as
geometry arrays with a shapely ``STRtree`` each (their valid times are dates, so one
snapshot answers every instant of a day, exactly as the store's ``as_of`` filter
would), and an alert's counts are then index queries with the exact ``intersects``
predicate the store uses. A write to one of those kinds drops its snapshot (the
store's write listeners), so the next alert reloads it.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import rasterio
import rasterio.features
import shapely
from affine import Affine
from scipy import ndimage
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from gis.crs import METRIC_CRS, from_metric, to_metric, transformer
from gis.store.base import Store

FLOOD_RADIUS_M = 1500.0
PIPE_DEPTH_M = 0.3
BANK_M = 60.0
REACH_M = 2000.0
RIVER_TOL_M = 0.5
FIRE_NEIGHBOUR_M = 50.0
FIRE_STATIONS = 2

WATER_TYPES = {"waterlogging", "rainwater_pipe_flow"}
RIVER_TYPES = {"outfall_flow", "water_quality"}
FIRE_TYPES = {"smoke", "temperature", "electrical_fire"}


#: The kinds an impact counts, with the columns it reports.
LAYERS: dict[str, tuple[str, ...]] = {
    "building": ("id",), "enterprise": ("id",), "facility": ("id", "name", "facility_type"),
    "road": ("id",),
}


@dataclass
class Layer:
    """One kind's entities valid on one day, with a spatial index over them."""

    day: str
    geoms: np.ndarray
    tree: shapely.STRtree
    cols: dict[str, np.ndarray]

    def hits(self, area: BaseGeometry) -> np.ndarray:
        """Positions of the entities intersecting ``area`` (the store's predicate),
        in load order."""
        return np.sort(self.tree.query(area, predicate="intersects"))


@dataclass(frozen=True)
class SensorPlace:
    """What the impact models need to know about a sensor."""

    id: str
    sensor_type: str
    lon: float
    lat: float
    water_body: str | None
    threshold: float


def model_of(sensor_type: str) -> str:
    """The area model of a sensor type: ``flood``, ``river`` or ``fire``."""
    if sensor_type in WATER_TYPES:
        return "flood"
    if sensor_type in RIVER_TYPES:
        return "river"
    return "fire"


def _metric_buffer(geom: BaseGeometry, metres: float) -> BaseGeometry:
    """``geom`` buffered by ``metres`` (computed in the metric CRS, returned in WGS84)."""
    m = shapely.transform(geom, lambda xy: np.column_stack(to_metric(xy[:, 0], xy[:, 1])))
    out = shapely.transform(m.buffer(metres, quad_segs=8),
                            lambda xy: np.column_stack(from_metric(xy[:, 0], xy[:, 1])))
    return out


class ImpactModel:
    """Area models and counts over one store and terrain raster (loaded once)."""

    def __init__(self, store: Store, terrain_path: Path | None) -> None:
        self.store = store
        self.elev: np.ndarray | None = None
        if terrain_path is not None and terrain_path.exists():
            with rasterio.open(terrain_path) as src:
                self.elev = src.read(1).astype(np.float64)
                nodata = src.nodata
                self.transform = src.transform
                self.res = src.res
            if nodata is not None:
                self.elev[self.elev == nodata] = np.nan
        self._water: dict[str, BaseGeometry] | None = None
        self._residents: dict[str, pd.DataFrame] = {}
        self._corridors: dict[str, BaseGeometry | None] = {}
        self._res_lock = threading.Lock()
        self._layers: dict[str, Layer] = {}
        self._layer_lock = threading.Lock()
        listeners = getattr(store, "write_listeners", None)
        if listeners is not None:
            listeners.append(self._on_write)

    def _on_write(self, kind: str, _area: Any) -> None:
        """A write to a counted kind drops its snapshot (reloaded by the next alert)."""
        if kind in LAYERS:
            self._layers.pop(kind, None)

    def layer(self, kind: str, at: str) -> Layer:
        """The snapshot of ``kind`` valid at ``at``; loaded once per day. The kinds'
        valid times are dates, so every instant of a day selects the same rows."""
        day = at[:10]
        hit = self._layers.get(kind)
        if hit is not None and hit.day == day:
            return hit
        with self._layer_lock:
            hit = self._layers.get(kind)
            if hit is not None and hit.day == day:
                return hit
            cols = [c for c in LAYERS[kind] if c != "id"]
            df = self.store.query(kind, as_of=at, columns=cols)
            geoms = np.asarray(df.geometry.values, dtype=object)
            out = Layer(day, geoms, shapely.STRtree(geoms),
                        {c: df[c].to_numpy() for c in LAYERS[kind]})
            self._layers[kind] = out
            return out

    def warm(self, at: str) -> None:
        """Load what the first alert of the day would otherwise wait for: the resident
        counts, the layer snapshots, the river corridors and the CRS transformers."""
        self.residents(at[:10])
        for kind in LAYERS:
            self.layer(kind, at)
        transformer("EPSG:4326", METRIC_CRS)
        transformer(METRIC_CRS, "EPSG:4326")
        if self.elev is not None:
            w = self.store.query("water", columns=["name"])
            for name in w["name"]:
                self._corridor(str(name))

    def residents(self, day: str) -> pd.DataFrame:
        """Per building: persons, persons_65_plus, children_under_15 and households
        valid on ``day`` (persons' valid times are dates, so one table serves every
        instant of the day). One scan of the persons table per day, kept in memory:
        the per-alert cost is then a lookup of the hit buildings."""
        with self._res_lock:
            hit = self._residents.get(day)
            if hit is not None:
                return hit
            from gis.perception.db import PerceptionDB

            rows = PerceptionDB(self.store)._fetch(
                "SELECT building_id, birth_date, household_id FROM persons "
                "WHERE valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)", (day, day))
            p = pd.DataFrame.from_records(rows, columns=["building_id", "birth_date",
                                                         "household_id"])
            d = date.fromisoformat(day)
            born = pd.to_datetime(p["birth_date"], errors="coerce")
            age = d.year - born.dt.year - (
                (born.dt.month > d.month) | ((born.dt.month == d.month) & (born.dt.day > d.day)))
            p = p.assign(p65=age >= 65, u15=age < 15)
            g = p.groupby("building_id")
            out = pd.DataFrame({"persons": g.size(), "persons_65_plus": g["p65"].sum(),
                                "children_under_15": g["u15"].sum(),
                                "households": g["household_id"].nunique()})
            self._residents = {day: out}  # one day at a time (the alerts' day)
            return out

    # -- area models ----------------------------------------------------------

    def _fill(self, s: SensorPlace, surface_above_ground: float, radius_m: float,
              corridor: BaseGeometry | None = None) -> BaseGeometry | None:
        """Cells below the sensor's ground + ``surface_above_ground``, connected to the
        sensor, within ``radius_m`` (and inside ``corridor``), as one (multi)polygon."""
        if self.elev is None:
            return None
        row, col = rasterio.transform.rowcol(self.transform, s.lon, s.lat)
        h, w = self.elev.shape
        if not (0 <= row < h and 0 <= col < w):
            return None
        # A bounded window around the sensor (radius in cells, from the cell size).
        dy = radius_m / 111_320.0 / self.res[1]
        dx = radius_m / (111_320.0 * math.cos(math.radians(s.lat))) / self.res[0]
        r0, r1 = max(0, row - int(dy) - 1), min(h, row + int(dy) + 2)
        c0, c1 = max(0, col - int(dx) - 1), min(w, col + int(dx) + 2)
        win = self.elev[r0:r1, c0:c1]
        rr, cc = np.mgrid[r0:r1, c0:c1]
        disc = ((rr - row) / dy) ** 2 + ((cc - col) / dx) ** 2 <= 1.0
        ground = self.elev[row, col]
        if not np.isfinite(ground):
            return None
        wet = (win <= ground + surface_above_ground) & disc & np.isfinite(win)
        wtrans = self.transform @ Affine.translation(c0, r0)  # the window's transform
        if corridor is not None:
            wet &= rasterio.features.geometry_mask(
                [mapping(corridor)], out_shape=wet.shape, transform=wtrans, invert=True,
                all_touched=True)
        wet[row - r0, col - c0] = True  # the sensor's own cell is wet by definition
        labels, _ = ndimage.label(wet)
        comp = labels == labels[row - r0, col - c0]
        polys = [shape(g) for g, v in rasterio.features.shapes(
            comp.astype(np.uint8), mask=comp, transform=wtrans) if v == 1]
        return shapely.union_all(polys) if polys else None

    def _river(self, name: str | None) -> BaseGeometry | None:
        if self._water is None:
            w = self.store.query("water", columns=["name"])
            self._water = {str(n): g for n, g in zip(w["name"], w.geometry, strict=True)}
        return self._water.get(str(name)) if name else None

    def _corridor(self, name: str | None) -> BaseGeometry | None:
        """The water body with its banks (cached: rivers do not move)."""
        key = str(name)
        if key not in self._corridors:
            river = self._river(name)
            self._corridors[key] = (_metric_buffer(river, BANK_M) if river is not None
                                    else None)
        return self._corridors[key]

    def area(self, s: SensorPlace, value: float,
             at: str) -> tuple[BaseGeometry, list[dict[str, Any]]]:
        """The affected area and the extra facilities to notify (fire stations)."""
        kind = model_of(s.sensor_type)
        pt = shapely.Point(s.lon, s.lat)
        extra: list[dict[str, Any]] = []
        area: BaseGeometry | None = None
        if kind == "flood":
            depth = value if s.sensor_type == "waterlogging" else (
                PIPE_DEPTH_M * value / max(s.threshold, 1e-9))
            area = self._fill(s, max(depth, 0.0), FLOOD_RADIUS_M)
        elif kind == "river":
            corridor = self._corridor(s.water_body)
            area = self._fill(s, RIVER_TOL_M, REACH_M, corridor)
        else:
            bl = self.layer("building", at)
            near = bl.geoms[bl.hits(_metric_buffer(pt, 5.0))]
            home = shapely.union_all(near) if len(near) else pt
            area = _metric_buffer(home, FIRE_NEIGHBOUR_M)
            extra = self._fire_stations(s, at)
        if area is None or area.is_empty:
            area = _metric_buffer(pt, 30.0)  # no terrain: the sensor's surroundings
        return shapely.make_valid(area), extra

    def _fire_stations(self, s: SensorPlace, at: str) -> list[dict[str, Any]]:
        """The ``FIRE_STATIONS`` nearest fire stations by metric distance (EPSG:4547,
        as ``Store.nearest`` measures), from the day's facility snapshot: the stations
        are a few dozen, so measuring to all of them beats a growing window query."""
        f = self.layer("facility", at)
        sel = np.flatnonzero(f.cols["facility_type"] == "fire_station")
        if not len(sel):
            return []
        fwd = transformer("EPSG:4326", METRIC_CRS)
        px, py = fwd.transform(s.lon, s.lat)
        xy = shapely.get_coordinates(f.geoms[sel])
        mx, my = fwd.transform(xy[:, 0], xy[:, 1])
        dist = np.round(np.hypot(np.asarray(mx) - px, np.asarray(my) - py), 2)
        order = np.lexsort((sel, dist))[:FIRE_STATIONS]
        return [{"id": f.cols["id"][sel[i]], "name": f.cols["name"][sel[i]],
                 "type": "fire_station", "distance_m": round(float(dist[i]), 1)}
                for i in order]

    # -- counts ---------------------------------------------------------------

    def impact(self, alert_id: int, s: SensorPlace, value: float, at: str) -> dict[str, Any]:
        """The impact document of an alert (see ``GET /alerts/{id}/impact``)."""
        t0 = time.perf_counter()
        area, extra = self.area(s, value, at)
        bl = self.layer("building", at)
        b_ids = bl.cols["id"][bl.hits(area)]
        res = self.residents(at[:10])
        hit = res.reindex(pd.Index(pd.unique(b_ids))).fillna(0)
        fl = self.layer("facility", at)
        fi = fl.hits(area)
        facilities = [{"id": i, "name": n, "type": t} for i, n, t in
                      zip(fl.cols["id"][fi], fl.cols["name"][fi],
                          fl.cols["facility_type"][fi], strict=True)]
        seen = {x["id"] for x in facilities}
        facilities += [x for x in extra if x["id"] not in seen]
        rl = self.layer("road", at)
        roads = rl.cols["id"][rl.hits(area)]
        el = self.layer("enterprise", at)
        return {
            "alert_id": alert_id,
            "model": model_of(s.sensor_type),
            "as_of": at,
            "area": mapping(area),
            "buildings": len(b_ids),
            "persons": int(hit["persons"].sum()),
            "persons_65_plus": int(hit["persons_65_plus"].sum()),
            "children_under_15": int(hit["children_under_15"].sum()),
            # A household lives in one house, hence one building: the sum is exact.
            "households": int(hit["households"].sum()),
            "enterprises": len(el.hits(area)),
            "facilities": facilities,
            "roads": sorted(str(r) for r in roads),
            "computed_ms": round((time.perf_counter() - t0) * 1000, 1),
        }
