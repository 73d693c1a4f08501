"""Exceptions of the indicators package (mapped to HTTP in spatial_api/errors.py)."""

from __future__ import annotations

from gis.errors import CoreError


class IndicatorError(CoreError):
    """Base class of indicator errors."""


class UnknownIndicator(IndicatorError):
    """No indicator with this id in the catalogue (HTTP 404)."""


class UnknownArea(IndicatorError):
    """No subdistrict or community with this code (HTTP 404)."""


class IndicatorInputError(IndicatorError):
    """A bad level, resolution, frequency or date (HTTP 400)."""


class IndicatorConfigError(IndicatorError):
    """``config/indicators.yaml`` is invalid (raised at start-up)."""


class IndicatorAuthError(IndicatorError):
    """Indicator values asked without a department role (HTTP 401)."""
