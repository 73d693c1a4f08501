"""Exceptions of the perception package (mapped to HTTP in spatial_api/errors.py)."""

from __future__ import annotations

from gis.errors import CoreError


class PerceptionError(CoreError):
    """Base class of perception errors."""


class UnknownSensor(PerceptionError):
    """No sensor with this id (HTTP 404)."""


class UnknownAlert(PerceptionError):
    """No alert with this id (HTTP 404)."""


class BadReading(PerceptionError):
    """A reading that cannot be accepted; the message names the field and index (HTTP 400)."""


class DeviceAuthError(PerceptionError):
    """Missing or wrong device key (HTTP 401)."""


class RulesConfigError(PerceptionError):
    """The sensor rules file is invalid (raised at start-up)."""
