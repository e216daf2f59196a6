"""Road-extraction metrics: pixel overlap, tolerant overlap and connectivity of the road graph.

- :func:`dataset_scores`: IoU and F1 of the road class with intersections and unions summed over
  the whole test set (one number that weights each pixel the same);
- :func:`per_image_iou`: EOTDL's mean over images of each image's IoU, where an empty prediction
  on an empty mask scores 1 (it flatters sparse masks: an all-background model scores well);
- :func:`relaxed_f1`: precision and recall with a tolerance of ``tolerance`` pixels (a predicted
  pixel is right if a true road pixel is that close, and the other way round);
- :func:`connectivity`: an APLS-like score. Both masks are skeletonised and turned into graphs
  (``skan``); for sampled pairs of junctions and ends of one graph, the shortest path in that
  graph is compared with the shortest path between the nearest points of the other graph; a
  missing point or path costs 1. Done both ways and combined by the harmonic mean, as APLS does;
- :func:`iou_gap`: the dataset IoU of one method minus another's on the same truth, with its
  95 % interval (a bootstrap over test images, whole places drawn when given; the IoU recomputed
  from the drawn images' pixel counts on each draw).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
from scipy import ndimage
from scipy.sparse.csgraph import dijkstra
from skan import Skeleton
from skan.csr import skeleton_to_csgraph, skeleton_to_nx
from skimage.morphology import skeletonize

from eotdl_tutorials.intervals import Interval, bootstrap


@dataclass(frozen=True)
class Scores:
    """Pixel scores of the road class over a set of images."""

    iou: float
    f1: float
    precision: float
    recall: float


def _check(pred: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, truth = np.asarray(pred).astype(bool), np.asarray(truth).astype(bool)
    if pred.shape != truth.shape:
        raise ValueError(f"prediction {pred.shape} and truth {truth.shape} differ in shape")
    return pred, truth


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b else 0.0


def dataset_scores(pred: np.ndarray, truth: np.ndarray) -> Scores:
    """IoU, F1, precision and recall of the road class over all images at once."""
    pred, truth = _check(pred, truth)
    tp = float(np.logical_and(pred, truth).sum())
    fp = float(np.logical_and(pred, ~truth).sum())
    fn = float(np.logical_and(~pred, truth).sum())
    return Scores(
        iou=_ratio(tp, tp + fp + fn),
        f1=_ratio(2 * tp, 2 * tp + fp + fn),
        precision=_ratio(tp, tp + fp),
        recall=_ratio(tp, tp + fn),
    )


def _image_counts(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(images, 3): true positives, false positives and false negatives of each image."""
    pred, truth = _check(pred, truth)
    flat_pred, flat_truth = pred.reshape(len(pred), -1), truth.reshape(len(truth), -1)
    return np.stack(
        [
            (flat_pred & flat_truth).sum(1),
            (flat_pred & ~flat_truth).sum(1),
            (~flat_pred & flat_truth).sum(1),
        ],
        axis=1,
    ).astype(float)


def iou_gap(
    pred: np.ndarray,
    other: np.ndarray,
    truth: np.ndarray,
    places: np.ndarray | None = None,
    seed: int = 0,
) -> Interval:
    """Dataset IoU of ``pred`` minus that of ``other`` (both (images, H, W), scored on
    ``truth``), with its 95 % bootstrap interval over the test images; with ``places`` (one label
    per image) whole places are drawn. Each draw sums the drawn images' pixel counts and computes
    both IoUs from them, as :func:`dataset_scores` does on the whole set."""
    counts, other_counts = _image_counts(pred, truth), _image_counts(other, truth)

    def iou(rows: np.ndarray, table: np.ndarray) -> float:
        tp, fp, fn = table[rows].sum(0)
        return _ratio(tp, tp + fp + fn)

    return bootstrap(
        lambda rows: iou(rows, counts) - iou(rows, other_counts), len(truth), places, seed=seed
    )


def per_image_iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """EOTDL's metric: the mean of each image's IoU, 1 for an empty prediction on an empty mask.

    ``pred`` and ``truth`` are (images, height, width)."""
    pred, truth = _check(pred, truth)
    inter = np.logical_and(pred, truth).reshape(len(pred), -1).sum(1)
    union = np.logical_or(pred, truth).reshape(len(pred), -1).sum(1)
    return float(np.where(union == 0, 1.0, inter / np.maximum(union, 1)).mean())


def relaxed_f1(pred: np.ndarray, truth: np.ndarray, tolerance: int = 1) -> float:
    """F1 where a pixel within ``tolerance`` pixels (chessboard distance) of the other mask counts
    as matched; precision and recall are summed over all images (the road-extraction measure)."""
    pred, truth = _check(pred, truth)
    footprint = np.ones((1,) * (pred.ndim - 2) + (2 * tolerance + 1,) * 2, bool)
    near_truth = ndimage.binary_dilation(truth, footprint)
    near_pred = ndimage.binary_dilation(pred, footprint)
    precision = _ratio(np.logical_and(pred, near_truth).sum(), pred.sum())
    recall = _ratio(np.logical_and(truth, near_pred).sum(), truth.sum())
    return _ratio(2 * precision * recall, precision + recall)


