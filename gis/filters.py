"""CQL2 filters (OGC API Features Part 3): parsing and translation to SQL.

A filter travels through the core as a pygeofilter AST (:class:`Filter`), so
every backend compiles it to its own SQL: :func:`compile_sqlite` for the
GeoPackage store (an R-tree prefilter plus an exact shapely predicate
registered as an SQLite function, since no SpatiaLite is loadable here), and a
PostGIS backend later compiles the same tree to ``ST_*`` calls.

Parsers: pygeofilter 0.4's CQL2-text grammar only knows the infix temporal
operators of an early draft (``a T_INTERSECTS b``), rejects one-letter property
names and date-only intervals, and its CQL2-JSON parser swaps the ``bbox``
axes and expects BETWEEN bounds as a nested list. So this module has its own
small CQL2-text grammar (``cql2_text.lark``, geometry literals from
pygeofilter's WKT grammar) and its own CQL2-JSON walker, both producing
pygeofilter AST nodes (docs/ogc.md).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, ClassVar

import lark
import shapely
from pygeofilter import ast, values
from pygeofilter.parsers.wkt import WKTTransformer
from shapely.geometry import shape

from gis.errors import InvalidQuery
from gis.model import ColType, KindSchema

#: Names by which a filter may refer to the feature geometry.
GEOMETRY_NAMES = ("geometry", "geom")

_SPATIAL = {
    "s_intersects": ast.GeometryIntersects, "s_disjoint": ast.GeometryDisjoint,
    "s_contains": ast.GeometryContains, "s_within": ast.GeometryWithin,
    "s_touches": ast.GeometryTouches, "s_crosses": ast.GeometryCrosses,
    "s_overlaps": ast.GeometryOverlaps, "s_equals": ast.GeometryEquals,
}


@dataclass
class TimeIntersects(ast.TemporalPredicate):
    """``T_INTERSECTS`` (pygeofilter maps it onto ``TimeOverlaps``, which differs)."""

    op: ClassVar[ast.TemporalComparisonOp] = ast.TemporalComparisonOp.TOVERLAPS


_TEMPORAL: dict[str, type[ast.TemporalPredicate]] = {
    "t_intersects": TimeIntersects, "t_before": ast.TimeBefore, "t_after": ast.TimeAfter,
    "t_during": ast.TimeDuring, "t_equals": ast.TimeEquals, "t_disjoint": ast.TimeDisjoint,
    "t_contains": ast.TimeContains, "t_overlaps": ast.TimeOverlaps, "t_meets": ast.TimeMeets,
    "t_metby": ast.TimeMetBy, "t_overlappedby": ast.TimeOverlappedBy,
    "t_begins": ast.TimeBegins, "t_begunby": ast.TimeBegunBy, "t_ends": ast.TimeEnds,
    "t_endedby": ast.TimeEndedBy,
}
_COMPARE = {"=": ast.Equal, "<>": ast.NotEqual, "<": ast.LessThan, "<=": ast.LessEqual,
            ">": ast.GreaterThan, ">=": ast.GreaterEqual}


# ---------------------------------------------------------------------------
# literals


@dataclass(frozen=True)
class TimeText:
    """A temporal literal as canonical text: ``YYYY-MM-DD`` or ``…THH:MM:SSZ``."""

    value: str


def _instant_text(text: str, kind: str) -> TimeText:
    from gis.timeaxis import _parse_one

    t = _parse_one(text)
    if kind == "date" and len(t) != 10:
        raise InvalidQuery(f"DATE needs YYYY-MM-DD, got {text!r}")
    return TimeText(t)


def _unquote(token: str) -> str:
    return token[1:-1].replace("''", "'")


@lark.v_args(inline=True)
class _Cql2Transformer(WKTTransformer):  # type: ignore[misc]
    def or_(self, a: ast.Node, b: ast.Node) -> ast.Node:
        return ast.Or(a, b)

    def and_(self, a: ast.Node, b: ast.Node) -> ast.Node:
        return ast.And(a, b)

    def not_(self, a: ast.Node) -> ast.Node:
        return ast.Not(a)

    def bool_literal(self, tok: lark.Token) -> Any:
        return ast.Include(str(tok).lower() != "true")

    def compare(self, a: Any, op: lark.Token, b: Any) -> ast.Node:
        return _COMPARE[str(op)](a, b)

    def like(self, a: Any, b: Any) -> ast.Node:
        return ast.Like(a, b, False, "%", "_", "\\", False)

    def not_like(self, a: Any, b: Any) -> ast.Node:
        return ast.Like(a, b, False, "%", "_", "\\", True)

    def between(self, a: Any, lo: Any, hi: Any) -> ast.Node:
        return ast.Between(a, lo, hi, False)

    def not_between(self, a: Any, lo: Any, hi: Any) -> ast.Node:
        return ast.Between(a, lo, hi, True)

    def in_(self, a: Any, *opts: Any) -> ast.Node:
        return ast.In(a, list(opts), False)

    def not_in(self, a: Any, *opts: Any) -> ast.Node:
        return ast.In(a, list(opts), True)

    def is_null(self, a: Any) -> ast.Node:
        return ast.IsNull(a, False)

    def is_not_null(self, a: Any) -> ast.Node:
        return ast.IsNull(a, True)

    def spatial(self, fn: lark.Token, a: Any, b: Any) -> ast.Node:
        return _SPATIAL[str(fn).lower()](a, b)

    def temporal(self, fn: lark.Token, a: Any, b: Any) -> ast.Node:
        return _TEMPORAL[str(fn).lower()](a, b)

    def geometry(self, geom: Any) -> values.Geometry:
        return values.Geometry(geom)

    def bbox(self, x1: float, y1: float, x2: float, y2: float) -> values.Envelope:
        return values.Envelope(x1, x2, y1, y2)

    def interval(self, a: Any, b: Any) -> values.Interval:
        return values.Interval(a, b)

    def bound_text(self, tok: lark.Token) -> Any:
        text = _unquote(str(tok))
        return None if text == ".." else _instant_text(text, "timestamp")

    def date(self, tok: lark.Token) -> TimeText:
        return _instant_text(_unquote(str(tok)), "date")

    def timestamp(self, tok: lark.Token) -> TimeText:
        return _instant_text(_unquote(str(tok)), "timestamp")

    def string(self, tok: lark.Token) -> str:
        return _unquote(str(tok))

    def number(self, tok: lark.Token) -> float | int:
        text = str(tok)
        return float(text) if any(c in text for c in ".eE") else int(text)

    def neg_number(self, tok: lark.Token) -> float | int:
        return -self.number(tok)

    def property(self, tok: lark.Token) -> ast.Attribute:
        text = str(tok)
        return ast.Attribute(text[1:-1] if text.startswith('"') else text)


_PARSER: lark.Lark | None = None


def _parser() -> lark.Lark:
    global _PARSER
    if _PARSER is None:
        import pygeofilter.parsers as pgf_parsers

        _PARSER = lark.Lark.open(
            str(Path(__file__).with_name("cql2_text.lark")), parser="lalr",
            maybe_placeholders=False, transformer=_Cql2Transformer(),
            import_paths=[os.path.dirname(pgf_parsers.__file__)])
    return _PARSER


def parse_cql2_text(text: str) -> ast.Node:
    """Parse a CQL2-text filter into a pygeofilter AST; :class:`InvalidQuery` if malformed."""
    if not text or not text.strip():
        raise InvalidQuery("empty filter")
    try:
        node = _parser().parse(text)
    except lark.exceptions.UnexpectedInput as exc:
        raise InvalidQuery(f"bad CQL2 text at column {exc.column}") from None
    except lark.exceptions.VisitError as exc:
        if isinstance(exc.orig_exc, InvalidQuery):
            raise exc.orig_exc from None
        raise InvalidQuery("bad CQL2 text") from None
    except lark.exceptions.LarkError:
        raise InvalidQuery("bad CQL2 text") from None
    if not isinstance(node, ast.Node):
        raise InvalidQuery("a filter must be a boolean expression")
    return node


# ---------------------------------------------------------------------------
# CQL2-JSON


def parse_cql2_json(doc: str | bytes | Mapping[str, Any]) -> ast.Node:
    """Parse a CQL2-JSON filter (OGC 21-065 clause 8) into a pygeofilter AST."""
    if isinstance(doc, str | bytes):
        try:
            doc = json.loads(doc)
        except ValueError:
            raise InvalidQuery("the filter is not valid JSON") from None
    try:
        node = _walk_json(doc)
    except InvalidQuery:
        raise
    except (KeyError, TypeError, ValueError, IndexError):
        raise InvalidQuery("bad CQL2 JSON") from None
    if not isinstance(node, ast.Node) or isinstance(node, ast.Expression):
        raise InvalidQuery("a filter must be a boolean expression")
    return node


def _walk_json(node: Any) -> Any:
    if isinstance(node, bool):
        return ast.Include(not node)
    if isinstance(node, str | int | float) or node is None:
        return node
    if isinstance(node, list):
        return [_walk_json(v) for v in node]
    if not isinstance(node, Mapping):
        raise InvalidQuery("bad CQL2 JSON")
    if "property" in node:
        return ast.Attribute(str(node["property"]))
    if "date" in node:
        return _instant_text(str(node["date"]), "date")
    if "timestamp" in node:
        return _instant_text(str(node["timestamp"]), "timestamp")
    if "interval" in node:
        a, b = node["interval"]
        return values.Interval(*(None if v == ".." else (
            _walk_json(v) if isinstance(v, Mapping) else _instant_text(str(v), "timestamp"))
            for v in (a, b)))
    if "bbox" in node:
        bb = [float(v) for v in node["bbox"]]
        if len(bb) != 4:
            raise InvalidQuery("bbox needs 4 numbers")
        return values.Envelope(bb[0], bb[2], bb[1], bb[3])
    if ("type" in node and "coordinates" in node) or node.get("type") == "GeometryCollection":
        return values.Geometry(dict(node))
    op = str(node["op"]).lower()
    args = node.get("args", [])
    if op in ("and", "or"):
        items = [_walk_json(a) for a in args]
        if len(items) < 2:
            raise InvalidQuery(f"'{op}' needs at least two arguments")
        out = items[0]
        for it in items[1:]:
            out = ast.And(out, it) if op == "and" else ast.Or(out, it)
        return out
    if op == "not":
        return ast.Not(_walk_json(args[0]))
    if op in ("=", "<>", "<", "<=", ">", ">="):
        return _COMPARE[op](_walk_json(args[0]), _walk_json(args[1]))
    if op == "like":
        return ast.Like(_walk_json(args[0]), _walk_json(args[1]), False, "%", "_", "\\", False)
    if op == "between":
        return ast.Between(_walk_json(args[0]), _walk_json(args[1]), _walk_json(args[2]), False)
    if op == "in":
        return ast.In(_walk_json(args[0]), [_walk_json(v) for v in args[1]], False)
    if op == "isnull":
        return ast.IsNull(_walk_json(args[0]), False)
    if op in _SPATIAL:
        return _SPATIAL[op](_walk_json(args[0]), _walk_json(args[1]))
    if op in _TEMPORAL:
        return _TEMPORAL[op](_walk_json(args[0]), _walk_json(args[1]))
    raise InvalidQuery(f"unsupported CQL2 operator {op!r}")


# ---------------------------------------------------------------------------
# pygeofilter nodes coming from pygeoapi's own parsers (CQL2-JSON POST bodies)


def normalise(node: Any) -> Any:
    """Fix the values pygeofilter's own parsers produce so the compiler sees one form.

    Dates and datetimes become :class:`TimeText`; other nodes pass unchanged.
    """
    if isinstance(node, datetime):
        from gis.timeaxis import _parse_one

        return TimeText(_parse_one(node.isoformat()))
    if isinstance(node, date):
        return TimeText(node.isoformat())
    return node


# ---------------------------------------------------------------------------
# SQLite compilation


@dataclass(frozen=True)
class Queryable:
    """A property a filter may use: its SQL column and type."""

    column: str
    type: ColType


def queryables_of(sch: KindSchema, names: Iterable[str] | None = None) -> dict[str, Queryable]:
    """Queryables of a kind (all its columns, or the ``names`` given)."""
    cols = {c.name: c for c in sch.columns}
    chosen = cols if names is None else {n: cols[n] for n in names if n in cols}
    return {n: Queryable(n, c.type) for n, c in chosen.items()}


class _Compiler:
    #: Boolean literals of the SQL dialect (SQLite has none; PostgreSQL needs TRUE/FALSE).
    true = "1"
    false = "0"

    def __init__(self, sch: KindSchema, queryables: Mapping[str, Queryable], alias: str) -> None:
        self.sch = sch
        self.q = queryables
        self.a = alias
        self.params: list[Any] = []

    # -- helpers
    def col(self, node: Any) -> tuple[str, Queryable]:
        if not isinstance(node, ast.Attribute):
            raise InvalidQuery("expected a property name")
        name = node.name
        if name not in self.q:
            raise InvalidQuery(f"unknown or not queryable property {name!r}")
        qb = self.q[name]
        return f"{self.a}.{qb.column}", qb

    def value(self, node: Any, qb: Queryable | None = None) -> str:
        node = normalise(node)
        if isinstance(node, ast.Attribute):
            return self.col(node)[0]
        if isinstance(node, TimeText):
            v = node.value
            if qb is not None and qb.type is ColType.DATE:
                v = v[:10]
            elif qb is not None and qb.type is ColType.DATETIME and len(v) == 10:
                v = v + "T00:00:00Z"
            self.params.append(v)
            return "?"
        if isinstance(node, bool):
            self.params.append(int(node))
            return "?"
        if isinstance(node, str | int | float):
            self.params.append(node)
            return "?"
        raise InvalidQuery("unsupported value in filter")

    def expr_for(self, a: Any, b: Any) -> tuple[str, str]:
        qb = self.col(a)[1] if isinstance(a, ast.Attribute) else None
        qb2 = self.col(b)[1] if isinstance(b, ast.Attribute) else None
        left = self.value(a, qb2)
        right = self.value(b, qb)
        return left, right

    # -- dispatch
    def compile(self, node: Any) -> str:
        if isinstance(node, ast.And):
            return f"({self.compile(node.lhs)} AND {self.compile(node.rhs)})"
        if isinstance(node, ast.Or):
            return f"({self.compile(node.lhs)} OR {self.compile(node.rhs)})"
        if isinstance(node, ast.Not):
            return f"(NOT {self.compile(node.sub_node)})"
        if isinstance(node, ast.Include):
            return self.false if node.not_ else self.true
        if isinstance(node, ast.Comparison):
            left, right = self.expr_for(node.lhs, node.rhs)
            op = {"=": "=", "<>": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}[
                node.op.value]
            return f"({left} {op} {right})"
        if isinstance(node, ast.Between):
            c, qb = self.col(node.lhs)
            lo = self.value(node.low, qb)
            hi = self.value(node.high, qb)
            return f"({c} {'NOT ' if node.not_ else ''}BETWEEN {lo} AND {hi})"
        if isinstance(node, ast.In):
            c, qb = self.col(node.lhs)
            opts = [self.value(v, qb) for v in node.sub_nodes]
            if not opts:
                return self.true if node.not_ else self.false
            return f"({c} {'NOT ' if node.not_ else ''}IN ({', '.join(opts)}))"
        if isinstance(node, ast.IsNull):
            c, _ = self.col(node.lhs)
            return f"({c} IS {'NOT ' if node.not_ else ''}NULL)"
        if isinstance(node, ast.Like):
            return self.like(node)
        if isinstance(node, ast.SpatialComparisonPredicate):
            return self.spatial(node)
        if isinstance(node, ast.BBox):
            env = values.Envelope(node.minx, node.maxx, node.miny, node.maxy)
            return self.spatial(ast.GeometryIntersects(node.lhs, env))
        if isinstance(node, ast.TemporalPredicate):
            return self.temporal(node)
        raise InvalidQuery(f"unsupported filter expression: {type(node).__name__}")

    def like(self, node: ast.Like) -> str:
        c, _ = self.col(node.lhs)
        pattern = node.pattern
        if not isinstance(pattern, str):
            raise InvalidQuery("LIKE needs a text pattern")
        # CQL2 LIKE is case-sensitive ('%' any run, '_' one character, '\' escape);
        # SQLite's LIKE is not, so the pattern becomes a GLOB.
        out: list[str] = []
        i = 0
        while i < len(pattern):
            ch = pattern[i]
            if ch == "\\" and i + 1 < len(pattern):
                nxt = pattern[i + 1]
                out.append(f"[{nxt}]" if nxt in "*?[" else nxt)
                i += 2
                continue
            if ch == node.wildcard or ch == "%":
                out.append("*")
            elif ch == "_":
                out.append("?")
            elif ch in "*?[":
                out.append(f"[{ch}]")
            else:
                out.append(ch)
            i += 1
        self.params.append("".join(out))
        return f"({'NOT ' if node.not_ else ''}({c} GLOB ?))"

    def spatial(self, node: ast.SpatialComparisonPredicate) -> str:
        lhs, rhs = node.lhs, node.rhs
        if _is_geom_attr(rhs) and not _is_geom_attr(lhs):
            # S_WITHIN(literal, geometry) == S_CONTAINS(geometry, literal)
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
        if op == "disjoint":
            op, negate = "intersects", True
        else:
            negate = False
        minx, miny, maxx, maxy = geom.bounds
        if op == "intersects" and _is_rectangle(geom):
            # A box literal (BBOX, ENVELOPE or a rectangle): the R-tree answers the
            # rows whose envelope lies inside it, the exact test only the rest.
            frag, p = sqlite_box_clause(self.sch.table, self.a, (minx, miny, maxx, maxy))
            self.params.extend(p)
            frag = f"({frag})"
        else:
            self.params.extend([minx, maxx, miny, maxy, op, shapely.to_wkb(geom)])
            frag = (f"({self.a}.fid IN (SELECT id FROM rtree_{self.sch.table}_geom WHERE "
                    f"maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ?) "
                    f"AND onemap_spatial(?, {self.a}.geom, ?) = 1)")
        return f"(NOT {frag})" if negate else frag

    def temporal(self, node: ast.TemporalPredicate) -> str:
        lhs, rhs = node.lhs, node.rhs
        if isinstance(rhs, ast.Attribute | values.Interval) and not isinstance(
                lhs, ast.Attribute | values.Interval):
            lhs, rhs = rhs, lhs
        # Left side: an instant property, or INTERVAL(start_property, end_property).
        if isinstance(lhs, values.Interval):
            s, qb = self.col(lhs.start)
            e, _ = self.col(lhs.end) if lhs.end is not None else ("NULL", qb)
        else:
            s, qb = self.col(lhs)
            e = None
        lo, hi = self._bounds(rhs, qb)
        name = type(node).__name__
        if e is None:
            # An instant-valued property.
            if name in ("TimeIntersects", "TimeEquals", "TimeDuring", "TimeOverlaps"):
                return self._range(s, lo, hi)
            if name == "TimeBefore":
                return self._cmp(s, "<", lo)
            if name == "TimeAfter":
                return self._cmp(s, ">", hi)
            if name == "TimeDisjoint":
                return f"(NOT {self._range(s, lo, hi)})"
        else:
            # The valid interval [s, e), e null = still valid.
            if name in ("TimeIntersects", "TimeOverlaps"):
                parts = []
                if hi is not None:
                    parts.append(self._cmp(s, "<=", hi))
                if lo is not None:
                    self.params.append(lo)
                    parts.append(f"({e} IS NULL OR {e} > ?)")
                return "(" + " AND ".join(parts or [self.true]) + ")"
            if name == "TimeBefore" and lo is not None:
                self.params.append(lo)
                return f"({e} IS NOT NULL AND {e} <= ?)"
            if name == "TimeAfter" and hi is not None:
                return self._cmp(s, ">", hi)
        raise InvalidQuery(f"unsupported temporal predicate {name}")

    def _cmp(self, col: str, op: str, v: str | None) -> str:
        if v is None:
            return self.true
        self.params.append(v)
        return f"({col} {op} ?)"

    def _range(self, col: str, lo: str | None, hi: str | None) -> str:
        parts = [f"{col} IS NOT NULL"]
        if lo is not None:
            parts.append(f"{col} >= ?")
            self.params.append(lo)
        if hi is not None:
            parts.append(f"{col} <= ?")
            self.params.append(hi)
        return "(" + " AND ".join(parts) + ")"

    def _bounds(self, node: Any, qb: Queryable) -> tuple[str | None, str | None]:
        def text(v: Any, end: bool) -> str | None:
            v = normalise(v)
            if v is None:
                return None
            if not isinstance(v, TimeText):
                raise InvalidQuery("a temporal predicate needs a DATE, TIMESTAMP or INTERVAL")
            t = v.value
            if qb.type is ColType.DATE:
                return t[:10]
            if len(t) == 10:
                return t + ("T23:59:59Z" if end else "T00:00:00Z")
            return t

        if isinstance(node, values.Interval):
            return text(node.start, False), text(node.end, True)
        return text(node, False), text(node, True)


def _is_geom_attr(node: Any) -> bool:
    return isinstance(node, ast.Attribute) and node.name in GEOMETRY_NAMES


def literal_geometry(node: Any) -> shapely.Geometry:
    """A shapely geometry from a pygeofilter geometry or envelope literal."""
    if isinstance(node, values.Envelope):
        # closed; without width or height a line or point (a valid geometry)
        return bbox_geometry((node.x1, node.y1, node.x2, node.y2))
    if isinstance(node, values.Geometry):
        try:
            geom = shape(node.geometry)
        except Exception:
            raise InvalidQuery("bad geometry in filter") from None
        if geom.is_empty:
            raise InvalidQuery("empty geometry in filter")
        if not geom.is_valid:
            geom = shapely.make_valid(geom)
        return geom
    raise InvalidQuery("a spatial predicate needs a geometry literal")


def compile_sqlite(
    node: ast.Node, sch: KindSchema, queryables: Mapping[str, Queryable] | None = None,
    alias: str = "t",
) -> tuple[str, list[Any]]:
    """SQL WHERE fragment and parameters for a filter over ``sch``'s table.

    Spatial predicates are an R-tree envelope prefilter and the exact
    ``onemap_spatial`` function (:func:`register_sqlite_functions`).
    """
    comp = _Compiler(sch, queryables if queryables is not None else queryables_of(sch), alias)
    frag = comp.compile(node)
    return frag, comp.params


def bbox_geometry(box: Sequence[float]) -> shapely.Geometry:
    """The closed box ``(minx, miny, maxx, maxy)`` as a geometry.

    A box without width or height is a line or a point (a zero-area polygon is
    invalid, and GEOS predicates on it are undefined).
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    if x0 == x1 and y0 == y1:
        return shapely.Point(x0, y0)
    if x0 == x1 or y0 == y1:
        return shapely.LineString([(x0, y0), (x1, y1)])
    return shapely.box(x0, y0, x1, y1)


