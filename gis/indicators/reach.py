"""Network reach for the coverage indicators, cached.

The analyses of gis/analysis/coverage.py answer one date at a time and recount the
residents from the store for each (seconds at full scale). A coverage *series*
would repeat that per period, so here the expensive parts are shared: every building
that ever stood is joined to the network once, and the reach from a set of facilities
is computed once per distinct set (facilities rarely open or close, so a 12-month
series usually needs one reach). The same functions as the analysis do the work
(:func:`gis.analysis.coverage.source_points`, :func:`building_times`), so the numbers
are the analysis's numbers (tested against :func:`service_coverage`).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt

from gis.analysis.coverage import Demand, building_times, source_points
from gis.analysis.netinputs import Located, Residents, metric_xy
from gis.indicators.sources import Sources
from gis.network import network_service


def demand(src: Sources, mode: str) -> Demand:
    """Every building that ever stood joined to the ``mode`` network (cached with the
    buildings; the bulk of a coverage indicator's first computation, so a cold summary
    runs it beside the frame reads: :meth:`Sources.prefetch`)."""
    cache: dict[Any, Any] = src.cache("coverage", dict)
    net = network_service(src.store).get(mode)
    _, geo = src.buildings()
    dem_key = ("demand", mode, id(net))
    dem = cache.get(dem_key)
    if dem is None:
        # a point inside every building, once for both graphs (what locate() computes)
        x, y = src.cache("building_xy", lambda: metric_xy(geo.geometry.to_numpy()))
        dem = Demand(Residents(geo), Located(*net.snap_many(x, y)))
        cache[dem_key] = dem
    return dem  # type: ignore[no-any-return]


def building_covered(src: Sources, facility_type: str, minutes: float, mode: str,
                     day: date) -> npt.NDArray[np.bool_]:
    """For every row of the buildings frame, whether a facility of the type open on
    ``day`` reaches it within ``minutes`` by ``mode``."""
    cache: dict[Any, Any] = src.cache("coverage", dict)
    net = network_service(src.store).get(mode)
    dem = demand(src, mode)
    # Every version of the type's facilities, read once; the ones open on ``day`` are
    # picked here with the store's as_of rule (valid_from <= day < valid_to), the same
    # set as netinputs.facilities(store, type, day) (tested through service_coverage).
    every = cache.get(("facilities", facility_type))
    if every is None:
        every = src.store.query("facility", where={"facility_type": facility_type},
                                columns=["id", "valid_from", "valid_to"], order_by=["id"])
        cache[("facilities", facility_type)] = every
    d = day.isoformat()
    vt = every["valid_to"].astype(object)
    open_ = (every["valid_from"].astype(str) <= d) & (vt.isna() | (vt.astype(str) > d))
    fac = every[open_.to_numpy()]
    ids = tuple(sorted(fac["id"].astype(str)))
    key = ("reach", mode, id(net), facility_type, float(minutes), ids)
    hit = cache.get(key)
    if hit is None:
        seg, t = source_points(net, fac.geometry.to_numpy())
        limit = minutes * 60.0
        hit = building_times(net, dem, seg, t, limit) <= limit
        cache[key] = hit
    return hit  # type: ignore[no-any-return]
