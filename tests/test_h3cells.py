import h3.api.basic_int as h3i
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gis.h3cells import (
    cell_parent,
    cell_resolution,
    cell_to_str,
    child_range,
    lnglat_to_cells,
    parent_sql,
    str_to_cell,
)

lons = st.floats(113.0, 115.5, allow_nan=False)
lats = st.floats(21.5, 23.5, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(lon=lons, lat=lats, res=st.integers(0, 15))
def test_parent_bit_arithmetic_equals_h3(lon: float, lat: float, res: int) -> None:
    cell = int(lnglat_to_cells([lon], [lat])[0])
    assert cell == h3i.latlng_to_cell(lat, lon, 15)
    assert int(cell_parent([cell], res)[0]) == h3i.cell_to_parent(cell, res)


@settings(max_examples=100, deadline=None)
@given(lon=lons, lat=lats, res=st.integers(7, 12))
def test_parent_sql_matches_numpy(lon: float, lat: float, res: int) -> None:
    import sqlite3

    cell = int(lnglat_to_cells([lon], [lat])[0])
    got = sqlite3.connect(":memory:").execute(f"SELECT {parent_sql('?', res)}", (cell,))
    assert got.fetchone()[0] == h3i.cell_to_parent(cell, res)


def test_vectorised_cells_equal_h3_loop() -> None:
    rng = np.random.default_rng(3)
    lon = rng.uniform(114.06, 114.22, 5000)
    lat = rng.uniform(22.52, 22.62, 5000)
    cells = lnglat_to_cells(lon, lat)
    expected = [h3i.latlng_to_cell(b, a, 15) for a, b in zip(lon, lat, strict=True)]
    assert cells.tolist() == expected
    assert set(cell_resolution(cells).tolist()) == {15}


def test_nan_coordinates_give_no_cell() -> None:
    cells = lnglat_to_cells([114.1, np.nan], [22.5, 22.5])
    assert cells[1] == 0 and cells[0] != 0


def test_child_range_holds_exactly_the_descendants() -> None:
    parent = h3i.latlng_to_cell(22.55, 114.12, 8)
    lo, hi = child_range(parent, 9)
    children = set(h3i.cell_to_children(parent, 9))
    assert all(lo <= c <= hi for c in children)
    neighbours = set(h3i.grid_disk(parent, 2)) - {parent}
    for n in neighbours:
        for c in h3i.cell_to_children(n, 9):
            assert not lo <= c <= hi


def test_string_round_trip() -> None:
    cell = h3i.latlng_to_cell(22.55, 114.12, 9)
    assert str_to_cell(cell_to_str(cell)) == cell
