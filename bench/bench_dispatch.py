"""Benchmark of unified supervision: classifier quality on the hand-written set, training
time on all history, triage p95, Gi* hot spots at res 9.

``run(store)`` trains on every event of the store (and its closed cases), measures top-1
and top-3 accuracy, macro-F1 and the confusion matrix on ``tests/data/dispatch/
eval_texts.jsonl`` (hand-written, never used for training), times triage (classifier +
dispatch table + geocoder) on those texts one at a time, and Gi* over the district's H3
cells at res 9. It writes the report to ``docs/dispatch.md``'s figures file
``bench/results/dispatch.md``. Run alone:
``python -m bench.bench_dispatch --data-dir DIR [--regen-events]`` (``--regen-events``:
rebuild the event texts with the current generator from the store's own geography, for a
store built before the generator changed; nothing is written to the store).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import Row, ms, p
from gis.cases import classifier as clf_mod
from gis.cases.config import CATEGORIES, load_table
from gis.cases.history import history
from gis.cases.triage import Triage

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT / "tests" / "data" / "dispatch" / "eval_texts.jsonl"
REPORT = ROOT / "bench" / "results" / "dispatch.md"


def load_eval() -> tuple[list[str], list[str]]:
    """The hand-written evaluation texts and labels."""
    rows = [json.loads(line) for line in EVAL.read_text(encoding="utf-8").splitlines()
            if line.strip()]
    return [r["text"] for r in rows], [r["category"] for r in rows]


def evaluate(clf: clf_mod.Classifier) -> dict[str, Any]:
    """Top-1, top-3, macro-F1 and the confusion matrix on the hand-written set."""
    from sklearn.metrics import confusion_matrix, f1_score

    texts, labels = load_eval()
    pred = clf.predict_many(texts, 3)
    top1 = [c[0][0] for c in pred]
    return {
        "n": len(texts),
        "top1": float(np.mean([a == b for a, b in zip(top1, labels, strict=True)])),
        "top3": float(np.mean([lab in [c for c, _ in cs]
                               for cs, lab in zip(pred, labels, strict=True)])),
        "macro_f1": float(f1_score(labels, top1, labels=list(CATEGORIES), average="macro")),
        "confusion": confusion_matrix(labels, top1, labels=list(CATEGORIES)).tolist(),
        "errors": [(lab, c[0][0], t) for t, lab, c in zip(texts, labels, pred, strict=True)
                   if c[0][0] != lab],
    }


def confusion_markdown(conf: list[list[int]]) -> str:
    """The confusion matrix as a markdown table (rows: truth, columns: predicted)."""
    short = [c[:4] for c in CATEGORIES]
    lines = ["| truth \\ predicted | " + " | ".join(short) + " |",
             "|---|" + "---|" * len(short)]
    for name, row in zip(CATEGORIES, conf, strict=True):
        lines.append(f"| {name} | " + " | ".join(str(v) if v else "·" for v in row) + " |")
    return "\n".join(lines)


def _regen_history(store: Any, limit: int | None = None) -> tuple[list[str], list[str]]:
    """Event texts and categories as the current generator writes them for this store's
    geography (the store's seed; its scale, or the scale giving ``limit`` events)."""
    from data.synth.activity import EVENTS_AT_SCALE_1, build_events

    meta = store.get_meta()
    seed, scale = int(meta.get("seed", 42)), float(meta.get("scale", 1.0))
    if limit is not None:
        scale = min(scale, limit / EVENTS_AT_SCALE_1)
    b = store.query("building")
    rd = store.query("road")
    cm = store.query("community")
    ev = build_events(b, rd, cm, seed, scale)
    return ev["description"].astype(str).tolist(), ev["category"].astype(str).tolist()


def run(store: Any, regen_events: bool = False, limit: int | None = None) -> list[Row]:
    """Train on all history (or ``limit`` events), evaluate, time triage and hot spots."""
    from address.service import AddressService
    from gis.cases.service import address_locator
    from gis.cases.spatial import hotspots

    t0 = time.perf_counter()
    texts, labels = (_regen_history(store, limit) if regen_events
                     else history(store, limit=limit))
    t_read = time.perf_counter() - t0
    t0 = time.perf_counter()
    clf = clf_mod.train(texts, labels)
    t_train = time.perf_counter() - t0
    ev = evaluate(clf)

    svc = AddressService.from_store(store)
    tri = Triage(clf, load_table(), address_locator(svc))
    eval_texts, _ = load_eval()
    for t in eval_texts[:20]:
        tri(t)  # warm-up (jieba's dictionary, caches)
    times = []
    for t in eval_texts:
        s = time.perf_counter()
        tri(t)
        times.append(time.perf_counter() - s)
    t_clf = []
    for t in eval_texts:
        s = time.perf_counter()
        clf.predict(t)
        t_clf.append(time.perf_counter() - s)

    hotspots(store, 9)  # warm-up: esda/libpysal imports
    hs = []
    for _ in range(3):
        s = time.perf_counter()
        r = hotspots(store, 9)
        hs.append(time.perf_counter() - s)
    hs_cat = []
    for _ in range(3):
        s = time.perf_counter()
        hotspots(store, 9, "垃圾暴露", "2025-01-01", "2026-01-01")
        hs_cat.append(time.perf_counter() - s)

    rows = [
        Row("dispatch: history texts (distinct)", f"{len(texts):,} ({clf.meta['n_distinct']:,})"),
        Row("dispatch: reading history", f"{t_read:.1f} s"),
        Row("dispatch: training on " + ("all history" if limit is None else
                                         f"{len(texts):,} events"), f"{t_train:.0f} s"),
        Row("dispatch: top-1 accuracy, hand-written set (n=280)", f"{ev['top1']:.3f}",
            "BERT on real hotline texts 0.86; manual routing ~0.67", "≥ 0.90"),
        Row("dispatch: top-3 accuracy, hand-written set", f"{ev['top3']:.3f}", "", "≥ 0.98"),
        Row("dispatch: macro-F1, hand-written set", f"{ev['macro_f1']:.3f}"),
        Row("dispatch: triage p50 / p95 (classify + route + geocode)",
            f"{ms(p(times, 0.5))} / {ms(p(times, 0.95))}", "", "p95 ≤ 30 ms"),
        Row("dispatch: classifier alone p95", ms(p(t_clf, 0.95))),
        Row(f"hot spots: district, res 9, all events ({r['events']:,}), median of 3",
            ms(float(np.median(hs))), "", "≤ 1 s"),
        Row("hot spots: district, res 9, one category, one year, median of 3",
            ms(float(np.median(hs_cat))), "", "≤ 1 s"),
    ]
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(
        "# Dispatch benchmark\n\n" + "\n".join(f"- {x.figure}: {x.value}" for x in rows)
        + "\n\n## Confusion matrix (hand-written set)\n\n" + confusion_markdown(ev["confusion"])
        + "\n\n## Misclassified texts\n\n"
        + "\n".join(f"- {a} → {b}: {t}" for a, b, t in ev["errors"]) + "\n",
        encoding="utf-8")
    return rows


def main() -> None:
    """``python -m bench.bench_dispatch --data-dir DIR [--regen-events]``."""
    import argparse

    from bench.common import table
    from gis.settings import CoreSettings
    from gis.store import open_store

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--regen-events", action="store_true")
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args()
    store = open_store(CoreSettings(data_dir=args.data_dir))
    try:
        print(table(run(store, args.regen_events, args.limit)))
    finally:
        store.close()


if __name__ == "__main__":
    main()
