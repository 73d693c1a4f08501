"""``onemap batch``: analyses over the city's GeoParquet partitions on Dask."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.group()
def batch() -> None:
    """Batch analyses on Dask over city partitions (see docs/scale.md)."""


@batch.command("blocks")
@click.option("--area", default="shenzhen", show_default=True,
              help="shenzhen or district keys (luohu,futian,…).")
@click.option("--res", type=click.IntRange(7, 12), default=8, show_default=True)
@click.option("--kind", default="person", show_default=True)
@click.option("--by", default=None, help="Group by an attribute or age_band.")
@click.option("--as-of", "as_of", default=None, help="Instant or interval a/b.")
@click.option("--from", "src", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Partition root (default: DATA_DIR/city).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="GeoParquet output (default: <root>/blocks/<kind>-r<res>.parquet).")
@click.option("--workers", type=click.IntRange(1, 512), default=None,
              help="Local Dask workers (default: CPU count; ONEMAP_DASK_SCHEDULER wins).")
def blocks_cmd(area: str, res: int, kind: str, by: str | None, as_of: str | None,
               src: Path | None, out: Path | None, workers: int | None) -> None:
    """Counts per H3 block (and per BY) of KIND over the partitions, as GeoParquet."""
    from data.synth.city import CityError, parse_area
    from gis.batch.blocks import block_aggregate, write_blocks
    from gis.batch.cluster import dask_client
    from gis.errors import CoreError
    from gis.settings import CoreSettings

    root = src or CoreSettings().data_dir / "city"
    try:
        districts = [d.code for d in parse_area(area)]
    except CityError as exc:
        raise click.BadParameter(str(exc), param_hint="--area") from exc
    target = out or root / "blocks" / f"{kind}-r{res}.parquet"
    try:
        with dask_client(workers) as client:
            table = block_aggregate(root, kind, res, as_of=as_of, by=by,
                                    districts=districts, client=client)
    except CoreError as exc:
        raise click.ClickException(str(exc)) from exc
    write_blocks(table, target, res, by)
    click.echo(json.dumps({"out": str(target), "cells": int(table["cell"].nunique()),
                           "count": int(table["count"].sum())}))


@batch.command("hotspots")
@click.option("--area", default="shenzhen", show_default=True,
              help="shenzhen or district keys (luohu,futian,…).")
@click.option("--res", type=click.IntRange(7, 10), default=9, show_default=True)
@click.option("--category", default=None, help="Only events of this category.")
@click.option("--start", default=None, help="Events at or after this date or instant.")
@click.option("--end", default=None, help="Events before this date or instant.")
@click.option("--alpha", type=float, default=0.05, show_default=True,
              help="Two-sided significance level.")
@click.option("--from", "src", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Partition root (default: DATA_DIR/city).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="GeoParquet output (default: <root>/hotspots/event-r<res>.parquet).")
@click.option("--workers", type=click.IntRange(1, 512), default=None,
              help="Local Dask workers (default: CPU count; ONEMAP_DASK_SCHEDULER wins).")
def hotspots_cmd(area: str, res: int, category: str | None, start: str | None,
                 end: str | None, alpha: float, src: Path | None, out: Path | None,
                 workers: int | None) -> None:
    """Gi* hot and cold spots of events per H3 cell over the partitions, as GeoParquet."""
    from data.synth.city import CityError, parse_area
    from gis.batch.cluster import dask_client
    from gis.batch.hotspots import hotspots, write_hotspots
    from gis.cases.errors import DispatchInputError
    from gis.settings import CoreSettings

    root = src or CoreSettings().data_dir / "city"
    try:
        districts = [d.code for d in parse_area(area)]
    except CityError as exc:
        raise click.BadParameter(str(exc), param_hint="--area") from exc
    target = out or root / "hotspots" / f"event-r{res}.parquet"
    try:
        with dask_client(workers) as client:
            cells = hotspots(root, res, category=category, start=start, end=end,
                             alpha=alpha, districts=districts, client=client)
    except DispatchInputError as exc:
        raise click.ClickException(str(exc)) from exc
    write_hotspots(cells, target)
    click.echo(json.dumps({"out": str(target), "cells": len(cells),
                           "events": int(cells["count"].sum()),
                           "hot": int((cells["class"] == "hot").sum()),
                           "cold": int((cells["class"] == "cold").sum())}))
