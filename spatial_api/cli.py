"""The ``onemap`` command line.

Every command that touches data takes ``--data-dir`` (default: ``ONEMAP_DATA_DIR``
or ``data/build``). Errors of the core are printed as one line on stderr with
exit status 2; nothing is half-written.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from gis.errors import CoreError
from gis.settings import CoreSettings

F = TypeVar("F", bound=Callable[..., Any])


def data_dir_option(fn: F) -> F:
    """The shared ``--data-dir`` option."""
    return click.option(
        "--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
        help="Data directory (default: $ONEMAP_DATA_DIR or data/build).")(fn)


def _settings(data_dir: Path | None) -> CoreSettings:
    return CoreSettings(data_dir=data_dir) if data_dir is not None else CoreSettings()


@contextmanager
def _store(data_dir: Path | None) -> Iterator[Any]:
    from gis.store import open_store

    store = open_store(_settings(data_dir))
    try:
        yield store
    finally:
        store.close()


def _load_area(path: Path) -> Any:
    """Union of the geometries of a GeoJSON (or any OGR-readable) file, in WGS84."""
    import geopandas as gpd

    from gis.errors import InvalidGeometry

    try:
        gdf = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types
        raise InvalidGeometry(f"cannot read area file {path.name}: {exc}") from None
    if gdf.empty:
        raise InvalidGeometry(f"area file {path.name} holds no geometry")
    if gdf.crs is not None and not gdf.crs.equals("EPSG:4326"):
        gdf = gdf.to_crs("EPSG:4326")
    return gdf.geometry.union_all()


@click.group()
@click.version_option("0.1.0", prog_name="onemap")
def cli() -> None:
    """OneMap: the spatio-temporal GIS server of Luohu district."""


@cli.group()
def demo() -> None:
    """Demo data."""


@demo.command("build")
@click.option("--scale", type=click.FloatRange(0.0001, 2.0), default=1.0, show_default=True,
              help="Fraction of the full demo (1.0 = 1,143,801 persons).")
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--force/--no-force", default=True, show_default=True,
              help="Rebuild even if a store exists.")
@click.option("--area", default="luohu", show_default=True,
              help="luohu (one GeoPackage store), or shenzhen / luohu,futian,… (Dask-built "
                   "GeoParquet partitions under DATA_DIR/city, see docs/scale.md).")
@click.option("--workers", type=click.IntRange(1, 512), default=None,
              help="Local Dask workers for --area (default: CPU count).")
@data_dir_option
def demo_build(scale: float, seed: int, force: bool, data_dir: Path | None,
               area: str = "luohu", workers: int | None = None) -> None:
    """Generate the synthetic Luohu demo into a new GeoPackage store."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from data.synth.build import STAGES, build_demo

    settings = _settings(data_dir)
    if area.strip().lower() != "luohu":
        from data.synth.city import CityError, build_city, parse_area

        try:
            districts = parse_area(area)
        except CityError as exc:
            raise click.BadParameter(str(exc), param_hint="--area") from exc
        city = build_city(settings.data_dir / "city", districts, seed=seed, scale=scale,
                          workers=workers, progress=sys.stderr.isatty())
        click.echo(json.dumps({"root": str(city.root), "seconds": city.seconds,
                               "partitions": city.partitions, "rows": city.rows}, indent=1))
        return
    if settings.store_path.exists() and not force:
        click.echo(f"store exists: {settings.store_path}")
        return
    with Progress(TextColumn("[bold]demo build[/] {task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                  transient=not sys.stderr.isatty(), console=None) as bar:
        task = bar.add_task("starting", total=len(STAGES))

        def on_stage(name: str, index: int, total: int) -> None:
            bar.update(task, description=name, completed=index)

        report = build_demo(settings.data_dir, scale=scale, seed=seed,
                            store_file=settings.store_file, on_stage=on_stage)
        bar.update(task, description="done", completed=len(STAGES))
    click.echo(json.dumps({"store": str(report.path), "seconds": report.seconds,
                           "stages": report.stage_seconds, "rows": report.rows},
                          ensure_ascii=False, indent=1))


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--kind", required=True, help="Entity kind (person, event, building, ...).")
@click.option("--replace", is_flag=True, help="Replace every row of the kind.")
@data_dir_option
def ingest(file: Path, kind: str, replace: bool, data_dir: Path | None) -> None:
    """Ingest a CSV, GeoJSON or GeoParquet FILE as entities of KIND, in one transaction."""
    from rich.progress import Progress

    from gis.ingest import read_file

    frame = read_file(file, kind)
    with _store(data_dir) as store, Progress(transient=True) as bar:
        frame = _geocode_missing(kind, frame, store)
        task = bar.add_task(f"ingest {kind}", total=max(len(frame), 1))
        report = store.ingest(kind, frame, replace=replace,
                              progress=lambda done, total: bar.update(task, completed=done))
        from spatial_api.cli_audit import audit_cli_operation

        audit_cli_operation("ingest", layer=kind, rows=report.rows, store=store,
                            params={"file": file.name, "replace": replace})
    click.echo(json.dumps({"kind": report.kind, "rows": report.rows,
                           "seconds": round(report.seconds, 3)}))


def _geocode_missing(kind: str, frame: Any, store: Any) -> Any:
    """Resolve rows that carry an address text but no geometry with the address service
    (built only when such rows exist); unresolved rows keep a null geometry and get
    ``geocode_status = unresolved``."""
    import shapely

    from gis.model import schema

    sch = schema(kind)
    if sch.geometry is None or "geometry" not in frame.columns:
        return frame
    text_col = "address_text" if "address_text" in frame.columns else "address"
    if text_col not in frame.columns:
        return frame
    missing = shapely.is_missing(frame.geometry.values) & frame[text_col].notna().to_numpy()
    if not missing.any():
        return frame
    from address.ingest import resolve_frame
    from address.service import address_service

    return resolve_frame(kind, frame, address_service(store))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@data_dir_option
def stats(as_json: bool, data_dir: Path | None) -> None:
    """Entity counts per kind and data provenance."""
    with _store(data_dir) as store:
        s = store.stats().as_dict()
        if as_json:  # comparable across stores and backends (issue 16)
            from gis.store import content_hash

            s["content_hash"] = content_hash(store)
    if as_json:
        click.echo(json.dumps(s, ensure_ascii=False, indent=1))
        return
    click.echo(f"store: {s['backend']} {s['location']}  built {s['meta'].get('build_time')}")
    for kind, n in s["counts"].items():
        click.echo(f"  {kind:<18} {n:>12,}")


@cli.command()
@click.option("--kind", required=True)
@click.option("--res", type=click.IntRange(7, 12), default=9, show_default=True)
@click.option("--as-of", default=None, help="Instant or interval a/b (ISO 8601).")
@click.option("--by", default=None, help="Break counts down by an attribute (age_band, ...).")
@click.option("--sum", "sums", multiple=True, help="Numeric property to sum (repeatable).")
@click.option("--within", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Only inside the area of this GeoJSON file.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="GeoJSON output file (default: stdout).")
@data_dir_option
def blocks(kind: str, res: int, as_of: str | None, by: str | None, sums: tuple[str, ...],
           within: Path | None, out: Path | None, data_dir: Path | None) -> None:
    """H3 block aggregates of KIND as GeoJSON polygons."""
    from gis.blocks import aggregate_to_geojson

    area = _load_area(within) if within is not None else None
    with _store(data_dir) as store:
        table = store.block_aggregate(kind, res, as_of=as_of, within=area, by=by, sums=sums)
    fc = aggregate_to_geojson(table, res, by=by, sums=sums)
    fc["properties"] = {"kind": kind, "res": res, "as_of": as_of, "by": by}
    text = json.dumps(fc, ensure_ascii=False)
    if out is None:
        click.echo(text)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"{len(fc['features'])} blocks → {out}", err=True)


@cli.command()
@click.argument("kind")
@click.argument("entity_id")
@click.option("--as-of", default=None)
@data_dir_option
def get(kind: str, entity_id: str, as_of: str | None, data_dir: Path | None) -> None:
    """Print one entity as GeoJSON."""
    with _store(data_dir) as store:
        df = store.get(kind, entity_id, as_of=as_of)
    click.echo(df.drop(columns=["fid"]).to_json(ensure_ascii=False, drop_id=True))


@cli.command()
@click.option("--kind", required=True)
@click.option("--area", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              required=True, help="GeoJSON file of the area.")
@click.option("--as-of", default=None)
@click.option("--count", "count_only", is_flag=True, help="Print only the number.")
@data_dir_option
def within(kind: str, area: Path, as_of: str | None, count_only: bool,
           data_dir: Path | None) -> None:
    """Entities of KIND inside an area (GeoJSON out)."""
    geom = _load_area(area)
    with _store(data_dir) as store:
        df = store.query(kind, within=geom, as_of=as_of)
    if count_only:
        click.echo(str(len(df)))
    else:
        click.echo(df.drop(columns=["fid"]).to_json(ensure_ascii=False, drop_id=True))


@cli.command()
@click.option("--kind", required=True)
@click.option("--lon", type=float, required=True)
@click.option("--lat", type=float, required=True)
@click.option("-k", type=click.IntRange(1, 1000), default=5, show_default=True)
@click.option("--as-of", default=None)
@data_dir_option
def nearest(kind: str, lon: float, lat: float, k: int, as_of: str | None,
            data_dir: Path | None) -> None:
    """The k entities of KIND nearest to a point, with distance_m."""
    with _store(data_dir) as store:
        df = store.nearest(kind, lon, lat, k, as_of=as_of)
    click.echo(df.drop(columns=["fid"]).to_json(ensure_ascii=False, drop_id=True))


@cli.command()
@click.option("--kind", required=True)
@click.option("--level", type=click.Choice(["subdistrict", "community"]), default="subdistrict")
@click.option("--as-of", default=None)
@data_dir_option
def counts(kind: str, level: str, as_of: str | None, data_dir: Path | None) -> None:
    """Counts of KIND per subdistrict or community (CSV out)."""
    with _store(data_dir) as store:
        df = store.admin_counts(kind, level, as_of=as_of)
    click.echo(df.to_csv(index=False), nl=False)


@cli.command()
@click.option("--cell", required=True, help="H3 cell (hex string) of any resolution.")
@click.option("--kind", required=True)
@click.option("--from", "start", default="2019-01-01", show_default=True)
@click.option("--to", "end", default="2025-12-31", show_default=True)
@click.option("--freq", type=click.Choice(["YS", "QS", "MS"]), default="YS", show_default=True,
              help="Period boundaries: year, quarter or month starts.")
@click.option("--by", default=None)
@data_dir_option
def timeline(cell: str, kind: str, start: str, end: str, freq: str, by: str | None,
             data_dir: Path | None) -> None:
    """The timeline of one H3 cell: counts of KIND at each period boundary (CSV out)."""
    import pandas as pd

    from gis.errors import InvalidQuery
    from gis.h3cells import str_to_cell

    try:
        c = str_to_cell(cell)
        marks = [d.strftime("%Y-%m-%d") for d in pd.date_range(start, end, freq=freq)]
    except ValueError as exc:
        raise InvalidQuery(str(exc)) from None
    with _store(data_dir) as store:
        df = store.block_timeline(c, kind, marks, by=by)
    click.echo(df.to_csv(index=False), nl=False)


@cli.command()
@click.option("--host", default=None, help="Listen address (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 8000).")
@click.option("--packs/--no-packs", default=True, show_default=True,
              help="Build missing or stale offline packs in the background at start-up "
                   "(with --workers > 1, in none of them: run 'onemap tiles' for packs).")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Server processes sharing the port (uvicorn workers); each has its own "
                   "tile cache, kept fresh across processes (docs/security.md, Operations).")
