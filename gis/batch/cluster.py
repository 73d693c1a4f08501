"""The Dask client used by city builds and batch analyses."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

#: Environment variable naming an external scheduler, e.g. ``tcp://host:8786``.
SCHEDULER_ENV = "ONEMAP_DASK_SCHEDULER"


@contextlib.contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None) -> Iterator[Any]:
    """A ``distributed.Client``: on ``scheduler`` (or ``$ONEMAP_DASK_SCHEDULER``) if given,
    else on a fresh ``LocalCluster`` of ``workers`` processes (default: the CPU count).

    Local workers run one thread each: a partition task swaps module-level generator
    inputs (see :mod:`data.synth.city`), so one task per process at a time.
    """
    from distributed import Client, LocalCluster

    address = scheduler or os.environ.get(SCHEDULER_ENV)
    if address:
        with Client(address) as client:
            yield client
        return
    n = workers or os.cpu_count() or 1
    with LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client
