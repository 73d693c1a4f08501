"""H3 blocks as geometries: aggregate tables to GeoJSON."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import h3.api.basic_int as h3i
import numpy as np
import pandas as pd

from gis.h3cells import cell_to_str


def cell_polygon(cell: int) -> list[list[float]]:
    """Closed lon/lat ring of an H3 cell (GeoJSON order)."""
    ring = [[round(lng, 7), round(lat, 7)] for lat, lng in h3i.cell_to_boundary(int(cell))]
    ring.append(ring[0])
    return ring


def aggregate_to_geojson(
    table: pd.DataFrame, res: int, *, by: str | None = None, sums: Sequence[str] = ()
) -> dict[str, Any]:
    """A FeatureCollection with one polygon per cell of a ``block_aggregate`` table.

    Properties: ``cell`` (hex), ``res``, ``count``, each summed property, and with
    ``by`` one ``{by}_{value}`` count per attribute value (flat, so QGIS can style it).
    """
    features: list[dict[str, Any]] = []
    if by is not None and len(table):
        wide = table.pivot_table(index="cell", columns=by, values="count", aggfunc="sum",
                                 fill_value=0)
        totals = table.groupby("cell")[["count", *sums]].sum()
        rows = totals.join(wide.rename(columns=lambda v: f"{by}_{v}"))
    else:
        rows = table.set_index("cell")
    for cell_key, rec in rows.iterrows():
        cell = int(cell_key)  # type: ignore[call-overload]
        props: dict[str, Any] = {"cell": cell_to_str(cell), "res": res}
        for key, value in rec.items():
            props[str(key)] = value.item() if isinstance(value, np.generic) else value
        features.append({
            "type": "Feature",
            "id": props["cell"],
            "geometry": {"type": "Polygon", "coordinates": [cell_polygon(cell)]},
            "properties": props,
        })
    return {"type": "FeatureCollection", "features": features}
