"""Exceptions of the core. ``spatial_api`` maps each class to an HTTP status."""

from __future__ import annotations


class CoreError(Exception):
    """Base class of every error the core raises on purpose.

    ``message`` is safe to show to a client; it never contains internal paths or
    stack traces.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownKind(CoreError):
    """An entity kind that the model does not declare."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"unknown entity kind {kind!r}")
        self.kind = kind


class EntityNotFound(CoreError):
    """No entity of that kind and id (at that time)."""


class InvalidQuery(CoreError):
    """A query parameter is out of range or malformed (bad bbox, resolution, date...)."""


class InvalidGeometry(InvalidQuery):
    """A geometry given to a query is not valid."""


class IngestError(CoreError):
    """An ingest was refused; nothing was written.

    ``row`` is the 0-based index of the first offending input row (None when the
    problem is not tied to one row), ``column`` the offending column if known.
    """

    def __init__(self, message: str, row: int | None = None, column: str | None = None) -> None:
        where = []
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        prefix = f"{', '.join(where)}: " if where else ""
        super().__init__(prefix + message)
        self.row = row
        self.column = column
        self.reason = message


class StoreUnavailable(CoreError):
    """The store cannot be opened (missing file, bad URL, server down)."""
