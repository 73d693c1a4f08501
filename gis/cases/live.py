"""The model a running server answers with, and retraining it without a restart.

:class:`LiveTriage` holds the current :class:`~gis.cases.triage.Triage` and follows the
artefact folder beside the store: before each use it compares the folder's modification
time (one ``stat``, a few microseconds) with the one it last saw, and only when it moved
does it look for a higher version and load it. So every worker of a multi-worker server
(and a server whose model was retrained by ``onemap dispatch train``) answers with the
newest model from its next request on, without a restart.

:class:`Retrainer` runs a retraining job in a background thread: history (the store's
events) plus the closed cases with their final categories, a new versioned artefact,
then the swap. The job's state is a small JSON file in ``<data>/dispatch/jobs/``, so any
worker can answer a poll for it, not only the one that started it.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from gis.cases import classifier as clf_mod
from gis.cases.config import DispatchTable
from gis.cases.errors import DispatchInputError, JobNotFound, ModelUnavailable, RetrainBusy
from gis.cases.triage import Locate, Triage

log = logging.getLogger(__name__)

#: A short text run once after loading, so jieba's dictionary and scikit-learn's code
#: paths are warm before the first real request (jieba loads its dictionary lazily: ~1 s).
_WARM_TEXT = "东门步行街井盖缺失，晚上很危险"
JOBS_DIR = "jobs"
#: Seconds after which a folder time is trusted to have caught every change (see refresh).
STAMP_SETTLE_S = 2.0


def warm(model: clf_mod.Classifier) -> None:
    """Run one prediction so the first request does not pay the lazy loads."""
    model.predict(_WARM_TEXT)


class LiveTriage:
    """The current triage, following the newest artefact version beside the store."""

    def __init__(self, data_dir: str | Path, table: DispatchTable,
                 locate: Locate | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.table = table
        self.locate = locate
        self._lock = threading.Lock()
        self._triage: Triage | None = None
        self._stamp: int | None = -1  # folder mtime last looked at (-1: never)

    @property
    def folder(self) -> Path:
        """The artefact folder."""
        return clf_mod.artefact_dir(self.data_dir)

    def _folder_stamp(self) -> int | None:
        try:
            return self.folder.stat().st_mtime_ns
        except FileNotFoundError:
            return None

    def refresh(self) -> bool:
        """Load a newer artefact if one appeared since the last look; True when swapped.

        The metadata file of a version is written last (:func:`classifier.save`), and
        creating it changes the folder's time, so a version is picked up only once whole.
        """
        stamp = self._folder_stamp()
        if stamp == self._stamp:
            return False
        with self._lock:
            if stamp == self._stamp:  # another thread did it meanwhile
                return False
            latest = clf_mod.latest_version(self.data_dir)
            current = self.version
            # File times are coarse (a clock tick): two changes within one tick leave
            # the same time, so a time younger than STAMP_SETTLE_S is not remembered
            # and the folder is listed again on the next call.
            settled = stamp is not None and time.time_ns() - stamp > STAMP_SETTLE_S * 1e9
            if latest is None or latest == current:
                self._stamp = stamp if settled or stamp is None else -1
                return False
            model = clf_mod.load(self.data_dir, latest)
            warm(model)
            self._triage = Triage(model, self.table, self.locate)
            self._stamp = stamp if settled else -1
        log.info("dispatch model version %s loaded", latest)
        return True

    def install(self, model: clf_mod.Classifier) -> None:
        """Swap in ``model`` (just trained and saved by this process) at once."""
        warm(model)
        with self._lock:
            if self.version is None or (model.meta.get("version") or 0) > self.version:
                self._triage = Triage(model, self.table, self.locate)

    @property
    def version(self) -> int | None:
        """The version answering now (None: no model)."""
        tri = self._triage
        return None if tri is None else tri.classifier.meta.get("version")

    @property
    def available(self) -> bool:
        """Whether a model is loaded (after looking for a new one)."""
        self.refresh()
        return self._triage is not None

    def current(self) -> Triage:
        """The newest triage; raises :class:`ModelUnavailable` when none was trained."""
        self.refresh()
        tri = self._triage
        if tri is None:
            raise ModelUnavailable("no trained dispatch model; run 'onemap dispatch train' "
                                   "or POST /dispatch/model/retrain")
        return tri

    def __call__(self, text: Any, k: int = 5) -> dict[str, Any]:
        """:meth:`Triage.__call__` with the newest model."""
        return self.current()(text, k)

    def info(self) -> dict[str, Any]:
        """The metadata of the model answering now (``{"version": None}`` without one)."""
        self.refresh()
        tri = self._triage
        if tri is None:
            return {"version": None}
        return dict(tri.classifier.meta)


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    """Write ``doc`` atomically (a reader in another worker never sees half a file)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Retrainer:
    """Retraining jobs of one server process (one at a time per process)."""

    def __init__(self, store: Any, live: LiveTriage) -> None:
        self.store = store
        self.live = live
        self._busy = threading.Lock()
        self.thread: threading.Thread | None = None

    @property
    def jobs_dir(self) -> Path:
        """Where job states are written."""
        return self.live.folder / JOBS_DIR

    def _path(self, job_id: str) -> Path:
        if not job_id.isalnum():
            raise JobNotFound(f"no retraining job {job_id!r}")
        return self.jobs_dir / f"{job_id}.json"

    def status(self, job_id: str) -> dict[str, Any]:
        """A job's state; raises :class:`JobNotFound`."""
        path = self._path(job_id)
        try:
            doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise JobNotFound(f"no retraining job {job_id!r}") from None
        return doc

    def submit(self, *, limit: int | None = None, seed: int = 0, actor: str | None = None,
               wait: bool = False) -> dict[str, Any]:
        """Start a retraining job (``limit``: a seeded subset of the events, for quick
        runs); returns its first state. Raises :class:`RetrainBusy` while one runs here."""
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                                  or limit < 100):
            raise DispatchInputError("limit must be an integer >= 100")
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
            raise DispatchInputError("seed must be an integer from 0 to 2**32 - 1")
        if not self._busy.acquire(blocking=False):
            raise RetrainBusy("a retraining job is already running")
        try:
            self.jobs_dir.mkdir(parents=True, exist_ok=True)
            job: dict[str, Any] = {
                "id": uuid.uuid4().hex[:12], "state": "accepted", "created": _now(),
                "started": None, "finished": None, "requested_by": actor, "limit": limit,
                "seed": seed, "previous_version": self.live.version, "version": None,
                "n_texts": None, "n_cases": None, "train_seconds": None, "message": None}
            _write_json(self._path(job["id"]), job)
        except BaseException:
            self._busy.release()
            raise
        self.thread = threading.Thread(target=self._run, args=(dict(job),), daemon=True,
                                       name=f"retrain-{job['id']}")
        self.thread.start()
        if wait:
            self.thread.join()
            return self.status(str(job["id"]))
        return job

    def _run(self, job: dict[str, Any]) -> None:
        from gis.cases.history import history

        path = self._path(str(job["id"]))
        try:
            job.update(state="running", started=_now())
            _write_json(path, job)
            texts, labels = history(self.store, limit=job["limit"], seed=job["seed"])
            n_cases = closed_case_count(self.store)
            if not texts:
                raise DispatchInputError("no events in the store to train on")
            model = clf_mod.train(texts, labels, seed=job["seed"])
            clf_mod.save(model, self.live.data_dir, limit=job["limit"], job=job["id"],
                         closed_cases=n_cases)
            self.live.install(model)
            job.update(state="successful", finished=_now(), version=model.meta["version"],
                       n_texts=len(texts), n_cases=n_cases,
                       train_seconds=model.meta.get("train_seconds"))
        except Exception as exc:  # the job records why; the server keeps its model
            log.exception("retraining job %s failed", job["id"])
            job.update(state="failed", finished=_now(),
                       message=str(exc) if isinstance(exc, DispatchInputError)
                       else f"{type(exc).__name__}: training failed")
        finally:
            try:
                _write_json(path, job)
            finally:
                self._busy.release()


def closed_case_count(store: Any) -> int:
    """How many closed or rated cases the store holds (0 without a case table)."""
    try:
        rows = store.sql_read("SELECT COUNT(*) FROM cases WHERE state IN (?, ?)",
                              ["办结", "评价"])
    except Exception:  # no cases table yet (never served): none
        return 0
    return int(rows[0][0])
