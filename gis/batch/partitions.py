"""GeoParquet partitions on disk: ``{root}/{kind}/district={code}/part-{part}.parquet``.

``part`` is ``0`` for a whole district (or the geography of a split one) and the
H3 res-6 cell in hex for a piece of a large district (see :mod:`data.synth.city`).

A partition is written to a temporary folder under ``{root}/.tmp`` and renamed
into place only when every kind of it has been written, so a failed task leaves
no half-written partition (rename is atomic on one file system).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import pandas as pd


def partition_path(root: Path, kind: str, district: str, part: str = "0") -> Path:
    """Where the ``kind`` partition ``part`` of ``district`` lives."""
    return root / kind / f"district={district}" / f"part-{part}.parquet"


def write_partition(root: Path, district: str, frames: Mapping[str, pd.DataFrame],
                    part: str = "0") -> int:
    """Write every frame of one partition atomically; returns rows written."""
    tmp = root / ".tmp" / f"{district}-{part}-{uuid.uuid4().hex}"
    tmp.mkdir(parents=True)
    rows = 0
    try:
        for kind, frame in frames.items():
            target = tmp / f"{kind}.parquet"
            if isinstance(frame, gpd.GeoDataFrame):
                frame.to_parquet(target, index=False, write_covering_bbox=False)
            else:
                pd.DataFrame(frame).to_parquet(target, index=False)
            rows += len(frame)
        for kind in frames:
            final = partition_path(root, kind, district, part)
            final.parent.mkdir(parents=True, exist_ok=True)
            (tmp / f"{kind}.parquet").replace(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def list_partitions(root: Path, kind: str, districts: list[str] | None = None) -> list[Path]:
    """The partition files of ``kind`` (of ``districts`` only, if given), sorted by district."""
    base = root / kind
    if not base.is_dir():
        return []
    out = sorted(base.glob("district=*/part-*.parquet"))
    if districts is not None:
        want = {f"district={d}" for d in districts}
        out = [p for p in out if p.parent.name in want]
    return out


def read_partition(path: Path) -> pd.DataFrame:
    """One partition as a (Geo)DataFrame (GeoParquet when it carries ``geo`` metadata)."""
    import pyarrow.parquet as pq

    if b"geo" in (pq.read_schema(path).metadata or {}):
        return gpd.read_parquet(path)
    return pd.read_parquet(path)
