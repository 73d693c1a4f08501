"""Exceptions of the road network (each a :class:`gis.errors.CoreError`, so 4xx)."""

from __future__ import annotations

from gis.errors import InvalidQuery


class NetworkError(InvalidQuery):
    """A network query that cannot be answered as asked (maps to 400)."""


class SnapError(NetworkError):
    """A point too far from any road of the mode, or outside the district."""


class Unreachable(NetworkError):
    """No path joins the two points on the mode's network."""
