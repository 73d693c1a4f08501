"""pygeoapi configuration generated from the layer catalog (never edited by hand).

One configuration per role: a role's configuration lists only the layers the
role may see, so pygeoapi itself leaves the others out of ``/collections`` and
answers 404 for them (not 403, which would reveal that they exist).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from layers.catalog import Layer
from spatial_api.ogc.openapi import SCHEMAS_DIR

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
#: CRSs offered for ``crs`` and ``bbox-crs`` (OGC API Features Part 2).
SUPPORTED_CRS = [
    CRS84,
    "http://www.opengis.net/def/crs/EPSG/0/4326",
    "http://www.opengis.net/def/crs/EPSG/0/4490",
    "http://www.opengis.net/def/crs/EPSG/0/4547",
    "http://www.opengis.net/def/crs/EPSG/0/3857",
]
PROVIDER = "spatial_api.ogc.provider.OneMapProvider"
EDR_PROVIDER = "spatial_api.ogc.edr.SensorReadingsProvider"
#: The EDR collection of sensor readings, served to whoever sees the ``sensors`` layer.
EDR_COLLECTION = "sensor-readings"
#: Templates that replace pygeoapi's where its own are broken (see the files).
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
TILE_PROVIDER = "spatial_api.ogc.provider.OneMapTileProvider"
#: Luohu's extent, used until the store gives the real one.
DEFAULT_BBOX = [114.08, 22.52, 114.25, 22.66]

#: Part 3 conformance classes OneMap implements (pygeoapi 0.21 declares none).
FILTER_CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
    "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/temporal-functions",
]


def _dt(text: str | None) -> datetime | None:
    if not text:
        return None
    t = text if len(text) > 10 else text + "T00:00:00Z"
    return datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def resource(layer: Layer, extent: Mapping[str, Any] | None = None,
             tiles: bool = True) -> dict[str, Any]:
    """pygeoapi resource definition of one layer."""
    extent = extent or {}
    bbox = list(extent.get("bbox", DEFAULT_BBOX))
    temporal = extent.get("temporal", (None, None))
    res: dict[str, Any] = {
        "type": "collection",
        "title": layer.title,
        "description": layer.description or layer.title,
        "keywords": [layer.title_zh, layer.title_en, *layer.keywords],
        "links": [],
        "extents": {
            "spatial": {"bbox": bbox, "crs": CRS84},
        },
        "limits": {},
        "providers": [{
            "type": "feature",
            "name": PROVIDER,
            "data": layer.id,
            "id_field": "id",
            "time_field": layer.time_field,
            "crs": list(SUPPORTED_CRS),
            "storage_crs": CRS84,
            # Every other query parameter reaches the provider, which rejects the
            # unknown ones with 400 (pygeoapi would silently drop them).
            "include_extra_query_parameters": True,
        }],
    }
    if layer.time_field is not None:
        res["extents"]["temporal"] = {"begin": _dt(temporal[0]), "end": _dt(temporal[1]),
                                      "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"}
    if tiles and layer.geometry is not None:
        res["providers"].append({
            "type": "tile",
            "name": TILE_PROVIDER,
            # The MVT proxy provider wants an URL template; nothing is fetched.
            "data": f"http://onemap.invalid/{layer.id}/{{z}}/{{x}}/{{y}}",
            "options": {"zoom": {"min": 0, "max": 22},
                        "schemes": ["WebMercatorQuad"]},
            "format": {"name": "pbf", "mimetype": "application/vnd.mapbox-vector-tile"},
        })
    if not tiles:
        # A collection that is often empty (alerts): pygeoapi's JSON-LD page of no
        # items is not JSON; ours is (templates/collections/items/index.jsonld).
        res["templates"] = {"path": str(TEMPLATES_DIR), "static": str(TEMPLATES_DIR)}
    return res


def edr_resource(extent: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The OGC API EDR collection of sensor readings (``spatial_api/ogc/edr.py``).

    No temporal extent is declared: pygeoapi would then refuse (400) a ``datetime``
    outside it before the provider sees it, and readings arrive live.
    """
    bbox = list((extent or {}).get("bbox", DEFAULT_BBOX))
    return {
        "type": "collection",
        "title": "传感器读数 Sensor readings",
        "description": "Time series of every sensor (OGC API EDR: position and area "
                       "queries, CoverageJSON); one parameter per sensor type.",
        "keywords": ["传感器", "sensor", "time series", "EDR", "CoverageJSON"],
        "links": [],
        "extents": {"spatial": {"bbox": bbox, "crs": CRS84}},
        "limits": {},
        "providers": [{
            "type": "edr",
            "name": EDR_PROVIDER,
            "data": "sensors",
            "crs": [CRS84],
            "storage_crs": CRS84,
        }],
    }


