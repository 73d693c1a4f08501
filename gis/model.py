"""The entity model of the core: kinds, their columns and their time axis.

One declaration per kind is the single source of truth for the GeoPackage
schema, the PostGIS schema, ingest validation and the demo generator.

Conventions (see DESIGN.md):
- geometry is WGS84 in lon/lat order (CRS84 axis order), stored with SRS 4326;
- ``h3`` is the res-15 cell of the entity's point as a 64-bit integer and
  ``block`` its res-9 parent, both derived at ingest;
- the valid time is the half-open interval ``[start, end)``; ``end`` null
  means "still current". Most kinds use ``valid_from``/``valid_to``; events use
  ``occurred_at``/``closed_at``.
- DATE columns hold ``YYYY-MM-DD``, DATETIME columns ``YYYY-MM-DDTHH:MM:SSZ``
  (UTC); both compare correctly as text, which is what keeps time filters
  inside the store's indexes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ColType(StrEnum):
    """Column types, named as GeoPackage names them."""

    TEXT = "TEXT"
    INTEGER = "INTEGER"
    REAL = "REAL"
    DATE = "DATE"
    DATETIME = "DATETIME"


class GeomType(StrEnum):
    """Geometry type names of the GeoPackage ``gpkg_geometry_columns`` table."""

    POINT = "POINT"
    LINESTRING = "LINESTRING"
    POLYGON = "POLYGON"
    MULTIPOLYGON = "MULTIPOLYGON"
    GEOMETRY = "GEOMETRY"


@dataclass(frozen=True)
class Column:
    """One attribute column of a kind."""

    name: str
    type: ColType
    required: bool = False
    description: str = ""
    personal: bool = False  # person-level data: masked unless a role grants it


@dataclass(frozen=True)
class KindSchema:
    """Declaration of one entity kind (one table in the store)."""

    kind: str
    table: str
    title: str
    geometry: GeomType | None
    columns: tuple[Column, ...]
    start_col: str | None = "valid_from"
    end_col: str | None = "valid_to"
    time_type: ColType = ColType.DATE
    # True when one entity id has several rows (versions over time).
    versioned: bool = False
    # True when the valid interval is an occurrence (events): an as_of
    # *interval* selects entities whose start lies inside it.
    instantaneous: bool = False
    geometry_nullable: bool = False
    indexes: tuple[tuple[str, ...], ...] = ()
    # Derived attributes usable in block aggregates (name -> SQL expression
    # template; ``{as_of_year}`` is filled in with the query's year).
    derived: dict[str, str] = field(default_factory=dict)

    @property
    def column_names(self) -> list[str]:
        """All attribute column names in declaration order."""
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        """The column called ``name``; KeyError if there is none."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def has_h3(self) -> bool:
        """Whether rows carry ``h3``/``block`` (every kind with a geometry)."""
        return self.geometry is not None


def _common(time_type: ColType = ColType.DATE, start: str = "valid_from",
            end: str = "valid_to") -> tuple[Column, ...]:
    return (
        Column("id", ColType.TEXT, required=True, description="stable entity id"),
        Column("address_id", ColType.TEXT, description="standard address id"),
        Column("h3", ColType.INTEGER, description="res-15 H3 cell of the entity's point"),
        Column("block", ColType.INTEGER, description="res-9 H3 block"),
        Column("subdistrict_code", ColType.TEXT, description="9-digit NBS subdistrict code"),
        Column("community_code", ColType.TEXT, description="12-digit NBS community code"),
        Column(start, time_type, required=True, description="start of the valid time"),
        Column(end, time_type, description="end of the valid time (null = current)"),
    )


C = Column
T = ColType

# Age band in 10-year steps (0-9, 10-19, ..., 80+) at the query's year, from the birth date.
_AGE = "CAST({as_of_year} - CAST(substr(birth_date, 1, 4) AS INTEGER) AS INTEGER)"
AGE_BAND_SQL = f"MIN(({_AGE}) / 10, 8) * 10"

