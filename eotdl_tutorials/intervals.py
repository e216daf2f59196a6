"""95 % intervals of the course's comparisons: a bootstrap over test items, blocked by place.

Every headline comparison (a model against its baseline, one method against another) is reported
as an :class:`Interval`: the figure measured on the whole test set, and the range a percentile
bootstrap gives when the test items are drawn again. When items come from the same place
(chips of one region, tiles of one scene), ``groups`` names the place and whole places are drawn,
so that neighbouring, correlated items do not count as independent evidence. A gap is *beyond
noise* when its interval excludes zero, and *within noise* otherwise: the sign alone says nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

#: Bootstrap draws; at 2,000 the ends of a 95 % interval move by well under its width's 5 %.
DRAWS = 2000
LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """A figure measured on the whole test set, with the ends of its bootstrap interval."""

    estimate: float
    low: float
    high: float

    @property
    def beyond_noise(self) -> bool:
        """Whether the interval excludes zero (for a gap: which side wins is not noise)."""
        return self.low > 0 or self.high < 0

    @property
    def verdict(self) -> str:
        """``"beyond noise"`` or ``"within noise"``, from the interval, never from the sign."""
        return "beyond noise" if self.beyond_noise else "within noise"

    def fields(self, name: str, digits: int = 4) -> dict[str, float | list[float]]:
        """``{name: estimate, name_ci95: [low, high]}`` for a results file."""
        return {
            name: round(self.estimate, digits),
            f"{name}_ci95": [round(self.low, digits), round(self.high, digits)],
        }

    def __str__(self) -> str:
        return f"{self.estimate:+.3g} (95 % interval {self.low:+.3g} to {self.high:+.3g})"


def bootstrap(
    statistic: Callable[[np.ndarray], float],
    n: int,
    groups: Sequence | np.ndarray | None = None,
    draws: int = DRAWS,
    level: float = LEVEL,
    seed: int = 0,
) -> Interval:
    """The percentile bootstrap :class:`Interval` of ``statistic(indices)`` over ``n`` test items.

    ``statistic`` receives an array of item indices (with repeats) and returns one number, so a
    dataset-level score (IoU over all pixels of the drawn items) is recomputed on each draw. With
    ``groups`` (one label per item), whole groups are drawn with replacement (a block bootstrap).
    """
    if n < 1:
        raise ValueError("an interval needs at least one test item")
    if not 0 < level < 1:
        raise ValueError(f"level is a fraction between 0 and 1, got {level}")
    rng = np.random.default_rng(seed)
    if groups is None:
        blocks = [np.array([i]) for i in range(n)]
    else:
        labels = np.asarray(groups)
        if len(labels) != n:
            raise ValueError(f"{len(labels)} group labels for {n} test items")
        blocks = [np.flatnonzero(labels == g) for g in dict.fromkeys(labels.tolist())]
    values = np.empty(draws)
    for d in range(draws):
        chosen = rng.integers(len(blocks), size=len(blocks))
        values[d] = statistic(np.concatenate([blocks[c] for c in chosen]))
    tail = (1 - level) / 2 * 100
    low, high = np.nanpercentile(values, [tail, 100 - tail])
    return Interval(float(statistic(np.arange(n))), float(low), float(high))


def mean_gap(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray | None = None,
    groups: Sequence | np.ndarray | None = None,
    **kwargs,
) -> Interval:
    """The mean of ``a - b`` over paired test items (or of ``a`` alone) with its interval."""
    diff = np.asarray(a, dtype="float64")
    if b is not None:
        other = np.asarray(b, dtype="float64")
        if other.shape != diff.shape:
            raise ValueError(f"paired values differ in shape: {diff.shape} and {other.shape}")
        diff = diff - other
    return bootstrap(lambda idx: float(diff[idx].mean()), len(diff), groups, **kwargs)