def road_graph(mask: np.ndarray) -> nx.MultiGraph:
    """The road graph of a mask: skeleton junctions and ends as nodes (``coordinates`` in pixels,
    row then column), branches as edges weighted by their length in pixels."""
    skeleton = skeletonize(np.asarray(mask, bool))
    if skeleton.sum() < 2:
        return nx.MultiGraph()
    skan_skeleton = Skeleton(skeleton)
    graph = skeleton_to_nx(skan_skeleton)
    for node in graph.nodes:
        graph.nodes[node]["coordinates"] = skan_skeleton.coordinates[node]
    for _, _, data in graph.edges(data=True):
        steps = np.diff(np.asarray(data["path"], float), axis=0)
        data["length"] = float(np.linalg.norm(steps, axis=1).sum())
    return graph


@dataclass
class _PixelGraph:
    """A skeleton as a pixel graph: pixel coordinates, and the junctions and ends."""

    graph: object
    coords: np.ndarray
    nodes: np.ndarray

    @classmethod
    def of(cls, mask: np.ndarray) -> _PixelGraph | None:
        skeleton = skeletonize(np.asarray(mask, bool))
        if skeleton.sum() < 2:
            return None
        graph, coords = skeleton_to_csgraph(skeleton)
        coords = np.column_stack(coords) if isinstance(coords, tuple) else np.asarray(coords)
        degree = np.diff(graph.indptr)
        key = np.flatnonzero(degree != 2)
        key = key[degree[key] > 0]
        return cls(graph, coords.astype(float), key)

    def nearest(self, points: np.ndarray, max_distance: float) -> np.ndarray:
        """Index of the nearest skeleton pixel of each point, -1 if none within reach."""
        valid = np.flatnonzero(np.diff(self.graph.indptr) > 0)
        d = np.linalg.norm(points[:, None, :] - self.coords[valid][None], axis=2)
        best = d.argmin(1)
        return np.where(d[np.arange(len(points)), best] <= max_distance, valid[best], -1)


def _one_way(
    reference: _PixelGraph | None,
    proposal: _PixelGraph | None,
    pairs: int,
    max_distance: float,
    rng: np.random.Generator,
) -> float | None:
    """1 - mean path-length penalty of ``proposal`` on node pairs of ``reference``."""
    if reference is None or len(reference.nodes) < 2:
        return None
    nodes = reference.nodes
    if len(nodes) > 60:
        nodes = rng.choice(nodes, 60, replace=False)
    ref_lengths = dijkstra(reference.graph, indices=nodes)[:, nodes]
    i, j = np.triu_indices(len(nodes), 1)
    connected = np.isfinite(ref_lengths[i, j]) & (ref_lengths[i, j] > 0)
    i, j = i[connected], j[connected]
    if len(i) == 0:
        return None
    if len(i) > pairs:
        keep = rng.choice(len(i), pairs, replace=False)
        i, j = i[keep], j[keep]
    if proposal is None:
        return 0.0
    snapped = proposal.nearest(reference.coords[nodes], max_distance)
    penalty = np.ones(len(i))
    sources = np.unique(snapped[i][snapped[i] >= 0])
    if len(sources):
        lengths = dijkstra(proposal.graph, indices=sources)
        row = {s: k for k, s in enumerate(sources)}
        for n, (a, b) in enumerate(zip(i, j, strict=True)):
            sa, sb = snapped[a], snapped[b]
            if sa < 0 or sb < 0 or not np.isfinite(lengths[row[sa], sb]):
                continue
            expected = ref_lengths[a, b]
            penalty[n] = min(1.0, abs(lengths[row[sa], sb] - expected) / expected)
    return float(1 - penalty.mean())


def connectivity(
    pred: Sequence[np.ndarray] | np.ndarray,
    truth: Sequence[np.ndarray] | np.ndarray,
    pairs: int = 200,
    max_distance: float = 3.0,
    seed: int = 0,
) -> float:
    """APLS-like connectivity (0..1, 1 = same shortest paths), averaged over the images whose
    truth has a road graph. ``max_distance``: how far (pixels) a node may be from the other
    graph and still be matched."""
    rng = np.random.default_rng(seed)
    scores = []
    for p, t in zip(pred, truth, strict=True):
        p, t = _check(p, t)
        truth_graph, pred_graph = _PixelGraph.of(t), _PixelGraph.of(p)
        forward = _one_way(truth_graph, pred_graph, pairs, max_distance, rng)
        if forward is None:
            continue
        backward = _one_way(pred_graph, truth_graph, pairs, max_distance, rng)
        backward = 0.0 if backward is None else backward
        total = forward + backward
        scores.append(0.0 if total == 0 else 2 * forward * backward / total)
    return float(np.mean(scores)) if scores else 0.0
