"""``onemap report``: standalone HTML reports (folium map, tables, charts; no internet needed)."""

from __future__ import annotations

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
def report() -> None:
    """Standalone HTML reports."""


@report.command("renewal")
@click.option("--area", "area_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Renewal area (GeoJSON or any OGR-readable file).")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="HTML file to write.")
@click.option("--as-of", "as_of", default=None, help="Date (YYYY-MM-DD); today by default.")
@click.option("--public/--no-public", default=False,
              help="Apply the public role's k-anonymity to person counts.")
@data_dir_option
def renewal(area_path: Path, out_path: Path, as_of: str | None, public: bool,
            data_dir: Path | None) -> None:
    """Write the renewal-impact report of AREA to OUT (one self-contained HTML file)."""
    from gis.analysis.renewal import RenewalImpactInput, public_impact, renewal_impact
    from spatial_api.cli import _load_area, _store
    from viewer.report import render_renewal_report

    area = _load_area(area_path)
    with _store(data_dir) as store:
        inp = RenewalImpactInput(area, as_of)
        result = renewal_impact(store, inp)
        if public:
            result = public_impact(store, inp, result, 5)
        html = render_renewal_report(store, area, result.as_dict())
    tmp = out_path.with_suffix(out_path.suffix + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(out_path)
    click.echo(f"wrote {out_path} ({len(html):,} bytes)")