@data_dir_option
def serve(host: str | None, port: int | None, packs: bool, data_dir: Path | None,
          workers: int = 1) -> None:
    """Serve the APIs and the viewer."""
    import uvicorn

    from spatial_api.app import create_app
    from spatial_api.settings import Settings

    overrides: dict[str, Any] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    # Several workers would each build the same packs at once.
    overrides["packs_on_start"] = packs and workers == 1
    overrides["indicators_warm"] = True  # the cockpit's first request is served warm
    settings = Settings(**overrides)
    from gis.settings import DbSettings

    if not DbSettings().url and not settings.store_path.exists():
        raise click.ClickException(
            f"no store in {settings.data_dir}; run 'onemap demo build' first")
    if workers == 1:
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                    log_level="info")
        return
    # Worker processes import the app by name (uvicorn's factory string) and read
    # their settings from the environment, so the options travel as ONEMAP_* variables.
    for name, value in (("ONEMAP_HOST", settings.host), ("ONEMAP_PORT", settings.port),
                        ("ONEMAP_DATA_DIR", settings.data_dir),
                        ("ONEMAP_PACKS_ON_START", settings.packs_on_start),
                        ("ONEMAP_INDICATORS_WARM", settings.indicators_warm)):
        os.environ[name] = str(value)
    uvicorn.run("spatial_api.cli:app_from_env", factory=True, workers=workers,
                host=settings.host, port=settings.port, log_level="info",
                timeout_worker_healthcheck=settings.worker_healthcheck_s)


