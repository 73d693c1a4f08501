import json
from pathlib import Path

import numpy as np
import pytest

from gis.crs import (
    bd09_to_wgs84,
    from_metric,
    gcj02_to_wgs84,
    to_metric,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

REAL = Path(__file__).resolve().parent.parent / "data" / "real" / "boundaries"


def _ring(name: str) -> np.ndarray:
    geo = json.loads((REAL / name).read_text(encoding="utf-8"))
    return np.array(geo["features"][0]["geometry"]["coordinates"][0][0])


def test_gcj02_inverse_reproduces_the_published_wgs84_outline() -> None:
    gcj = _ring("luohu_district_gcj02.geojson")
    wgs = _ring("luohu_district_wgs84.geojson")
    lng, lat = gcj02_to_wgs84(gcj[:, 0], gcj[:, 1])
    assert np.abs(lng - wgs[:, 0]).max() < 2e-7
    assert np.abs(lat - wgs[:, 1]).max() < 2e-7


def test_gcj02_offset_in_luohu_is_hundreds_of_metres() -> None:
    lng, lat = wgs84_to_gcj02([114.13], [22.55])
    assert 0.004 < lng[0] - 114.13 < 0.006
    assert -0.0035 < lat[0] - 22.55 < -0.002


def test_round_trips() -> None:
    lon = np.array([114.06, 114.13, 114.21])
    lat = np.array([22.53, 22.57, 22.61])
    back = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    assert np.allclose(back, (lon, lat), atol=1e-7)
    back = bd09_to_wgs84(*wgs84_to_bd09(lon, lat))
    assert np.allclose(back, (lon, lat), atol=1e-6)
    assert np.allclose(from_metric(*to_metric(lon, lat)), (lon, lat), atol=1e-9)


def test_metric_crs_is_gauss_kruger_114() -> None:
    x, _ = to_metric([114.0], [22.5])
    assert x[0] == pytest.approx(500000.0, abs=0.01)  # central meridian, false easting


def test_unknown_coordsys() -> None:
    with pytest.raises(ValueError):
        to_wgs84([1], [1], "mars")
