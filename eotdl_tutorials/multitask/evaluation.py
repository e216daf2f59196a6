"""Scores of the land-cover models on a test set, and the comparison table.

IoU is dataset-level: torchmetrics sums intersections and unions of each class over every test
pixel before dividing (not a mean of per-image IoUs); the mean IoU averages the classes that
occur in the test set or the predictions. Multi-label F1 and accuracy are micro-averaged over
(tile, class) decisions; a segmentation-only model's presence is read from its mask.
:class:`TileCounts` keeps, per test tile, the counts these scores are sums of (a pixel confusion
matrix, the presence decisions' outcomes), so that a bootstrap recomputes the dataset-level
scores of any draw of tiles without predicting again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torchmetrics.classification import (
    MulticlassJaccardIndex,
    MultilabelAccuracy,
    MultilabelF1Score,
)

from eotdl_tutorials.multitask.models import CLASSIFICATION, SEGMENTATION, LandCoverNet

#: A class is predicted present in a tile when its probability reaches this.
PRESENCE_THRESHOLD = 0.5


@dataclass
class Predictions:
    """Per tile: presence probabilities (N, classes) and class masks (N, H, W) or None."""

    presence: np.ndarray
    masks: np.ndarray | None
    seconds_per_tile: float


@torch.no_grad()
def predict(model: LandCoverNet, images: np.ndarray, batch_size: int = 32) -> Predictions:
    """Run ``model`` (eval mode, CPU or CUDA as it sits) over ``images`` (N, bands, H, W)."""
    model.eval()
    device = next(model.parameters()).device
    classes = model.settings["num_classes"]
    presence, masks = [], []
    started = time.perf_counter()
    for start in range(0, len(images), batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size]))
        out = model(batch.to(device))
        if SEGMENTATION in out:
            logits = out[SEGMENTATION].float()
            logits[:, 0] = -torch.inf  # 0 = "no label" is never an answer
            mask = logits.argmax(1)
            masks.append(mask.cpu().numpy().astype(np.uint8))
        if CLASSIFICATION in out:
            presence.append(torch.sigmoid(out[CLASSIFICATION].float()).cpu().numpy())
        else:
            codes = torch.arange(1, classes + 1, device=mask.device).view(1, -1, 1, 1)
            presence.append((mask[:, None] == codes).flatten(2).any(-1).float().cpu().numpy())
    seconds = (time.perf_counter() - started) / max(1, len(images))
    return Predictions(np.concatenate(presence), np.concatenate(masks) if masks else None, seconds)


@contextmanager
def native_bincount() -> Iterator[None]:
    """PyTorch's deterministic mode off for the block, then restored as it was.

    Lightning turns the mode on for a CPU fit and leaves it on; torchmetrics then counts with a
    (pixels x classes) comparison mesh instead of ``torch.bincount``: 6 s instead of 0.1 s for
    the 4 million pixels of a default test split. Counting on the CPU is exact either way.
    """
    enabled = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(False)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)


def dataset_iou(
    predicted: np.ndarray, target: np.ndarray, num_classes: int
) -> tuple[float, np.ndarray]:
    """Mean IoU and IoU per class (classes 1..num_classes; 0 = no label is ignored), with the
    intersections and unions summed over every tile first. Classes absent from both the target
    and the predictions are NaN and left out of the mean."""
    metric = MulticlassJaccardIndex(
        num_classes + 1, average="none", ignore_index=0, zero_division=float("nan")
    )
    with native_bincount():
        metric.update(
            torch.from_numpy(predicted.astype(np.int64)), torch.from_numpy(target.astype(np.int64))
        )
        per_class = metric.compute().numpy()[1:]
    return float(np.nanmean(per_class)), per_class


def presence_scores(probabilities: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """Micro multi-label F1 and accuracy at :data:`PRESENCE_THRESHOLD`."""
    preds = torch.from_numpy(probabilities.astype(np.float32))
    truth = torch.from_numpy(target.astype(np.int64))
    labels = target.shape[1]
    f1 = MultilabelF1Score(labels, threshold=PRESENCE_THRESHOLD, average="micro")(preds, truth)
    acc = MultilabelAccuracy(labels, threshold=PRESENCE_THRESHOLD, average="micro")(preds, truth)
    return float(f1), float(acc)


def score(
    predictions: Predictions, masks: np.ndarray, presence: np.ndarray, classes: Sequence[str]
) -> dict[str, float]:
    """``f1``, ``accuracy``, ``miou`` (NaN without a mask) and ``iou_<class>`` per class."""
    f1, accuracy = presence_scores(predictions.presence, presence)
    row = {"f1": f1, "accuracy": accuracy, "miou": float("nan")}
    per_class = np.full(len(classes), np.nan)
    if predictions.masks is not None:
        row["miou"], per_class = dataset_iou(predictions.masks, masks, len(classes))
    row |= {f"iou_{name}": float(v) for name, v in zip(classes, per_class, strict=True)}
    return row


@dataclass(frozen=True)
class TileCounts:
    """Per test tile, what the dataset-level scores sum: ``confusion`` (N, K, K) pixels by true
    and predicted code (K = classes + 1, code 0 = no label; None without a mask) and
    ``decisions`` (N, 4) the tile's (class) presence decisions as TP, FP, FN, TN."""

    confusion: np.ndarray | None
    decisions: np.ndarray

    def score(self, rows: np.ndarray, key: str) -> float:
        """``f1``, ``accuracy`` or ``miou`` of the tiles ``rows`` (repeats count again), as
        :func:`score` computes it on the whole set: micro-averaged F1 and accuracy, and the IoU
        of each class from the summed confusion (pixels without a label left out; a class
        neither true nor predicted is NaN and left out of the mean; NaN without a mask)."""
        if key == "miou":
            if self.confusion is None:
                return float("nan")
            confusion = self.confusion[rows].sum(0)
            confusion[0] = 0  # pixels without a label
            hits = np.diag(confusion)[1:]
            union = confusion.sum(1)[1:] + confusion.sum(0)[1:] - hits
            present = union > 0
            return float((hits[present] / union[present]).mean()) if present.any() else np.nan
        tp, fp, fn, tn = self.decisions[rows].sum(0)
        if key == "f1":
            return float(2 * tp / (2 * tp + fp + fn)) if tp + fp + fn else 0.0
        if key == "accuracy":
            return float((tp + tn) / (tp + fp + fn + tn))
        raise ValueError(f"no score {key!r}: f1, accuracy or miou")

    def scores(self, rows: np.ndarray) -> dict[str, float]:
        """Every :meth:`score` of the tiles ``rows``."""
        return {key: self.score(rows, key) for key in ("f1", "accuracy", "miou")}


