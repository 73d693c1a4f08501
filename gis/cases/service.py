"""Start-up of unified supervision: the table (validated), the case book, the classifier."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from gis.cases.config import load_table
from gis.cases.errors import ModelUnavailable
from gis.cases.live import LiveTriage
from gis.cases.triage import Locate
from gis.cases.workflow import CaseBook, SqlStore

log = logging.getLogger(__name__)


def start(store: SqlStore, data_dir: str | Path, locate: Locate | None = None,
          table_path: str | Path | None = None) -> tuple[CaseBook, LiveTriage]:
    """The case book and the live triage of the app (its model loaded and warmed now).

    An invalid ``config/dispatch.yaml`` raises :class:`gis.cases.DispatchConfigError`, so
    the server does not start; a missing model only disables triage (503) until one is
    trained (``onemap dispatch train`` or ``POST /dispatch/model/retrain``), which the
    live triage then picks up without a restart.
    """
    table = load_table(table_path)
    book = CaseBook(store, table)
    live = LiveTriage(data_dir, table, locate)
    try:
        live.current()
    except ModelUnavailable:
        log.warning("no dispatch model beside the store; triage answers 503 until "
                    "'onemap dispatch train'")
        return book, live
    missing = set(table.categories) - set(live.current().classifier.categories)
    if missing:
        log.warning("dispatch model lacks categories: %s", ", ".join(sorted(missing)))
    return book, live


def address_locator(service: Any) -> Locate:
    """``locate`` over an address service (:class:`address.service.AddressAnswers`): its
    top hit and the grid containing it."""

    def locate(text: str) -> dict[str, Any] | None:
        best = service.best(text)
        if best is None:
            return None
        ctx = service.context(best.lon, best.lat)
        grid = ctx.get("grid") or {}
        return {"address_id": best.address_id, "address": best.address, "level": best.level,
                "lon": round(best.lon, 7), "lat": round(best.lat, 7), "score": best.score,
                "matched_name": best.matched_name, "subdistrict_code": best.subdistrict_code,
                "community_code": best.community_code, "grid_code": grid.get("code")}

    return locate
