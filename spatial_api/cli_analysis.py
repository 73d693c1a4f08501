"""``onemap analysis``: the domain analyses on the command line (JSON on stdout).

The CLI runs on the data directory directly, as an operator with file access:
results are not suppressed (``--public`` applies the public role's k-anonymity).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def data_dir_option(fn: F) -> F:
    """The ``--data-dir`` option (as in ``spatial_api.cli``, which imports this module)."""
    return click.option(
        "--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
        help="Data directory (default: $ONEMAP_DATA_DIR or data/build).")(fn)


@click.group()
def analysis() -> None:
    """Domain analyses (block portrait, renewal impact)."""


def _emit(result: dict[str, object]) -> None:
    click.echo(json.dumps(result, ensure_ascii=False, indent=1))


@analysis.command("block-portrait")
@click.option("--cell", default=None, help="H3 block id (hex, res 7-12).")
@click.option("--lon", type=float, default=None, help="Longitude of a point in the block.")
@click.option("--lat", type=float, default=None, help="Latitude of a point in the block.")
@click.option("--res", type=int, default=9, show_default=True, help="Resolution for a point.")
@click.option("--as-of", "as_of", default=None, help="Date (YYYY-MM-DD); today by default.")
@click.option("--public", is_flag=True, help="Suppress person counts below k (public view).")
@click.option("--k", type=int, default=5, show_default=True, help="k for --public.")
@data_dir_option
def block_portrait_cmd(cell: str | None, lon: float | None, lat: float | None, res: int,
                       as_of: str | None, public: bool, k: int, data_dir: Path | None) -> None:
    """Counts and breakdowns of one H3 block at a date."""
    from gis.analysis.portrait import BlockPortraitInput, block_portrait
    from spatial_api.cli import _store

    with _store(data_dir) as store:
        result = block_portrait(store, BlockPortraitInput(cell, lon, lat, res, as_of))
    _emit((result.suppressed_copy(k) if public else result).as_dict())


@analysis.command("renewal-impact")
@click.option("--area", "area_file", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Renewal area: a GeoJSON (or any OGR-readable) polygon file.")
@click.option("--as-of", "as_of", default=None, help="Date (YYYY-MM-DD); today by default.")
@click.option("--public", is_flag=True, help="Suppress person counts below k (public view).")
@click.option("--k", type=int, default=5, show_default=True, help="k for --public.")
@data_dir_option
def renewal_impact_cmd(area_file: Path, as_of: str | None, public: bool, k: int,
                       data_dir: Path | None) -> None:
    """Impact of an urban-renewal area at a date."""
    from gis.analysis.renewal import RenewalImpactInput, public_impact, renewal_impact
    from spatial_api.cli import _load_area, _store

    area = _load_area(area_file)
    with _store(data_dir) as store:
        inp = RenewalImpactInput(area, as_of)
        result = renewal_impact(store, inp)
        if public:
            result = public_impact(store, inp, result, k)
    _emit(result.as_dict())
