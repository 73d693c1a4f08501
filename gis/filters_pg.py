"""CQL2 filters compiled to PostgreSQL/PostGIS SQL.

The same pygeofilter AST as :func:`gis.filters.compile_sqlite`, with the
PostgreSQL dialect: boolean literals ``TRUE``/``FALSE``, ``%s`` placeholders
(psycopg), CQL2 ``LIKE`` as PostgreSQL's case-sensitive ``LIKE`` (both use
``%``, ``_`` and a backslash escape), and spatial predicates as ``ST_*`` calls
on the indexed ``geom`` column so the planner uses the GiST index.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import shapely
from pygeofilter import ast

from gis.errors import InvalidQuery
from gis.filters import Queryable, _Compiler, _is_geom_attr, literal_geometry, queryables_of
from gis.model import KindSchema

# CQL2 spatial operator -> PostGIS function with the feature geometry first
# (``within``: the feature lies within the literal).
_ST = {
    "intersects": "ST_Intersects", "within": "ST_Within", "contains": "ST_Contains",
    "touches": "ST_Touches", "crosses": "ST_Crosses", "overlaps": "ST_Overlaps",
    "equals": "ST_Equals",
}


class _PgCompiler(_Compiler):
    true = "TRUE"
    false = "FALSE"

    def like(self, node: ast.Like) -> str:
        c, _ = self.col(node.lhs)
        pattern = node.pattern
        if not isinstance(pattern, str):
            raise InvalidQuery("LIKE needs a text pattern")
        if node.wildcard not in ("%", None):
            pattern = pattern.replace(node.wildcard, "%")
        self.params.append(pattern)
        return f"({'NOT ' if node.not_ else ''}({c} LIKE ?))"

    def spatial(self, node: ast.SpatialComparisonPredicate) -> str:
        lhs, rhs = node.lhs, node.rhs
        if _is_geom_attr(rhs) and not _is_geom_attr(lhs):
            flip = {ast.GeometryWithin: ast.GeometryContains,
                    ast.GeometryContains: ast.GeometryWithin}
            node = flip.get(type(node), type(node))(rhs, lhs)
            lhs, rhs = rhs, lhs
        if not _is_geom_attr(lhs):
            raise InvalidQuery("a spatial predicate needs the geometry property")
        if self.sch.geometry is None:
            raise InvalidQuery(f"kind {self.sch.kind!r} has no geometry")
        geom: Any = literal_geometry(rhs)
        op = node.op.name.lower()
        negate = op == "disjoint"
        fn = _ST["intersects" if negate else op]
        self.params.append(shapely.to_wkb(geom))
        # A NULL geometry matches nothing (as in the GeoPackage store), so its
        # negation (disjoint) matches it: FALSE, not NULL. The ST_* call stays a
        # plain AND term so the planner can use the GiST index (a COALESCE
        # around it would hide it).
        frag = f"({self.a}.geom IS NOT NULL AND {fn}({self.a}.geom, ST_GeomFromWKB(?, 4326)))"
        return f"(NOT {frag})" if negate else f"({frag})"


def compile_postgis(
    node: ast.Node, sch: KindSchema, queryables: Mapping[str, Queryable] | None = None,
    alias: str = "t",
) -> tuple[str, list[Any]]:
    """SQL WHERE fragment (``%s`` placeholders) and parameters for a filter over ``sch``."""
    comp = _PgCompiler(sch, queryables if queryables is not None else queryables_of(sch), alias)
    frag = comp.compile(node)
    # The generated SQL holds no literals (every value is a parameter), so each
    # '?' is a placeholder.
    return frag.replace("?", "%s"), comp.params