def _is_rectangle(geom: shapely.Geometry) -> bool:
    if shapely.get_type_id(geom) != 3 or shapely.area(geom) <= 0:  # a Polygon with area
        return False
    return bool(shapely.equals(geom, shapely.box(*shapely.bounds(geom))))


def sqlite_box_clause(table: str, alias: str, box: Sequence[float], plan: str = "in"
                      ) -> tuple[str, list[Any]]:
    """Exact "geometry intersects the closed box" over a GeoPackage table.

    The R-tree (``rtree_{table}_geom``) is the prefilter: SQLite stores its
    bounds as 32-bit floats rounded outwards, so its candidates are a superset
    of the answer (points up to ~1 m outside the box at Luohu's longitudes, and
    every geometry whose envelope meets the box). A candidate whose stored
    envelope lies inside the box intersects it for certain; only the others,
    the few that straddle an edge, go through the exact shapely test
    (``onemap_spatial``). Both sets are R-tree searches whose every condition
    the R-tree itself checks (reading its coordinates back row by row instead
    made a count of 335,000 persons five times slower). Boundary semantics: the
    box is closed, a geometry touching an edge intersects it (OGC API Features
    bbox, shapely ``intersects``).

    ``plan``: ``"in"`` (fid IN the R-tree searches: materialises the answer,
    right for a small box), ``"exists"`` (a per-row R-tree lookup: right when
    scanning the table in fid order stops sooner) or ``"ids"`` (the bare
    ``SELECT`` of the matching fids).
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    rt = f"rtree_{table}_geom"
    wkb = shapely.to_wkb(bbox_geometry((x0, y0, x1, y1)))
    if plan == "exists":
        sql = (f"EXISTS (SELECT 1 FROM {rt} r WHERE r.id = {alias}.fid AND "
               "r.maxx >= ? AND r.minx <= ? AND r.maxy >= ? AND r.miny <= ? AND "
               "((r.minx >= ? AND r.maxx <= ? AND r.miny >= ? AND r.maxy <= ?) OR "
               f"onemap_spatial('intersects', {alias}.geom, ?) = 1))")
        return sql, [x0, x1, y0, y1, x0, x1, y0, y1, wkb]
    if plan not in ("in", "ids"):
        raise ValueError(f"unknown plan {plan!r}")
    inside, p_in = _rtree_inside(rt, (x0, y0, x1, y1))
    edges, p_edges = _rtree_straddling(rt, (x0, y0, x1, y1))
    sql = (f"{inside} UNION ALL SELECT e.id FROM ({edges}) e WHERE onemap_spatial("
           f"'intersects', (SELECT g.geom FROM {table} g WHERE g.fid = e.id), ?) = 1")
    if plan == "in":
        sql = f"{alias}.fid IN ({sql})"
    return sql, [*p_in, *p_edges, wkb]


def _rtree_inside(rt: str, box: tuple[float, float, float, float]) -> tuple[str, list[Any]]:
    """Ids whose stored (outward-rounded) envelope lies inside the box."""
    x0, y0, x1, y1 = box
    return (f"SELECT id FROM {rt} WHERE minx >= ? AND maxx <= ? AND miny >= ? AND maxy <= ?",
            [x0, x1, y0, y1])


def _rtree_straddling(rt: str, box: tuple[float, float, float, float]
                      ) -> tuple[str, list[Any]]:
    """Ids whose stored envelope meets the box without lying inside it: the union of
    the four edges' strips (each one R-tree search)."""
    x0, y0, x1, y1 = box
    meets = f"SELECT id FROM {rt} WHERE maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ?"
    parts, params = [], []
    for cond, v in (("minx < ?", x0), ("maxx > ?", x1), ("miny < ?", y0), ("maxy > ?", y1)):
        parts.append(f"{meets} AND {cond}")
        params += [x0, x1, y0, y1, v]
    return " UNION ".join(parts), params


