"""Synthetic terrain of Luohu: 梧桐山 in the east, hills, low ground by the rivers.

The model is a smooth sum of landforms evaluated in metres (EPSG:4547) on a
WGS84 grid of 0.0003° (about 30 m) pixels:

- low ground rising gently from 深圳河 (about 3 m) northwards (about 30 m);
- 梧桐山 (Wutong mountain), a broad ridge running south-west → north-east with
  its 944 m summit at the anchor point, plus named hills (银湖山, the hills
  round 深圳水库, 布心, 黄贝岭 ...);
- low-amplitude seeded noise, stronger on the hills than on the plain;
- valleys carved along river centrelines and flat lake surfaces, when the
  caller passes them (the geography passes 布吉河 and 深圳水库).

The result is a float32 array with a rasterio affine transform; it is
deterministic for a seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import shapely
from affine import Affine

from gis.crs import to_metric

STAGE_TERRAIN = 101

#: Pixel size in degrees (about 31 m east-west, 33 m north-south at 22.5°N).
PIXEL_DEG = 0.0003

#: Raster bounds (west, south, east, north): the district bbox
#: (114.061–114.215 E, 22.530–22.619 N) with a margin of about 0.006°.
DEFAULT_BOUNDS = (114.0550, 22.5230, 114.2215, 22.6258)

#: 梧桐山 summit (lon, lat, metres above sea level).
WUTONG_PEAK = (114.2075, 22.5825, 944.0)

NODATA = -9999.0

# Hills: lon, lat, height m, sigma along the axis m, sigma across m, axis azimuth
# in degrees counter-clockwise from east.
_HILLS: tuple[tuple[float, float, float, float, float, float], ...] = (
    (114.1935, 22.5960, 560.0, 1500.0, 800.0, 45.0),  # 小梧桐 ridge, NE of the summit
    (114.1860, 22.5770, 300.0, 900.0, 600.0, 30.0),   # 梧桐山 south-west spur above 莲塘
    (114.1700, 22.5860, 300.0, 900.0, 700.0, 10.0),   # 仙湖 slopes
    (114.0830, 22.5950, 360.0, 1000.0, 750.0, 30.0),  # 银湖山 (north-west)
    (114.1600, 22.5960, 260.0, 1100.0, 700.0, 10.0),  # hills north of 深圳水库
    (114.1350, 22.5920, 190.0, 900.0, 600.0, -20.0),  # 布心 / 东晓 hills
    (114.1640, 22.5660, 170.0, 700.0, 500.0, 30.0),   # hills between the reservoir and 莲塘
    (114.1430, 22.5630, 80.0, 500.0, 400.0, 0.0),     # 东湖公园 hill
    (114.1050, 22.5900, 120.0, 600.0, 500.0, 0.0),    # 清水河 hill
    (114.1480, 22.5510, 60.0, 380.0, 300.0, 0.0),     # 黄贝岭
)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Valley:
    """A river valley carved into the terrain: floor level from start to end of the line."""

    line: shapely.LineString  # lon/lat
    floor_start_m: float
    floor_end_m: float
    half_width_m: float = 450.0


@dataclass(frozen=True)
class Lake:
    """A flat water surface (lon/lat polygon) at ``level_m``."""

    polygon: shapely.Polygon | shapely.MultiPolygon
    level_m: float


@dataclass(frozen=True)
class Terrain:
    """A north-up elevation raster in WGS84 (metres above sea level, float32)."""

    elevation: npt.NDArray[np.float32]
    transform: Affine
    crs: str = "EPSG:4326"
    nodata: float = NODATA

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) of the raster."""
        rows, cols = self.elevation.shape
        return int(rows), int(cols)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) in degrees."""
        rows, cols = self.shape
        west, north = self.transform.c, self.transform.f
        return (west, north + rows * self.transform.e, west + cols * self.transform.a, north)

    def elevation_at(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> FloatArray:
        """Bilinear elevation (m) at lon/lat (vectorised; clamped to the raster edge)."""
        lon_a = np.asarray(lon, dtype=np.float64)
        lat_a = np.asarray(lat, dtype=np.float64)
        rows, cols = self.shape
        # Pixel centres sit at half-pixel offsets from the transform origin.
        fc = (lon_a - self.transform.c) / self.transform.a - 0.5
        fr = (lat_a - self.transform.f) / self.transform.e - 0.5
        fc = np.clip(fc, 0.0, cols - 1.000001)
        fr = np.clip(fr, 0.0, rows - 1.000001)
        c0 = np.floor(fc).astype(np.intp)
        r0 = np.floor(fr).astype(np.intp)
        tc = fc - c0
        tr = fr - r0
        z = self.elevation.astype(np.float64)
        top = z[r0, c0] * (1 - tc) + z[r0, c0 + 1] * tc
        bottom = z[r0 + 1, c0] * (1 - tc) + z[r0 + 1, c0 + 1] * tc
        return np.asarray(top * (1 - tr) + bottom * tr)

    def write_geotiff(self, path: str | Path) -> Path:
        """Write a single-band float32 GeoTIFF (EPSG:4326, nodata set, deflate)."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        rows, cols = self.shape
        profile = {
            "driver": "GTiff", "width": cols, "height": rows, "count": 1,
            "dtype": "float32", "crs": self.crs, "transform": self.transform,
            "nodata": self.nodata, "compress": "deflate", "predictor": 3,
            "tiled": True, "blockxsize": 256, "blockysize": 256,
        }
        import rasterio  # only to write the file: the city build on bare workers skips it

        with rasterio.open(out, "w", **profile) as dst:
            dst.write(self.elevation.astype(np.float32), 1)
            dst.update_tags(1, units="metre", description="synthetic elevation of Luohu")
        return out


