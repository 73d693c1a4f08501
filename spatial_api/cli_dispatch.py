"""``onemap dispatch``: train the event classifier from history; triage a text."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.group("dispatch")
def dispatch() -> None:
    """Unified supervision: the triage classifier."""


@dispatch.command("train")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Data directory (default: $ONEMAP_DATA_DIR or data/build).")
@click.option("--limit", type=int, default=None, help="Train on a seeded subset of events.")
@click.option("--seed", type=int, default=0, show_default=True)
def train_cmd(data_dir: Path | None, limit: int | None, seed: int) -> None:
    """Train on the stored events and closed cases; save the next model version beside
    the store (``<data-dir>/dispatch/model-vNNNN.joblib`` + ``.json``)."""
    from gis.cases import classifier
    from gis.cases.history import history
    from gis.settings import CoreSettings
    from gis.store import open_store

    settings = CoreSettings(data_dir=data_dir) if data_dir is not None else CoreSettings()
    store = open_store(settings)
    try:
        texts, labels = history(store, limit=limit, seed=seed)
    finally:
        store.close()
    if not texts:
        raise click.ClickException("no events in the store to train on")
    clf = classifier.train(texts, labels, seed=seed)
    path = classifier.save(clf, settings.data_dir, limit=limit)
    click.echo(json.dumps({"artefact": path.name, **clf.meta}, ensure_ascii=False, indent=1))


@dispatch.command("triage")
@click.argument("text")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
def triage_cmd(text: str, data_dir: Path | None) -> None:
    """Classify one text with the current model (no geocoding)."""
    from gis.cases import classifier
    from gis.cases.config import load_table
    from gis.cases.triage import Triage
    from gis.settings import CoreSettings

    settings = CoreSettings(data_dir=data_dir) if data_dir is not None else CoreSettings()
    tri = Triage(classifier.load(settings.data_dir), load_table())
    click.echo(json.dumps(tri(text), ensure_ascii=False, indent=1))
