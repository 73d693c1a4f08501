"""``onemap tiles``: offline PMTiles packs and tile checks on the command line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def data_dir_option(fn: F) -> F:
    """The ``--data-dir`` option (as in ``spatial_api.cli``)."""
    return click.option(
        "--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
        help="Data directory (default: $ONEMAP_DATA_DIR or data/build).")(fn)


@click.group()
def tiles() -> None:
    """Vector tiles and offline PMTiles packs."""


@tiles.command("pack")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--area", default="district", show_default=True,
              help="'district' or a 9-digit subdistrict code.")
@click.option("--layers", default="basemap", show_default=True,
              help="Comma-separated layer ids ('basemap' = the basemap composite).")
@click.option("--minzoom", type=click.IntRange(0, 18), default=10, show_default=True)
@click.option("--maxzoom", type=click.IntRange(0, 18), default=16, show_default=True)
@data_dir_option
def pack(out: Path, area: str, layers: str, minzoom: int, maxzoom: int,
         data_dir: Path | None) -> None:
    """Write a PMTiles v3 pack of public tiles of AREA to OUT (deterministic)."""
    from rich.progress import Progress

    from gis.settings import CoreSettings
    from gis.store import open_store
    from layers.catalog import default_catalog
    from tiles.packs import build_pack

    settings = CoreSettings(data_dir=data_dir) if data_dir is not None else CoreSettings()
    store = open_store(settings)
    try:
        with Progress(transient=True) as bar:
            task = bar.add_task(f"pack {area}", total=None)
            report = build_pack(
                store, default_catalog(), out, area=area, layers=layers, minzoom=minzoom,
                maxzoom=maxzoom,
                progress=lambda done, total: bar.update(task, completed=done, total=total))
    finally:
        store.close()
    click.echo(json.dumps(report.as_dict(), ensure_ascii=False))


@tiles.command("packs-all")
@click.option("--minzoom", type=click.IntRange(0, 18), default=10, show_default=True)
@click.option("--maxzoom", type=click.IntRange(0, 18), default=16, show_default=True)
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to write (default: <data dir>/packs, served at /packs).")
@data_dir_option
def packs_all(minzoom: int, maxzoom: int, out_dir: Path | None, data_dir: Path | None) -> None:
    """Basemap packs of the district and of each subdistrict (with a progress bar)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

    from gis.settings import CoreSettings
    from gis.store import open_store
    from layers.catalog import default_catalog
    from tiles.packs import build_pack, pack_areas

    settings = CoreSettings(data_dir=data_dir) if data_dir is not None else CoreSettings()
    target = out_dir or settings.data_dir / "packs"
    store = open_store(settings)
    try:
        areas = pack_areas(store)
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      transient=True) as bar:
            overall = bar.add_task("packs", total=len(areas))
            for area in areas:
                tiles_task = bar.add_task(f"  {area} tiles", total=None)

                def step(done: int, total: int, task: TaskID = tiles_task) -> None:
                    bar.update(task, completed=done, total=total)

                report = build_pack(store, default_catalog(), target / f"{area}.pmtiles",
                                    area=area, minzoom=minzoom, maxzoom=maxzoom, progress=step)
                bar.remove_task(tiles_task)
                bar.advance(overall)
                bar.console.print(json.dumps(report.as_dict(), ensure_ascii=False),
                                  markup=False, highlight=False, soft_wrap=True)
    finally:
        store.close()