def _smoothstep(t: FloatArray) -> FloatArray:
    t = np.clip(t, 0.0, 1.0)
    return np.asarray(t * t * (3 - 2 * t))


def _landform(x: FloatArray, y: FloatArray, cx: float, cy: float, height: float,
              s_along: float, s_across: float, azimuth_deg: float,
              exponent: float) -> FloatArray:
    a = np.deg2rad(azimuth_deg)
    dx, dy = x - cx, y - cy
    u = (dx * np.cos(a) + dy * np.sin(a)) / s_along
    v = (-dx * np.sin(a) + dy * np.cos(a)) / s_across
    return np.asarray(height * np.exp(-((u * u + v * v) ** exponent)))


def _to_metric_coords(c: FloatArray) -> FloatArray:
    return np.column_stack(to_metric(c[:, 0], c[:, 1]))


def _window(x: FloatArray, y: FloatArray, bounds: tuple[float, float, float, float],
            margin: float) -> npt.NDArray[np.bool_]:
    minx, miny, maxx, maxy = bounds
    return np.asarray((x >= minx - margin) & (x <= maxx + margin)
                      & (y >= miny - margin) & (y <= maxy + margin))


def build_terrain(seed: int, bounds: tuple[float, float, float, float] = DEFAULT_BOUNDS,
                  valleys: Sequence[Valley] = (), lakes: Sequence[Lake] = ()) -> Terrain:
    """The synthetic elevation model of Luohu for ``seed``.

    ``valleys`` are carved (floor level interpolated along the line) and
    ``lakes`` flattened to their level after the landforms are summed.
    """
    rng = np.random.default_rng([seed, STAGE_TERRAIN])
    west, south, east, north = bounds
    cols = round((east - west) / PIXEL_DEG)
    rows = round((north - south) / PIXEL_DEG)
    transform = Affine(PIXEL_DEG, 0.0, west, 0.0, -PIXEL_DEG, north)
    lon = west + (np.arange(cols) + 0.5) * PIXEL_DEG
    lat = north - (np.arange(rows) + 0.5) * PIXEL_DEG
    glon, glat = np.meshgrid(lon, lat)
    x, y = to_metric(glon.ravel(), glat.ravel())

    # Plain: about 3 m by 深圳河 rising to about 30 m ten kilometres inland.
    _, y_river = to_metric(np.array([114.12]), np.array([22.535]))
    north_m = np.clip((y - y_river[0]) / 9000.0, 0.0, 1.0)
    base = 3.0 + 27.0 * north_m ** 1.6

    px, py = to_metric(np.array([WUTONG_PEAK[0]]), np.array([WUTONG_PEAK[1]]))
    peak_x, peak_y = float(px[0]), float(py[0])
    mountain = _landform(x, y, peak_x, peak_y, 1.0, 2400.0, 1600.0, 135.0, 0.85)
    forms = [mountain * (WUTONG_PEAK[2] - 3.0)]
    for hlon, hlat, h, sa, sc, az in _HILLS:
        hx, hy = to_metric(np.array([hlon]), np.array([hlat]))
        forms.append(_landform(x, y, float(hx[0]), float(hy[0]), h, sa, sc, az, 1.0))
    stack = np.vstack(forms)
    top = stack.max(axis=0)
    # Mostly the highest landform, partly their sum: ridges join into massifs.
    relief = top + 0.3 * (stack.sum(axis=0) - top)

    # Seeded smooth noise: a few long-wavelength plane waves.
    noise = np.zeros_like(x)
    for _ in range(12):
        wavelength = rng.uniform(1200.0, 5000.0)
        theta = rng.uniform(0.0, np.pi)
        phase = rng.uniform(0.0, 2 * np.pi)
        k = 2 * np.pi / wavelength
        noise += np.sin(k * (x * np.cos(theta) + y * np.sin(theta)) + phase)
    noise /= np.sqrt(12 / 2)
    z = base + relief + noise * (0.12 * np.minimum(relief, 300.0) + 1.5)

    for v in valleys:
        vx, vy = to_metric(*np.asarray(v.line.coords).T)
        line_m = shapely.LineString(np.column_stack([vx, vy]))
        near = _window(x, y, line_m.bounds, 3.0 * v.half_width_m)
        pts = shapely.points(x[near], y[near])
        d = shapely.distance(pts, line_m)
        frac = shapely.line_locate_point(line_m, pts, normalized=True)
        floor = v.floor_start_m + (v.floor_end_m - v.floor_start_m) * frac
        w = np.exp(-((d / v.half_width_m) ** 2))
        zn = z[near]
        z[near] = zn * (1 - w) + np.minimum(zn, floor) * w

    for lake in lakes:
        poly_m = shapely.transform(lake.polygon, _to_metric_coords)
        near = _window(x, y, poly_m.bounds, 250.0)
        d = np.asarray(shapely.distance(shapely.points(x[near], y[near]), poly_m), dtype=np.float64)
        zn = z[near]
        # Shores rise from the water level over a few hundred metres.
        shore = lake.level_m + 1.0 + (zn - lake.level_m - 1.0) * _smoothstep(d / 250.0)
        shore = np.maximum(shore, lake.level_m + 0.5)
        z[near] = np.where(d <= 0.0, lake.level_m, np.where(d < 250.0, shore, zn))

    # Rescale the relief so the summit pixel is exactly the surveyed height.
    peak_col = int((WUTONG_PEAK[0] - west) / PIXEL_DEG)
    peak_row = int((north - WUTONG_PEAK[1]) / PIXEL_DEG)
    zz = z.reshape(rows, cols)
    at_peak = zz[peak_row, peak_col]
    factor = (WUTONG_PEAK[2] - 3.0) / max(float(at_peak) - 3.0, 1.0)
    zz = np.maximum(3.0 + (zz - 3.0) * factor, 1.0)
    return Terrain(elevation=zz.astype(np.float32), transform=transform)
