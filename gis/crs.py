"""Coordinate reference systems: WGS84 storage, CGCS2000 serving, GCJ-02/BD-09 ingest.

Storage is WGS84 lon/lat. CGCS2000 (EPSG:4490) and its 3-degree Gauss-Kruger
zone on 114°E (EPSG:4547) are served through pyproj. Chinese web maps publish
GCJ-02 ("Mars coordinates") or BD-09; pyproj has no definition of these
obfuscated systems, so the widely published offset formula is implemented here
(vectorised with numpy) and applied at ingest only, never inside queries.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt
from pyproj import Transformer

#: The metric CRS for lengths and areas in Luohu (CGCS2000 / 3-degree GK CM 114E).
METRIC_CRS = "EPSG:4547"

_A = 6378245.0  # Krasovsky 1940 semi-major axis used by the GCJ-02 formula
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0

FloatArray = npt.NDArray[np.float64]


def _out_of_china(lng: FloatArray, lat: FloatArray) -> npt.NDArray[np.bool_]:
    return (lng < 72.004) | (lng > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _delta(lng: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    x = lng - 105.0
    y = lat - 35.0
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y
            + 0.2 * np.sqrt(np.abs(x)))
    dlat += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlng = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    dlng += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlng += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlng += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    radlat = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlng = (dlng * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    return dlng, dlat


def wgs84_to_gcj02(lng: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """WGS84 → GCJ-02 (points outside China are returned unchanged)."""
    lng_a = np.asarray(lng, dtype=np.float64)
    lat_a = np.asarray(lat, dtype=np.float64)
    dlng, dlat = _delta(lng_a, lat_a)
    out = _out_of_china(lng_a, lat_a)
    return np.where(out, lng_a, lng_a + dlng), np.where(out, lat_a, lat_a + dlat)


def gcj02_to_wgs84(lng: npt.ArrayLike, lat: npt.ArrayLike,
                   iterations: int = 6) -> tuple[FloatArray, FloatArray]:
    """GCJ-02 → WGS84 by fixed-point iteration of the forward offset (< 1e-7° residual)."""
    g_lng = np.asarray(lng, dtype=np.float64)
    g_lat = np.asarray(lat, dtype=np.float64)
    w_lng, w_lat = g_lng.copy(), g_lat.copy()
    for _ in range(iterations):
        f_lng, f_lat = wgs84_to_gcj02(w_lng, w_lat)
        w_lng = w_lng - (f_lng - g_lng)
        w_lat = w_lat - (f_lat - g_lat)
    return w_lng, w_lat


def bd09_to_gcj02(lng: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """BD-09 (Baidu) → GCJ-02."""
    x = np.asarray(lng, dtype=np.float64) - 0.0065
    y = np.asarray(lat, dtype=np.float64) - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def gcj02_to_bd09(lng: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """GCJ-02 → BD-09 (Baidu)."""
    x = np.asarray(lng, dtype=np.float64)
    y = np.asarray(lat, dtype=np.float64)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_wgs84(lng: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """BD-09 → WGS84."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lng, lat))


def wgs84_to_bd09(lng: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """WGS84 → BD-09."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lng, lat))


COORDSYS = ("wgs84", "gcj02", "bd09")


def to_wgs84(lng: npt.ArrayLike, lat: npt.ArrayLike,
             coordsys: str) -> tuple[FloatArray, FloatArray]:
    """Convert from ``coordsys`` (wgs84, gcj02 or bd09) to WGS84."""
    cs = coordsys.lower()
    if cs == "wgs84":
        return np.asarray(lng, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    if cs == "gcj02":
        return gcj02_to_wgs84(lng, lat)
    if cs == "bd09":
        return bd09_to_wgs84(lng, lat)
    raise ValueError(f"unknown coordinate system {coordsys!r}; use one of {COORDSYS}")


@lru_cache(maxsize=32)
def transformer(src: str, dst: str) -> Transformer:
    """A cached pyproj transformer with lon/lat (x/y) order on both sides."""
    return Transformer.from_crs(src, dst, always_xy=True)


def to_metric(lng: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """WGS84 lon/lat → EPSG:4547 easting/northing in metres."""
    x, y = transformer("EPSG:4326", METRIC_CRS).transform(np.asarray(lng), np.asarray(lat))
    return np.asarray(x), np.asarray(y)


def from_metric(x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """EPSG:4547 metres → WGS84 lon/lat."""
    lng, lat = transformer(METRIC_CRS, "EPSG:4326").transform(np.asarray(x), np.asarray(y))
    return np.asarray(lng), np.asarray(lat)
