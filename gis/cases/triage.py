"""Triage: from a citizen's words to a category, a department and a place."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gis.cases.classifier import Classifier, check_text
from gis.cases.config import DispatchTable

#: ``locate(text)`` -> the geocoder's top hit as a dict (address, address_id, lon, lat,
#: score, subdistrict_code, community_code, grid_code) or None.
Locate = Callable[[str], dict[str, Any] | None]


@dataclass
class Triage:
    """The classifier, the dispatch table and a geocoder, together."""

    classifier: Classifier
    table: DispatchTable
    locate: Locate | None = None

    def __call__(self, text: Any, k: int = 5) -> dict[str, Any]:
        """Category, department (key and name), confidence, the ``k`` best candidates, and
        the place. Raises :class:`gis.cases.DispatchInputError` for unusable text."""
        text = check_text(text)
        candidates = self.classifier.predict(text, max(k, 3))
        category, confidence = candidates[0]
        department = self.table.route(category, text)
        place = self.locate(text) if self.locate is not None else None
        return {"category": category, "department": department,
                "department_name": self.table.department_name(department),
                "confidence": confidence,
                "candidates": [{"category": c, "score": s} for c, s in candidates],
                "deadline_h": self.table.deadline_h(category),
                "address": place,
                "community_code": place.get("community_code") if place else None,
                "grid_code": place.get("grid_code") if place else None,
                "model_version": self.classifier.meta.get("version")}
