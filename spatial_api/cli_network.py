"""``onemap network``: routes, isochrones and the facility analyses on the command line.

JSON (GeoJSON for geometries) on stdout. Points are ``LON,LAT``. The CLI runs
as an operator on the data directory: coverage figures are not suppressed
unless ``--public`` is given.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from spatial_api.cli_analysis import data_dir_option

MODE = click.option("--mode", type=click.Choice(["walk", "drive"]), default="walk",
                    show_default=True, help="Travel mode.")
AS_OF = click.option("--as-of", "as_of", default=None, help="Date (YYYY-MM-DD); today by default.")


def _point(text: str, name: str) -> list[float]:
    try:
        lon, lat = (float(v) for v in text.split(","))
    except ValueError:
        raise click.BadParameter(f"{name} must be LON,LAT") from None
    return [lon, lat]


def _emit(result: Any) -> None:
    click.echo(json.dumps(result, ensure_ascii=False))


@click.group()
def network() -> None:
    """Road network: route, isochrone, nearest facility, coverage, fire response, siting."""


@network.command("route")
@click.option("--from", "origin", required=True, help="Origin LON,LAT.")
@click.option("--to", "target", required=True, help="Destination LON,LAT.")
@MODE
@data_dir_option
def route_cmd(origin: str, target: str, mode: str, data_dir: Path | None) -> None:
    """The fastest path between two points (GeoJSON Feature)."""
    from gis.analysis.route import RouteInput, route
    from spatial_api.cli import _store

    with _store(data_dir) as store:
        _emit(route(store, RouteInput(_point(origin, "--from"), _point(target, "--to"), mode)))


@network.command("isochrone")
@click.option("--origin", required=True, help="Origin LON,LAT.")
@click.option("--minutes", "minutes", multiple=True, type=float, default=(10.0,),
              show_default=True, help="Minutes (repeat for several).")
@MODE
@data_dir_option
def isochrone_cmd(origin: str, minutes: tuple[float, ...], mode: str,
                  data_dir: Path | None) -> None:
    """Areas reached within the given minutes (GeoJSON FeatureCollection)."""
    from gis.analysis.isochrone import IsochroneInput, isochrone
    from spatial_api.cli import _store

    with _store(data_dir) as store:
        _emit(isochrone(store, IsochroneInput(_point(origin, "--origin"), list(minutes), mode)))


@network.command("nearest-facility")
@click.option("--origin", required=True, help="Origin LON,LAT.")
@click.option("--type", "facility_type", required=True, help="Facility type (e.g. parking).")
@click.option("--k", type=int, default=3, show_default=True, help="How many.")
@MODE
@click.option("--as-of", "as_of", default=None,
              help="Instant of the parking occupancy (default: the latest reading).")
@data_dir_option
def nearest_cmd(origin: str, facility_type: str, k: int, mode: str, as_of: str | None,
                data_dir: Path | None) -> None:
    """The k facilities of a type reached soonest (free parking lots only for parking)."""
    from gis.analysis.nearest import NearestInput, nearest_facility
    from spatial_api.cli import _store

    with _store(data_dir) as store:
        _emit(nearest_facility(store, NearestInput(_point(origin, "--origin"), facility_type,
                                                   k, mode, as_of)))


@network.command("service-coverage")
@click.option("--type", "facility_type", required=True, help="Facility type.")
@click.option("--minutes", type=float, default=10.0, show_default=True)
@MODE
@AS_OF
@click.option("--public", is_flag=True, help="Suppress counts below k (public view).")
@click.option("--k", "k_anon", type=int, default=5, show_default=True, help="k for --public.")
@data_dir_option
def coverage_cmd(facility_type: str, minutes: float, mode: str, as_of: str | None,
                 public: bool, k_anon: int, data_dir: Path | None) -> None:
    """Residents within reach of a facility type, per community, with the gaps."""
    from gis.analysis.coverage import CoverageInput, service_coverage
    from spatial_api.cli import _store

    with _store(data_dir) as store:
        result = service_coverage(store, CoverageInput(facility_type, minutes, mode, as_of))
    _emit((result.suppressed_copy(k_anon) if public else result).as_dict())


@network.command("fire-response")
@click.option("--minutes", type=float, default=5.0, show_default=True)
@click.option("--mode", type=click.Choice(["walk", "drive"]), default="drive",
              show_default=True)
@AS_OF
@click.option("--buildings", is_flag=True, help="Every building's response time as features.")
@data_dir_option
def fire_cmd(minutes: float, mode: str, as_of: str | None, buildings: bool,
             data_dir: Path | None) -> None:
    """Response time from the nearest fire station to every building."""
    from gis.analysis.fire import FireResponseInput, fire_response
    from spatial_api.cli import _store

    with _store(data_dir) as store:
        _emit(fire_response(store, FireResponseInput(minutes, mode, as_of, buildings)))


@network.command("site-suggest")
@click.option("--type", "facility_type", required=True, help="Facility type.")
@click.option("--minutes", type=float, default=10.0, show_default=True)
@click.option("--k", type=int, default=3, show_default=True, help="New sites.")
@MODE
@AS_OF
@data_dir_option
def site_cmd(facility_type: str, minutes: float, k: int, mode: str, as_of: str | None,
             data_dir: Path | None) -> None:
    """k new sites that add the most covered residents (greedy maximal covering)."""
    from gis.analysis.siting import SiteSuggestInput, site_suggest
    from spatial_api.cli import _store

    with _store(data_dir) as store:
        _emit(site_suggest(store, SiteSuggestInput(facility_type, minutes, k, mode, as_of)))
