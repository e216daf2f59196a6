"""The same join, partitioned over a Dask ``distributed`` cluster.

The footprints are cut into contiguous partitions; the (small) scene index is scattered once to
every worker, each partition is joined there (:func:`~eotdl_tutorials.matching.join.join`), and
the partial candidates are concatenated in partition order. Each partition's candidates come
sorted by footprint and rank, so the result equals the single-process join exactly.
"""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING

import numpy as np

from eotdl_tutorials.matching.join import Candidates, SceneIndex, join
from eotdl_tutorials.matching.windows import Windows

if TYPE_CHECKING:
    from distributed import Client


def window_slice(windows: Windows, start: int, stop: int) -> Windows:
    """Windows ``start:stop`` (a view, no copy)."""
    part = slice(start, stop)
    return Windows(
        epsg=windows.epsg[part],
        cx=windows.cx[part],
        cy=windows.cy[part],
        width_px=windows.width_px[part],
        height_px=windows.height_px[part],
        gsd=windows.gsd,
        width_m=windows.width_m[part],
        height_m=windows.height_m[part],
    )


def _join_partition(
    windows: Windows, t_ns: np.ndarray, index: SceneIndex, start: int
) -> Candidates:
    found = join(windows, t_ns, index)
    return Candidates(
        footprint=found.footprint + start,
        scene=found.scene,
        dt_ns=found.dt_ns,
        cloud=found.cloud,
        rank=found.rank,
    )


def join_on_cluster(
    client: Client, windows: Windows, t_ns: np.ndarray, index: SceneIndex, partitions: int = 8
) -> Candidates:
    """:func:`join` run as ``partitions`` tasks on ``client``'s workers."""
    if partitions < 1:
        raise ValueError(f"partitions must be at least 1, got {partitions}")
    bounds = np.linspace(0, len(windows), min(partitions, max(len(windows), 1)) + 1).astype(int)
    [scattered] = client.scatter([index], broadcast=True)
    futures = [
        client.submit(
            _join_partition,
            window_slice(windows, a, b),
            t_ns[a:b],
            scattered,
            int(a),
            pure=False,
        )
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    parts = client.gather(futures)
    return Candidates(
        *(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Candidates))
    )
