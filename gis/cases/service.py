"""Start-up of unified supervision: the table (validated), the case book, the classifier."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from gis.cases import classifier as clf_mod
from gis.cases.config import load_table
from gis.cases.errors import ModelUnavailable
from gis.cases.triage import Locate, Triage
from gis.cases.workflow import CaseBook, SqlStore

log = logging.getLogger(__name__)


def start(store: SqlStore, data_dir: str | Path, locate: Locate | None = None,
          table_path: str | Path | None = None) -> tuple[CaseBook, Triage | None]:
    """The case book and (when a model was trained) the triage of the app.

    An invalid ``config/dispatch.yaml`` raises :class:`gis.cases.DispatchConfigError`, so
    the server does not start; a missing model only disables triage (503) until
    ``onemap dispatch train`` is run.
    """
    table = load_table(table_path)
    book = CaseBook(store, table)
    try:
        model = clf_mod.load(data_dir)
    except ModelUnavailable:
        log.warning("no dispatch model beside the store; triage answers 503 until "
                    "'onemap dispatch train'")
        return book, None
    missing = set(table.categories) - set(model.categories)
    if missing:
        log.warning("dispatch model lacks categories: %s", ", ".join(sorted(missing)))
    return book, Triage(model, table, locate)


def address_locator(service: Any) -> Locate:
    """``locate`` over an :class:`address.AddressService`: its top hit and the grid
    containing it."""

    def locate(text: str) -> dict[str, Any] | None:
        best = service.best(text)
        if best is None:
            return None
        ctx = service.reverse_geocoder.context(best.lon, best.lat)
        grid = ctx.get("grid") or {}
        return {"address_id": best.address_id, "address": best.address, "level": best.level,
                "lon": round(best.lon, 7), "lat": round(best.lat, 7), "score": best.score,
                "matched_name": best.matched_name, "subdistrict_code": best.subdistrict_code,
                "community_code": best.community_code, "grid_code": grid.get("code")}

    return locate
