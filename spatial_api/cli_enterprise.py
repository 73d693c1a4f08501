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


@enterprise.command("portrait")
@click.argument("enterprise_id")
@click.option("--as-of", "as_of", default=None, help="Date (YYYY-MM-DD); today by default.")
@click.option("--personal", is_flag=True,
              help="Include event descriptions (may name natural persons; admin use only).")
@data_dir_option
def portrait_cmd(enterprise_id: str, as_of: str | None, personal: bool,
                 data_dir: Path | None) -> None:
    """The portrait of one enterprise."""
    from gis.analysis.enterprise_policies import policy_table
    from gis.analysis.enterprise_service import enterprise_portrait
    from spatial_api.cli import _store

    with _store(data_dir) as store:
        result = enterprise_portrait(store, enterprise_id, policy_table(), as_of=as_of,
                                     reveal_personal=personal)
    _emit(result.as_dict())


@enterprise.command("at-risk")
@click.option("--as-of", "as_of", default=None, help="Date (YYYY-MM-DD); today by default.")
@click.option("--min-score", type=float, default=40.0, show_default=True)
@click.option("--limit", type=int, default=1000, show_default=True)
@data_dir_option
def at_risk_cmd(as_of: str | None, min_score: float, limit: int, data_dir: Path | None) -> None:
    """Enterprises that may be about to leave (GeoJSON)."""
    from gis.analysis.enterprise_policies import policy_table
    from gis.analysis.enterprise_service import enterprises_at_risk
    from spatial_api.cli import _store

    with _store(data_dir) as store:
        _emit(enterprises_at_risk(store, policy_table(), as_of=as_of, min_score=min_score,
                                  limit=limit))


@enterprise.command("eligible")
@click.argument("policy_id")
@click.option("--as-of", "as_of", default=None, help="Date (YYYY-MM-DD); today by default.")
@click.option("--limit", type=int, default=1000, show_default=True)
@data_dir_option
def eligible_cmd(policy_id: str, as_of: str | None, limit: int, data_dir: Path | None) -> None:
    """Enterprises eligible for POLICY_ID of config/policies.yaml (GeoJSON)."""
    from gis.analysis.enterprise_policies import policy_table
    from gis.analysis.enterprise_service import policy_eligible
    from spatial_api.cli import _store

    with _store(data_dir) as store:
        _emit(policy_eligible(store, policy_table().get(policy_id), as_of=as_of, limit=limit))