def sqlite_box_count(table: str, box: Sequence[float]) -> tuple[str, list[Any]]:
    """SQL counting the rows of ``table`` whose geometry intersects the closed box,
    on the R-tree alone except for the candidates straddling an edge (see
    :func:`sqlite_box_clause`)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    rt = f"rtree_{table}_geom"
    inside, p_in = _rtree_inside(rt, (x0, y0, x1, y1))
    edges, p_edges = _rtree_straddling(rt, (x0, y0, x1, y1))
    wkb = shapely.to_wkb(bbox_geometry((x0, y0, x1, y1)))
    sql = (f"SELECT ({inside.replace('SELECT id', 'SELECT COUNT(*)', 1)}) + "
           f"(SELECT COUNT(*) FROM ({edges}) e WHERE onemap_spatial('intersects', "
           f"(SELECT g.geom FROM {table} g WHERE g.fid = e.id), ?) = 1)")
    return sql, [*p_in, *p_edges, wkb]


def attributes(node: Any) -> set[str]:
    """Names of every property a filter refers to."""
    out: set[str] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, ast.Attribute):
            out.add(n.name)
        elif isinstance(n, values.Interval):
            stack.extend([n.start, n.end])
        elif isinstance(n, ast.Node):
            stack.extend(n.get_sub_nodes())
        elif isinstance(n, list):
            stack.extend(n)
    return out


# ---------------------------------------------------------------------------
# the exact spatial predicate as an SQLite function

_PREPARED: OrderedDict[bytes, shapely.Geometry] = OrderedDict()
_PREPARED_LOCK = threading.Lock()
_PREPARED_MAX = 64
_PREDICATES: dict[str, Callable[[Any, Any], Any]] = {
    "intersects": lambda g, f: shapely.intersects(g, f),
    "within": lambda g, f: shapely.contains(g, f),      # feature within g
    "contains": lambda g, f: shapely.within(g, f),      # feature contains g
    "touches": lambda g, f: shapely.touches(g, f),
    "crosses": lambda g, f: shapely.crosses(g, f),
    "overlaps": lambda g, f: shapely.overlaps(g, f),
    "equals": lambda g, f: shapely.equals(g, f),
}


def _literal(wkb: bytes) -> shapely.Geometry:
    with _PREPARED_LOCK:
        g = _PREPARED.get(wkb)
        if g is None:
            g = shapely.from_wkb(wkb)
            shapely.prepare(g)
            _PREPARED[wkb] = g
            if len(_PREPARED) > _PREPARED_MAX:
                _PREPARED.popitem(last=False)
        return g



def spatial_mask(node: Any, geoms: Any) -> Any:
    """Which of ``geoms`` (a shapely array) a purely spatial filter selects (numpy bools).

    For layers whose features are computed rather than stored (the H3 aggregate
    layers): the filter may combine spatial predicates on the feature geometry
    (``S_INTERSECTS``... and ``BBOX``) with AND, OR and NOT; anything else is an
    InvalidQuery. Evaluated with vectorised shapely on the features' own
    geometries, so a hexagon is selected or not as a whole (CQL2 Part 1,
    /req/spatial-functions: the predicate is on the feature's geometry).
    """
    import numpy as np

    if isinstance(node, ast.And):
        return spatial_mask(node.lhs, geoms) & spatial_mask(node.rhs, geoms)
    if isinstance(node, ast.Or):
        return spatial_mask(node.lhs, geoms) | spatial_mask(node.rhs, geoms)
    if isinstance(node, ast.Not):
        return ~spatial_mask(node.sub_node, geoms)
    if isinstance(node, ast.Include):
        return np.full(len(geoms), not node.not_, dtype=bool)
    if isinstance(node, ast.BBox):
        env = values.Envelope(node.minx, node.maxx, node.miny, node.maxy)
        return spatial_mask(ast.GeometryIntersects(node.lhs, env), geoms)
    if not isinstance(node, ast.SpatialComparisonPredicate):
        raise InvalidQuery("this layer takes spatial filters on its geometry only "
                           "(S_INTERSECTS, S_WITHIN..., BBOX with AND/OR/NOT)")
    lhs, rhs = node.lhs, node.rhs
    op = node.op.name.lower()
    if _is_geom_attr(rhs) and not _is_geom_attr(lhs):
        # S_WITHIN(literal, geometry) == S_CONTAINS(geometry, literal)
        op = {"within": "contains", "contains": "within"}.get(op, op)
        lhs, rhs = rhs, lhs
    if not _is_geom_attr(lhs):
        raise InvalidQuery("a spatial predicate needs the geometry property")
    literal = literal_geometry(rhs)
    arr = np.asarray(geoms, dtype=object)
    if op == "disjoint":
        return ~np.asarray(shapely.intersects(literal, arr), dtype=bool)
    if op not in _PREDICATES:
        raise InvalidQuery(f"unsupported spatial predicate {op!r}")
    return np.asarray(_PREDICATES[op](literal, arr), dtype=bool)


def register_sqlite_functions(
    conn: sqlite3.Connection, decode: Callable[[Sequence[bytes | None]], Any]
) -> None:
    """Register ``onemap_spatial(op, gpkg_blob, literal_wkb)`` on a connection.

    ``decode`` turns GeoPackage blobs into shapely geometries. The function
    answers 1/0 (NULL geometry: 0); ``op`` is the CQL2 name without ``s_``.
    """

    def fn(op: str, blob: bytes | None, wkb: bytes) -> int:
        if blob is None:
            return 0
        feat = decode([blob])[0]
        if feat is None:
            return 0
        return 1 if bool(_PREDICATES[op](_literal(wkb), feat)) else 0

    conn.create_function("onemap_spatial", 3, fn, deterministic=True)


@dataclass(frozen=True)
class Filter:
    """A parsed CQL2 filter and the properties it may use, as passed to a store.

    ``queryables`` maps the names the client uses to columns (None: every column
    of the kind). Each backend compiles ``node`` into its own SQL.
    """

    node: ast.Node
    queryables: Mapping[str, Queryable] | None = None

    @classmethod
    def from_text(cls, text: str, queryables: Mapping[str, Queryable] | None = None) -> Filter:
        """A filter from CQL2 text."""
        return cls(parse_cql2_text(text), queryables)

    @classmethod
    def from_json(cls, doc: str | bytes | Mapping[str, Any],
                  queryables: Mapping[str, Queryable] | None = None) -> Filter:
        """A filter from CQL2 JSON."""
        return cls(parse_cql2_json(doc), queryables)