SCHEMAS: dict[str, KindSchema] = {}


def _register(schema: KindSchema) -> None:
    SCHEMAS[schema.kind] = schema


_register(KindSchema(
    "district", "districts", "District (区)", GeomType.MULTIPOLYGON,
    (*_common(), C("code", T.TEXT, True), C("name", T.TEXT, True)),
))
_register(KindSchema(
    "subdistrict", "subdistricts", "Subdistrict (街道)", GeomType.MULTIPOLYGON,
    (*_common(), C("code", T.TEXT, True), C("name", T.TEXT, True),
     C("short_name", T.TEXT), C("pinyin", T.TEXT), C("area_km2", T.REAL)),
    indexes=(("code",),),
))
_register(KindSchema(
    "community", "communities", "Community (社区)", GeomType.MULTIPOLYGON,
    (*_common(), C("code", T.TEXT, True), C("name", T.TEXT, True),
     C("short_name", T.TEXT), C("area_km2", T.REAL)),
    indexes=(("code",),),
))
_register(KindSchema(
    "grid", "grids", "Grid (网格)", GeomType.MULTIPOLYGON,
    (*_common(), C("code", T.TEXT, True), C("name", T.TEXT, True), C("area_km2", T.REAL)),
    indexes=(("code",),),
))
_register(KindSchema(
    "road", "roads", "Road segment", GeomType.LINESTRING,
    (*_common(), C("name", T.TEXT), C("road_class", T.TEXT, True,
                                      "arterial, secondary, branch or footpath"),
     C("width_m", T.REAL), C("length_m", T.REAL), C("from_node", T.INTEGER),
     C("to_node", T.INTEGER)),
    indexes=(("name",), ("road_class",)),
))
_register(KindSchema(
    "water", "water", "Water body", GeomType.MULTIPOLYGON,
    (*_common(), C("name", T.TEXT), C("water_type", T.TEXT, True, "river, reservoir or lake")),
))
_register(KindSchema(
    "building", "buildings", "Building (楼栋)", GeomType.POLYGON,
    (*_common(), C("name", T.TEXT), C("estate", T.TEXT), C("building_no", T.TEXT),
     C("use", T.TEXT, True, "residential, office, commercial, industrial, public or mixed"),
     C("floors", T.INTEGER, True), C("height_m", T.REAL), C("year_built", T.INTEGER),
     C("footprint_m2", T.REAL), C("floor_area_m2", T.REAL), C("road", T.TEXT),
     C("house_number", T.TEXT), C("address", T.TEXT)),
    indexes=(("use",), ("estate",), ("road", "house_number")),
))
_register(KindSchema(
    "house", "houses", "House (房屋)", GeomType.POINT,
    (*_common(), C("building_id", T.TEXT, True), C("unit", T.TEXT), C("floor", T.INTEGER),
     C("room", T.TEXT), C("use", T.TEXT, True, "dwelling, office or shop"),
     C("area_m2", T.REAL), C("address", T.TEXT)),
    indexes=(("building_id",),),
))
_register(KindSchema(
    "person", "persons", "Person (人口)", GeomType.POINT,
    (*_common(), C("name", T.TEXT, personal=True), C("sex", T.TEXT, True, "M or F"),
     C("birth_date", T.DATE, True), C("id_number", T.TEXT, personal=True),
     C("phone", T.TEXT, personal=True), C("house_id", T.TEXT, personal=True),
     C("building_id", T.TEXT), C("household_id", T.TEXT, personal=True),
     C("residence_type", T.TEXT, description="registered (户籍) or resident (常住)")),
    indexes=(("house_id",), ("building_id",)),
    derived={"age_band": AGE_BAND_SQL, "sex": "sex"},
))
_register(KindSchema(
    "enterprise", "enterprises", "Enterprise (商事主体)", GeomType.POINT,
    (*_common(), C("name", T.TEXT, True), C("credit_code", T.TEXT),
     C("industry", T.TEXT, True, "GB/T 4754 section letter"), C("industry_name", T.TEXT),
     C("registered_capital", T.REAL, description="10,000 CNY"),
     C("employees", T.INTEGER), C("social_security_headcount", T.INTEGER),
     C("tax_band", T.TEXT), C("building_id", T.TEXT), C("house_id", T.TEXT)),
    indexes=(("industry",), ("building_id",)),
    derived={"industry": "industry"},
))
_register(KindSchema(
    "industrial_space", "industrial_spaces", "Industrial space (产业空间)", GeomType.POINT,
    (*_common(), C("name", T.TEXT, True), C("space_type", T.TEXT, True),
     C("building_id", T.TEXT), C("use", T.TEXT), C("area_m2", T.REAL),
     C("vacant_area_m2", T.REAL), C("vacancy_rate", T.REAL),
     C("rent", T.REAL, description="CNY per m² per month")),
    versioned=True,
    indexes=(("space_type",),),
    derived={"space_type": "space_type", "use": "use"},
))
_register(KindSchema(
    "facility", "facilities", "Facility (公共设施)", GeomType.POINT,
    (*_common(), C("name", T.TEXT, True), C("facility_type", T.TEXT, True),
     C("capacity", T.INTEGER), C("building_id", T.TEXT)),
    indexes=(("facility_type",),),
    derived={"facility_type": "facility_type"},
))
_register(KindSchema(
    "event", "events", "Event (事件)", GeomType.POINT,
    (*_common(ColType.DATETIME, "occurred_at", "closed_at"),
     C("source", T.TEXT, True, "hotline_12345, grid_patrol or sensor_alarm"),
     C("category", T.TEXT, True), C("status", T.TEXT, True),
     C("address_text", T.TEXT), C("description", T.TEXT),
     C("geocode_status", T.TEXT, description="resolved or unresolved"),
     C("sensor_id", T.TEXT)),
    start_col="occurred_at", end_col="closed_at", time_type=ColType.DATETIME,
    instantaneous=True, geometry_nullable=True,
    indexes=(("category",), ("occurred_at",), ("block", "occurred_at")),
    derived={"category": "category", "source": "source"},
))
_register(KindSchema(
    "sensor", "sensors", "Sensor (物联感知设备)", GeomType.POINT,
    (*_common(), C("name", T.TEXT, True), C("sensor_type", T.TEXT, True),
     C("unit", T.TEXT), C("threshold", T.REAL), C("water_body", T.TEXT)),
    indexes=(("sensor_type",),),
    derived={"sensor_type": "sensor_type"},
))
# Readings are an attribute table (no geometry): ``ts`` is an INTEGER of Unix
# seconds (UTC) to keep the four million hourly rows compact and range-scannable.
_register(KindSchema(
    "reading", "readings", "Sensor reading", None,
    (C("sensor_id", T.TEXT, True), C("ts", T.INTEGER, True, "Unix seconds, UTC"),
     C("value", T.REAL, True), C("alert", T.INTEGER, description="1 above threshold")),
    start_col=None, end_col=None,
    indexes=(("sensor_id", "ts"),),
))

#: Kinds that are admin units (their polygons partition the district).
ADMIN_KINDS = ("district", "subdistrict", "community", "grid")

#: Build order of the demo: later kinds refer to earlier ones.
KIND_ORDER = (
    "district", "subdistrict", "community", "grid", "road", "water", "building", "house",
    "person", "enterprise", "industrial_space", "facility", "event", "sensor", "reading",
)


def schema(kind: str) -> KindSchema:
    """The declaration of ``kind``; raises :class:`gis.errors.UnknownKind`."""
    from gis.errors import UnknownKind

    try:
        return SCHEMAS[kind]
    except KeyError:
        raise UnknownKind(kind) from None
