"""The event classifier: jieba words + character n-grams, a calibrated linear model.

Features are the TF-IDF of jieba's words (1-2 grams) and of character 1-3 grams: words
carry meaning, character n-grams survive typos, homophones and words jieba splits badly.
The model is a linear SVM whose scores are calibrated into probabilities by
``CalibratedClassifierCV`` (Platt sigmoid, 3 folds), so ``confidence`` can be compared
with a threshold and the candidates are ranked by probability.

An artefact is a ``model-vNNNN.joblib`` file plus ``model-vNNNN.json`` metadata in the
``dispatch`` folder beside the store; the highest version is the current one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from gis.cases.errors import DispatchInputError, ModelUnavailable

#: Longest report text accepted (characters).
MAX_TEXT_CHARS = 10_000
ARTEFACT_DIR = "dispatch"
FORMAT = 1


def check_text(text: Any) -> str:
    """``text`` stripped; raises :class:`DispatchInputError` when unusable."""
    if not isinstance(text, str):
        raise DispatchInputError("text must be a string")
    if len(text) > MAX_TEXT_CHARS:
        raise DispatchInputError(f"text is longer than {MAX_TEXT_CHARS} characters")
    text = text.strip()
    if not text:
        raise DispatchInputError("text is empty")
    return text


def segment(text: str) -> list[str]:
    """jieba's words of ``text`` (punctuation and spaces dropped); module-level so that
    the fitted vectoriser pickles."""
    import jieba

    return [w for w in jieba.lcut(text) if w.strip() and not _is_punct(w)]


def _is_punct(w: str) -> bool:
    return all(not ch.isalnum() for ch in w)


def build_pipeline() -> Any:
    """The untrained scikit-learn pipeline."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.svm import LinearSVC

    words = TfidfVectorizer(tokenizer=segment, token_pattern=None, lowercase=False,
                            ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    chars = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=2, sublinear_tf=True)
    svm = LinearSVC(C=0.5)
    return Pipeline([("features", FeatureUnion([("words", words), ("chars", chars)])),
                     ("model", CalibratedClassifierCV(svm, method="sigmoid", cv=3))])


def fast_proba(pipeline: Any) -> Callable[[Sequence[str]], np.ndarray] | None:
    """``pipeline.predict_proba`` as a few array operations, or None when the pipeline is
    not the one :func:`build_pipeline` makes.

    Why hand-written: for one text, scikit-learn's ``CalibratedClassifierCV.predict_proba``
    spends ~15 ms validating inputs (``check_array`` in each of 3 folds x 14 per-class
    calibrators) around a few microseconds of arithmetic, half the triage time budget.
    This is the same arithmetic (sklearn.calibration ``_CalibratedClassifier.predict_proba``
    with the sigmoid method, ensemble mean over the folds): per fold the linear SVM's
    decision values ``X @ coef.T + intercept``, Platt's ``expit(-(a * d + b))`` per class,
    normalised to sum 1 (uniform when all are 0); then the mean of the folds. It is
    checked against ``predict_proba`` on a probe text when built (and in the tests); any
    difference falls back to scikit-learn.
    """
    import scipy.sparse as sp
    from scipy.special import expit

    steps = getattr(pipeline, "named_steps", {})
    feats, model = steps.get("features"), steps.get("model")
    if feats is None or model is None or getattr(model, "method", None) != "sigmoid" or \
            not getattr(model, "ensemble", True) or \
            getattr(feats, "transformer_weights", None) is not None:
        return None
    # The FeatureUnion's parts called in turn: its joblib dispatch costs more than the
    # two transforms of one short text.
    parts = [t for _, t in getattr(feats, "transformer_list", [])]
    if not parts:
        return None
    classes = np.asarray(model.classes_)
    n = len(classes)
    if n < 3:
        return None
    folds = []
    for cc in model.calibrated_classifiers_:
        est, cals = cc.estimator, cc.calibrators
        if not hasattr(est, "coef_") or not all(hasattr(c, "a_") for c in cals) or \
                len(cals) != len(est.classes_):
            return None
        idx = np.searchsorted(classes, est.classes_)
        folds.append((est.coef_.T, np.asarray(est.intercept_),
                      np.array([c.a_ for c in cals]), np.array([c.b_ for c in cals]), idx))

    def proba(texts: Sequence[str]) -> np.ndarray:
        x = sp.hstack([t.transform(list(texts)) for t in parts], format="csr")
        out = np.zeros((x.shape[0], n))
        for coef_t, icpt, a, b, idx in folds:
            d = np.asarray(x @ coef_t) + icpt
            p = np.zeros((x.shape[0], n))
            p[:, idx] = expit(-(a * d + b))
            total = p.sum(axis=1, keepdims=True)
            out += np.divide(p, total, out=np.full_like(p, 1.0 / n), where=total != 0)
        out /= len(folds)
        out[(out > 1.0) & (out <= 1.0 + 1e-5)] = 1.0
        return out

    probe = ["东门步行街井盖缺失，晚上很危险", "楼下烧烤油烟太大"]
    if not np.allclose(proba(probe), pipeline.predict_proba(probe), rtol=0, atol=1e-9):
        return None
    return proba