def app_from_env() -> Any:
    """The app of one ``serve --workers`` process, configured by ``ONEMAP_*`` variables."""
    from spatial_api.app import create_app

    return create_app()


from spatial_api.cli_analysis import analysis as _analysis  # noqa: E402

cli.add_command(_analysis)
from spatial_api.cli_tiles import tiles as _tiles  # noqa: E402

cli.add_command(_tiles)
from spatial_api.cli_db import db as _db  # noqa: E402

cli.add_command(_db)
from spatial_api.cli_address import address as _address  # noqa: E402

cli.add_command(_address)
from spatial_api.cli_report import report as _report  # noqa: E402

cli.add_command(_report)
from spatial_api.cli_enterprise import enterprise as _enterprise  # noqa: E402

cli.add_command(_enterprise)
from spatial_api.cli_network import network as _network  # noqa: E402

cli.add_command(_network)
from spatial_api.cli_sensors import sensors as _sensors  # noqa: E402

cli.add_command(_sensors)
from spatial_api.cli_keys import keys as _keys  # noqa: E402

cli.add_command(_keys)
from spatial_api.cli_audit import audit as _audit  # noqa: E402

cli.add_command(_audit)
from spatial_api.cli_batch import batch as _batch  # noqa: E402

cli.add_command(_batch)
from spatial_api.cli_dispatch import dispatch as _dispatch  # noqa: E402

cli.add_command(_dispatch)


def main() -> None:
    """Entry point: run the CLI, turning core errors into one-line messages."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except CoreError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
