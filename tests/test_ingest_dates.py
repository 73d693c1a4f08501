"""Date and date-time normalisation at ingest, and the pyproj-before-pandas crash."""

from __future__ import annotations

import subprocess
import sys

import geopandas as gpd
import shapely

from gis.ingest import prepare


def test_datetimes_are_normalised_to_utc() -> None:
    frame = gpd.GeoDataFrame(
        {"id": ["a", "b", "c"], "source": ["grid_patrol"] * 3, "category": ["积水"] * 3,
         "status": ["open"] * 3,
         "occurred_at": ["2022-01-01T08:00:00+08:00", "2022-01-01 08:00", "2022-01-01T08:00Z"],
         "closed_at": [None, "2022-01-02T00:00:00Z", None]},
        geometry=[shapely.Point(114.1, 22.55)] * 3, crs=4326)
    prep = prepare("event", frame)
    assert prep.columns["occurred_at"] == ["2022-01-01T00:00:00Z", "2022-01-01T08:00:00Z",
                                           "2022-01-01T08:00:00Z"]
    assert prep.columns["closed_at"] == [None, "2022-01-02T00:00:00Z", None]


def test_dates_survive_pyproj_imported_first() -> None:
    """pandas 3.1's ``dt.strftime`` was seen to segfault in processes that imported
    pyproj 3.7 first (not reproducible every time); the ingest formats with numpy and
    must give the same text in such a process."""
    code = (
        "import pyproj\n"
        "import geopandas as gpd, shapely\n"
        "from gis.ingest import prepare\n"
        "f = gpd.GeoDataFrame({'id': [str(i) for i in range(200)], 'sex': ['F'] * 200,\n"
        "    'birth_date': ['1990-01-01'] * 199 + ['1991-02-03'],\n"
        "    'valid_from': ['2020-01-01'] * 200, 'valid_to': ['2021-05-06'] * 199 + [None]},\n"
        "    geometry=[shapely.Point(114.1, 22.55)] * 200, crs=4326)\n"
        "p = prepare('person', f)\n"
        "print(p.columns['birth_date'][-1], p.columns['valid_to'][0], p.columns['valid_to'][-1])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-500:]
    assert out.stdout.split() == ["1991-02-03", "2021-05-06", "None"]
