"""Exceptions of the dispatch/case package (mapped to HTTP codes in spatial_api/errors.py)."""

from __future__ import annotations

from gis.errors import CoreError, EntityNotFound, InvalidQuery


class DispatchError(CoreError):
    """Base class of the errors of :mod:`gis.cases`."""


class DispatchInputError(DispatchError, InvalidQuery):
    """Unusable input: empty or over-long text, a bad period, an unknown category (400)."""


class DispatchConfigError(DispatchError):
    """``config/dispatch.yaml`` is invalid (the server refuses to start)."""


class ModelUnavailable(DispatchError):
    """No trained classifier beside the store (503 until ``onemap dispatch train``)."""


class CaseNotFound(DispatchError, EntityNotFound):
    """No case with that id (404)."""


class IllegalTransition(DispatchError):
    """The transition is not allowed from the case's current state (409)."""


class RetrainBusy(DispatchError):
    """A retraining job is already running in this server process (409)."""


class JobNotFound(DispatchError, EntityNotFound):
    """No retraining job with that id (404)."""