@dataclass
class Classifier:
    """A trained classifier and its metadata."""

    pipeline: Any
    meta: dict[str, Any] = field(default_factory=dict)
    _proba: Any = field(default=None, init=False, repr=False, compare=False)

    def proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities of ``texts`` (columns in :attr:`categories` order)."""
        if self._proba is None:
            self._proba = fast_proba(self.pipeline) or self.pipeline.predict_proba
        out: np.ndarray = self._proba(list(texts))
        return out

    @property
    def categories(self) -> list[str]:
        """Category names in the model's column order."""
        return [str(c) for c in self.pipeline.classes_]

    def predict(self, text: str, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` most probable categories of ``text`` with probabilities, best first."""
        return self.predict_many([text], k)[0]

    def predict_many(self, texts: Sequence[str], k: int = 5) -> list[list[tuple[str, float]]]:
        """:meth:`predict` for many texts at once."""
        proba = self.proba(texts)
        cats = self.categories
        order = np.argsort(-proba, axis=1, kind="stable")[:, :k]
        return [[(cats[j], round(float(proba[i, j]), 4)) for j in row]
                for i, row in enumerate(order)]


def train(texts: Sequence[str], labels: Sequence[str], *, seed: int = 0) -> Classifier:
    """Fit a classifier on ``texts``/``labels`` (duplicates are collapsed first: the
    same (text, label) pair many times adds nothing but time)."""
    if len(texts) != len(labels):
        raise DispatchInputError("texts and labels differ in length")
    pairs = sorted(set(zip(texts, labels, strict=True)))
    if len({lab for _, lab in pairs}) < 2:
        raise DispatchInputError("training needs at least two categories")
    t0 = time.perf_counter()
    pipe = build_pipeline()
    pipe.set_params(model__estimator__random_state=seed)
    pipe.fit([t for t, _ in pairs], [lab for _, lab in pairs])
    meta = {"format": FORMAT, "trained_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "n_texts": len(texts), "n_distinct": len(pairs),
            "train_seconds": round(time.perf_counter() - t0, 2),
            "categories": [str(c) for c in pipe.classes_]}
    return Classifier(pipe, meta)


def artefact_dir(data_dir: str | Path) -> Path:
    """The folder of the artefacts beside the store."""
    return Path(data_dir) / ARTEFACT_DIR


def _versions(folder: Path) -> list[int]:
    out = []
    for p in folder.glob("model-v*.joblib"):
        digits = p.stem.removeprefix("model-v")
        if digits.isdigit() and p.with_suffix(".json").exists():
            out.append(int(digits))
    return sorted(out)


def latest_version(data_dir: str | Path) -> int | None:
    """The highest complete version beside the store (None: none)."""
    folder = artefact_dir(data_dir)
    versions = _versions(folder) if folder.is_dir() else []
    return versions[-1] if versions else None


def save(clf: Classifier, data_dir: str | Path, **extra: Any) -> Path:
    """Write ``clf`` as the next version; returns the joblib path. The metadata file is
    written last (through a rename), so a half-written model is never picked up as current.

    The version number is reserved by creating its joblib file exclusively, so two
    processes saving at once (two workers retraining) never write the same version.
    """
    import os

    import joblib
    import sklearn

    folder = artefact_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    taken = [int(d) for p in folder.glob("model-v*.joblib")
             if (d := p.stem.removeprefix("model-v")).isdigit()]
    version = max(taken, default=0) + 1
    while True:
        path = folder / f"model-v{version:04d}.joblib"
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            break
        except FileExistsError:
            version += 1
    joblib.dump(clf.pipeline, path, compress=3)
    clf.meta.update(extra, version=version, sklearn=sklearn.__version__)
    tmp = folder / f".model-v{version:04d}.json.tmp"
    tmp.write_text(json.dumps(clf.meta, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, path.with_suffix(".json"))
    return path


def load(data_dir: str | Path, version: int | None = None) -> Classifier:
    """The current (highest) or given version; raises :class:`ModelUnavailable`."""
    import joblib

    folder = artefact_dir(data_dir)
    versions = _versions(folder) if folder.is_dir() else []
    if not versions or (version is not None and version not in versions):
        raise ModelUnavailable("no trained dispatch model; run 'onemap dispatch train'")
    v = version if version is not None else versions[-1]
    path = folder / f"model-v{v:04d}.joblib"
    meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    return Classifier(joblib.load(path), meta)
