"""``onemap enterprise``: space matching and the enterprise service on the command line.

Runs on the data directory directly (an operator with file access); results
are JSON on stdout. Bad demands end with ``error: ...`` and exit status 2
(``spatial_api.cli.main``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from spatial_api.cli_analysis import data_dir_option


@click.group()
def enterprise() -> None:
    """Enterprise service: space matching, portraits, service lists."""


def _emit(result: dict[str, Any]) -> None:
    click.echo(json.dumps(result, ensure_ascii=False, indent=1))


@enterprise.command("match")
@click.argument("demand_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@data_dir_option
def match_cmd(demand_file: Path, data_dir: Path | None) -> None:
    """Rank industrial spaces for the demand in DEMAND_FILE (JSON, as the space-match process)."""
    from gis.analysis.space_match import InvalidDemand, match_spaces, parse_demand
    from spatial_api.cli import _store

    try:
        data = json.loads(demand_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidDemand(f"{demand_file.name} is not JSON: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("inputs"), dict):
        data = data["inputs"]  # an OGC execute request body works as well
    demand = parse_demand(data)
    with _store(data_dir) as store:
        result = match_spaces(store, demand)
    _emit(result.as_dict())
