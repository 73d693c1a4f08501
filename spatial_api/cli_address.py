"""``onemap address``: parse, geocode, reverse and batch-geocode from the command line.

Each command opens the store of ``--data-dir`` (default ``$ONEMAP_DATA_DIR`` or
``data/build``) and builds the address service from it once. ``parse`` works
without a store too (real admin and road names only), with a note on stderr.
Bad input prints one line on stderr and exits with status 2.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from gis.errors import CoreError

F = TypeVar("F", bound=Callable[..., Any])


def _data_dir(fn: F) -> F:
    return click.option(
        "--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
        help="Data directory (default: $ONEMAP_DATA_DIR or data/build).")(fn)


def _service(data_dir: Path | None) -> Any:
    from address.service import address_service
    from gis.settings import CoreSettings
    from gis.store import open_store

    settings = CoreSettings(data_dir=data_dir) if data_dir is not None else CoreSettings()
    store = open_store(settings)
    try:
        return address_service(store)
    finally:
        store.close()


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=1))


def _fail(exc: CoreError) -> None:
    click.echo(f"error: {exc.message}", err=True)
    sys.exit(2)


@click.group("address")
def address() -> None:
    """Unified address service: parse, geocode, reverse, batch."""


@address.command("parse")
@click.argument("text")
@_data_dir
def parse_cmd(text: str, data_dir: Path | None) -> None:
    """Print the components of TEXT as JSON."""
    from address.errors import check_text
    from address.parser import parse as default_parse
    from gis.errors import StoreUnavailable

    try:
        text = check_text(text)
        try:
            parsed = _service(data_dir).parse(text)
        except StoreUnavailable:
            click.echo("note: no store; parsing with the admin and road names only", err=True)
            parsed = default_parse(text)
    except CoreError as exc:
        _fail(exc)
        return
    _echo_json(parsed.as_dict())


@address.command("geocode")
@click.argument("text")
@click.option("--limit", type=click.IntRange(1, 50), default=5, show_default=True)
@_data_dir
def geocode_cmd(text: str, limit: int, data_dir: Path | None) -> None:
    """Print the ranked standard addresses of TEXT as GeoJSON."""
    try:
        found = _service(data_dir).geocode(text, limit)
    except CoreError as exc:
        _fail(exc)
        return
    _echo_json({"type": "FeatureCollection", "features": [c.as_feature() for c in found]})


@address.command("reverse")
@click.argument("lon", type=float)
@click.argument("lat", type=float)
@click.option("--radius", type=float, default=100.0, show_default=True, help="Metres.")
@click.option("--limit", type=click.IntRange(1, 100), default=5, show_default=True)
@click.option("--coordsys", type=click.Choice(["wgs84", "gcj02", "bd09"]), default="wgs84",
              show_default=True)
@_data_dir
def reverse_cmd(lon: float, lat: float, radius: float, limit: int, coordsys: str,
                data_dir: Path | None) -> None:
    """Print the standard addresses nearest to LON LAT, and what contains the point."""
    try:
        res = _service(data_dir).reverse(lon, lat, radius, limit, coordsys)
    except CoreError as exc:
        _fail(exc)
        return
    _echo_json(res.as_geojson())


@address.command("batch")
@click.argument("src", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("dst", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--column", default=None, help="Address column (default: detected).")
@_data_dir
def batch_cmd(src: Path, dst: Path, column: str | None, data_dir: Path | None) -> None:
    """Geocode the CSV SRC into DST with lon, lat, address_id, score, level added.

    Unresolved rows stay in DST with empty cells; their row numbers are reported.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from address.batch import geocode_csv

    err = Console(stderr=True)
    try:
        svc = _service(data_dir)
        with Progress(TextColumn("[bold]geocode[/]"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=err, transient=not err.is_terminal) as bar:
            task = bar.add_task("rows", total=None)

            def on_progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            report = geocode_csv(svc, src, dst, column, on_progress)
    except CoreError as exc:
        _fail(exc)
        return
    summary = report.as_dict()
    if report.unresolved:
        shown = ", ".join(str(r) for r in report.unresolved_rows[:20])
        more = " ..." if report.unresolved > 20 else ""
        err.print(f"[yellow]{report.unresolved} unresolved row(s)[/]: {shown}{more}")
    _echo_json(summary)