def tile_counts(predictions: Predictions, masks: np.ndarray, presence: np.ndarray) -> TileCounts:
    """The :class:`TileCounts` of ``predictions`` on the test tiles' ``masks`` and ``presence``."""
    predicted = predictions.presence >= PRESENCE_THRESHOLD
    truth = presence.astype(bool)
    decisions = np.stack(
        [
            (predicted & truth).sum(1),
            (predicted & ~truth).sum(1),
            (~predicted & truth).sum(1),
            (~predicted & ~truth).sum(1),
        ],
        axis=1,
    ).astype(np.int64)
    confusion = None
    if predictions.masks is not None:
        codes = presence.shape[1] + 1
        tile = np.arange(len(masks)).reshape(-1, *([1] * (masks.ndim - 1)))
        flat = (tile * codes + masks.astype(np.int64)) * codes + predictions.masks
        confusion = np.bincount(flat.ravel(), minlength=len(masks) * codes * codes)
        confusion = confusion.reshape(len(masks), codes, codes)
    return TileCounts(confusion, decisions)


def majority_guess(
    train_masks: np.ndarray, train_presence: np.ndarray, masks: np.ndarray, presence: np.ndarray
) -> Predictions:
    """The floor: every pixel the most common training class, and every class present in more
    than half of the training tiles."""
    counts = np.bincount(train_masks.ravel(), minlength=train_presence.shape[1] + 1)
    counts[0] = 0
    guess_mask = np.full_like(masks, counts.argmax())
    guess_presence = np.broadcast_to(train_presence.mean(axis=0) > 0.5, presence.shape)
    return Predictions(guess_presence.astype(np.float32), guess_mask, 0.0)


def table(rows: list[dict]) -> pd.DataFrame:
    """The comparison table, one row per model and initialisation."""
    frame = pd.DataFrame(rows)
    first = ["model", "init", "f1", "accuracy", "miou", "params", "train_s", "infer_ms_per_tile"]
    return frame[[c for c in first if c in frame] + [c for c in frame if c not in first]]