#: Processes only some roles may see (others get 404, as for any hidden resource).
PROCESS_ROLES: dict[str, frozenset[str]] = {
    "enterprises-at-risk": frozenset({"admin", "enterprise"}),
    "policy-eligible": frozenset({"admin", "enterprise"}),
}


def processes(role: str | None = None) -> dict[str, Any]:
    """Process resources (those ``role`` may run; every one when ``role`` is None)."""
    mod = "spatial_api.ogc.processes"
    out: dict[str, Any] = {
        "block-portrait": {"type": "process",
                           "processor": {"name": f"{mod}.BlockPortraitProcessor"}},
        "renewal-impact": {"type": "process",
                           "processor": {"name": f"{mod}.RenewalImpactProcessor"}},
        "space-match": {"type": "process",
                        "processor": {"name": f"{mod}.SpaceMatchProcessor"}},
        "enterprises-at-risk": {"type": "process",
                                "processor": {"name": f"{mod}.EnterprisesAtRiskProcessor"}},
        "policy-eligible": {"type": "process",
                            "processor": {"name": f"{mod}.PolicyEligibleProcessor"}},
        **network_processes(),
        "hotspots": {"type": "process", "processor": {"name": f"{mod}.HotspotsProcessor"}},
    }
    return {k: v for k, v in out.items()
            if role is None or role == "admin" or role in PROCESS_ROLES.get(k, {role})}


def network_processes() -> dict[str, Any]:
    """The road-network processes (spatial_api/ogc/network_processes.py)."""
    mod = "spatial_api.ogc.network_processes"
    names = {"route": "RouteProcessor", "isochrone": "IsochroneProcessor",
             "nearest-facility": "NearestFacilityProcessor",
             "service-coverage": "ServiceCoverageProcessor",
             "fire-response": "FireResponseProcessor", "site-suggest": "SiteSuggestProcessor"}
    return {pid: {"type": "process", "processor": {"name": f"{mod}.{cls}"}}
            for pid, cls in names.items()}


def pygeoapi_config(
    layers: Iterable[Layer],
    *,
    base_url: str,
    output_dir: str,
    extents: Mapping[str, Mapping[str, Any]] | None = None,
    max_items: int = 10_000,
    default_items: int = 10,
    with_processes: bool = True,
    role: str | None = None,
) -> dict[str, Any]:
    """The whole pygeoapi configuration for ``layers`` (``base_url`` ends with ``/ogc``)."""
    extents = extents or {}
    resources: dict[str, Any] = {
        lyr.id: resource(lyr, extents.get(lyr.id), tiles=getattr(lyr, "tiles", True))
        for lyr in layers}
    if "sensors" in resources:
        resources[EDR_COLLECTION] = edr_resource(extents.get("sensors"))
    if with_processes:
        resources.update(processes(role))
    return {
        "server": {
            "bind": {"host": "127.0.0.1", "port": 5000},
            "url": base_url.rstrip("/"),
            "mimetype": "application/json; charset=UTF-8",
            "encoding": "utf-8",
            "gzip": False,
            # Chinese without a territory: pygeoapi 0.21 answers a request for "zh" (the
            # lang parameter or Accept-Language) with Locale("zh", "CN"), which Babel does
            # not know (a 500 on every path); a generic "zh" matches every Chinese tag.
            "languages": ["en-US", "zh"],
            "cors": False,
            "pretty_print": False,
            "admin": False,
            "limits": {"default_items": default_items, "max_items": max_items,
                       "on_exceed": "throttle"},
            "map": {"url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                    "attribution": "OpenStreetMap contributors"},
            "manager": {"name": "Dummy", "connection": None, "output_dir": output_dir},
            # The OGC schema files ship with OneMap, served at /ogc/schemas (gate.py);
            # pygeoapi then points the OpenAPI document there, and openapi.py inlines them.
            "ogc_schemas_location": str(SCHEMAS_DIR),
        },
        "logging": {"level": "ERROR"},
        "metadata": {
            "identification": {
                "title": "OneMap 罗湖一张图 — OGC API",
                "description": "Spatio-temporal GIS server of Luohu district, Shenzhen "
                               "(synthetic demo data; real outline and division names).",
                "keywords": ["Luohu", "罗湖", "OGC API", "H3"],
                "keywords_type": "theme",
                "terms_of_service": "https://creativecommons.org/licenses/by/4.0/",
                "url": base_url.rstrip("/"),
            },
            "license": {"name": "CC-BY 4.0 (synthetic demo data)",
                        "url": "https://creativecommons.org/licenses/by/4.0/"},
            "provider": {"name": "OneMap", "url": base_url.rstrip("/")},
            "contact": {"name": "OneMap team", "position": "maintainers",
                        "address": "Luohu District", "city": "Shenzhen",
                        "stateorprovince": "Guangdong", "postalcode": "518000",
                        "country": "China", "email": "onemap@example.org",
                        "url": base_url.rstrip("/"), "role": "pointOfContact"},
        },
        "resources": resources,
    }
