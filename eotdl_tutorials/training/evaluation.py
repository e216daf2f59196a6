"""The few-label protocol: every method's accuracy with 1 %, 10 % and 100 % of the labels.

What embeddings are worth with few labels: EOTDL's EuroSAT table (:mod:`.eurosat`), with a
protocol that holds.

Scene classification (EuroSAT's ten classes) of the held-out ("test") chips after seeing the
labels of 1 %, 10 % or 100 % of the training split. Methods (``METHODS``, the names the results
file uses):

- ``majority``: always the most frequent class of the labelled draw (its prior; a class-balanced
  draw ties every class, and the tie is broken by the draw's seed: about one in ten);
- ``band_statistics``: logistic regression on each chip's per-band mean and standard deviation,
  the shortcut baseline: where it does well, a class needs no spatial structure;
- ``scratch``: the encoder's architecture trained from random weights on the labels;
- ``random_probe``: the same network with random weights, frozen, and a linear probe;
- ``ssl_probe``: the self-supervised encoder (Barlow Twins, notebook A2), frozen, linear probe;
- ``ssl_knn``: a cosine k-nearest-neighbour vote in the self-supervised embedding space;
- ``ssl_finetune``: the self-supervised encoder and a new head, all trained on the labels.

The protocol:

- "1 %" is 1 % of the training labels, drawn **class-balanced** (:func:`label_subset`): the same
  count from every class, as EuroSAT was curated to 2,000-3,000 images per class, while the chip
  store keeps every chip and the world's class imbalance; at least one label per class where
  1 % gives fewer, and the table reports the real count. 100 % is every training label (the
  world's imbalance). The test chips stay all of the test split (balancing them would drop most
  of them to the rarest class's count and widen every interval; each method's accuracy is
  therefore weighted by the world's class frequencies, as the majority row shows at 100 %);
- every row (trained ones included) is a mean and standard deviation over the same seeded label
  draws (at least 5); at 100 % the draws differ only by the training seed;
- trained rows (:mod:`.finetune`) get a budget in epochs (so it grows with the labels; fitted
  to the profile's time budget by :mod:`.budget`) and each its own learning rate; probes
  (:mod:`.probes`) get their regularisation chosen on the validation split;
- splits are by spatial block (``tiling.store.SPLIT_BLOCK_M``), and cloudy or shadowed chips are
  dropped when the store is cut (``tile(max_cloud_percent=...)``);
- every method keeps the correctness of each test chip in each draw
  (:attr:`FewLabelResult.correct`), so a gap between two methods has a 95 % interval
  (:meth:`FewLabelResult.gap`): the per-chip difference, paired (same chip, same draw),
  **averaged over the draws**, then bootstrapped over the test chips (``intervals.mean_gap``).
  The draws are not resampled: the interval is the test chips' uncertainty around the mean of
  these draws. Chips are drawn one by one, not by place: the ``ci`` test split holds two places,
  where a block bootstrap has three distinct draws and no interval; chips of one place are
  correlated, so the interval is narrower than a place-level one would be (the summary prints
  from how many places the chips come).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from eotdl_tutorials.data import ChipDataset, ChipStore, resize_to
from eotdl_tutorials.intervals import Interval, mean_gap
from eotdl_tutorials.models.encoder import SensorEncoder
from eotdl_tutorials.tiling import place_keys
from eotdl_tutorials.training.budget import TrainedBudget, fit_trained_budget
from eotdl_tutorials.training.eurosat import EOTDL_EUROSAT
from eotdl_tutorials.training.finetune import trained_correct
from eotdl_tutorials.training.probes import (
    band_statistics,
    embed,
    knn_correct,
    linear_probe_correct,
    random_encoder,
)
from eotdl_tutorials.training.settings import settings

METHODS = (
    "majority",
    "band_statistics",
    "scratch",
    "random_probe",
    "ssl_probe",
    "ssl_knn",
    "ssl_finetune",
)
METHOD_TITLES = {
    "majority": "majority class (training prior)",
    "band_statistics": "band statistics + logistic regression",
    "scratch": "trained from scratch",
    "random_probe": "random weights + linear probe",
    "ssl_probe": "self-supervised + linear probe (frozen)",
    "ssl_knn": "self-supervised + k-NN",
    "ssl_finetune": "self-supervised, fine-tuned",
}


def label_subset(labels: np.ndarray, ratio: float, random_seed: int = 0) -> np.ndarray:
    """Positions of ``ratio`` of ``labels``, drawn class-balanced and seeded.

    Draws ``round(ratio * len(labels))`` labels (at least one per class), the same count from
    every class, up to one: a class with fewer labels than its share gives all it has and the
    others share the rest. The classes that get the one extra label are drawn by the seed too,
    so that no class is the draw's majority by construction.
    """
    if not 0 < ratio <= 1:
        raise ValueError(f"label ratio must be in (0, 1], got {ratio}")
    codes, sizes = np.unique(labels, return_counts=True)
    target = max(round(ratio * labels.size), codes.size)
    levels = np.minimum(sizes[None, :], np.arange(sizes.max() + 1)[:, None]).sum(axis=1)
    level = int(np.searchsorted(levels, target, side="right")) - 1  # the most per class that fits
    take = np.minimum(sizes, level)
    rng = np.random.default_rng(random_seed)
    room = np.flatnonzero(sizes > level)  # one more for as many of these as the total asks
    take[rng.choice(room, size=target - take.sum(), replace=False)] += 1
    chosen = [
        rng.permutation(np.flatnonzero(labels == code))[:count]
        for code, count in zip(codes, take, strict=True)
    ]
    return np.sort(np.concatenate(chosen))


def majority_class(labels: np.ndarray, random_seed: int = 0) -> int:
    """The most frequent class of ``labels``; a tie is broken by the seed, not by class order."""
    codes, counts = np.unique(labels, return_counts=True)
    tied = codes[counts == counts.max()]
    return int(np.random.default_rng(random_seed).choice(tied))


@dataclass
class FewLabelResult:
    """The accuracy table and the embeddings behind it (per encoder: ``"ssl"``, ``"random"``)."""

    table: pd.DataFrame
    train_embeddings: dict[str, np.ndarray]
    train_labels: np.ndarray
    test_embeddings: dict[str, np.ndarray]
    test_labels: np.ndarray
    classes: tuple[str, ...]
    #: Per (method, labels percent): whether each draw's model got each test chip right,
    #: a boolean array (draws, test chips).
    correct: dict[tuple[str, float], np.ndarray] = dataclasses.field(default_factory=dict)
    #: The place (spatial block, ``tiling.place_keys``) of each test chip.
    test_places: np.ndarray | None = None
    #: The trained rows' epochs and time budget (None without trained rows).
    trained_budget: TrainedBudget | None = None
    #: The gaps computed so far (a bootstrap each), by (method, baseline, percent).
    _gaps: dict[tuple[str, str, float], Interval] = dataclasses.field(
        default_factory=dict, repr=False, compare=False
    )

    def gap(self, method: str, baseline: str, percent: float) -> Interval:
        """``method``'s accuracy minus ``baseline``'s at ``percent`` (points), with its 95 %
        interval: the paired per-chip difference averaged over the draws, bootstrapped over the
        test chips (see the module docstring)."""
        key = (method, baseline, percent)
        if key not in self._gaps:
            a, b = (self.correct[m, percent].mean(axis=0) * 100 for m in (method, baseline))
            self._gaps[key] = mean_gap(a, b)
        return self._gaps[key]

    def embeddings(self, encoder: str = "ssl") -> tuple[np.ndarray, np.ndarray]:
        """Embeddings and labels of the training and test chips of ``encoder``, together."""
        stacked = np.concatenate([self.train_embeddings[encoder], self.test_embeddings[encoder]])
        return stacked, np.concatenate([self.train_labels, self.test_labels])

    def pivot(self, column: str = "accuracy_mean") -> pd.DataFrame:
        """``column`` with one row per method (in ``METHODS`` order) and one column per labels
        percentage."""
        table = self.table.pivot(index="method", columns="labels_percent", values=column)
        return table.reindex([m for m in METHODS if m in table.index])

    def rows(self) -> list[dict]:
        """The rows of the results file: method, labels_percent, accuracy mean and sd, draws."""
        keys = ["method", "labels_percent", "labels", "accuracy_mean", "accuracy_sd", "draws"]
        return [
            {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
            for row in self.table[keys].to_dict("records")
        ]

    def with_reference(self) -> pd.DataFrame:
        """Mean accuracy (%) beside EOTDL's EuroSAT figures (``EOTDL_EUROSAT``) where it has one."""
        table = self.table[["method", "labels_percent", "labels"]].copy()
        table["accuracy_%"] = (self.table["accuracy_mean"] * 100).round(1)
        table["sd_%"] = (self.table["accuracy_sd"] * 100).round(1)
        table["EOTDL EuroSAT_%"] = [
            EOTDL_EUROSAT.get((m, round(p)), np.nan)
            for m, p in zip(table["method"], table["labels_percent"], strict=True)
        ]
        return table


def _row(method: str, ratio: float, labels: int, correct: np.ndarray) -> dict:
    accuracies = correct.mean(axis=1)  # one per draw
    return {
        "method": method,
        "labels_percent": ratio * 100,
        "labels": labels,
        "draws": len(accuracies),
        "accuracy_mean": float(np.mean(accuracies)),
        "accuracy_sd": float(np.std(accuracies, ddof=1)) if len(accuracies) > 1 else 0.0,
    }


def _images(store: ChipStore, encoder: SensorEncoder, rows: np.ndarray) -> torch.Tensor:
    dataset = ChipDataset(store, encoder.sensor, rows, fill=encoder.stats.mean, with_labels=False)
    return dataset.read(np.arange(len(rows)))["image"]


def evaluate_label_ratios(
    store: str | os.PathLike[str] | ChipStore,
    encoder: SensorEncoder,
    profile: str = "ci",
    ratios: tuple[float, ...] | None = None,
    draws: int | None = None,
    random_seed: int = 0,
    trained: bool = True,
    accelerator: str = "auto",
    progress: bool = True,
    epochs: int | None = None,
    minutes: float | None = None,
) -> FewLabelResult:
    """Accuracy on the test split of every method of ``METHODS`` (see the module docstring) at
    each label ratio, over ``draws`` seeded label draws (seeds ``random_seed + d``).

    ``trained=False`` leaves out ``scratch`` and ``ssl_finetune`` (the slow rows). Their epochs
    are the profile's, lowered to fit its time budget; ``epochs`` trains that many with no
    budget, ``minutes`` sets the budget (see :func:`fit_trained_budget`).
    """
    chips = store if isinstance(store, ChipStore) else ChipStore(store)
    config = settings(profile, finetune_epochs=epochs, finetune_minutes=minutes)
    ratios = ratios or config.label_ratios
    draws = draws or config.label_draws
    if not (chips.labels >= 0).any():
        raise ValueError(
            f"chip store {chips.root} has no land-cover labels (every label is -1, as for chips "
            "of real EarthView tiles): give it labels from a land-cover raster with "
            "eotdl_tutorials.data.label_store_from_raster (notebook A3: -p label_source "
            "PATH_OR_URL, e.g. an ESA WorldCover tile)"
        )
    rows_of = {  # chips without a label (-1) take no part
        split: (r := chips.split_indices(split))[chips.labels[r] >= 0]
        for split in ("train", "val", "test")
    }
    for split in ("train", "test"):
        if rows_of[split].size == 0:
            raise ValueError(
                f"chip store {chips.root} has no {split!r} chips with a label to evaluate with"
            )
    train_y, val_y, test_y = (chips.labels[rows_of[s]] for s in ("train", "val", "test"))
    num_classes = max(len(chips.classes), int(chips.labels.max()) + 1)
    encoders = {"ssl": encoder, "random": random_encoder(encoder, random_seed)}
    splits = [s for s in rows_of if rows_of[s].size]  # a store may have no validation chips
    features = {
        name: {s: embed(e, chips, rows_of[s], accelerator=accelerator) for s in splits}
        for name, e in encoders.items()
    }
    features["bands"] = {s: band_statistics(chips, encoder.sensor, rows_of[s]) for s in splits}
    budget = None
    if trained:
        train_images = _images(chips, encoder, rows_of["train"])
        test_images = resize_to(_images(chips, encoder, rows_of["test"]), encoder.input_size)
        counts = [label_subset(train_y, ratio, random_seed).size for ratio in ratios]
        budget = fit_trained_budget(
            encoder,
            train_images,
            torch.from_numpy(train_y),
            counts,
            2 * draws,
            config,
            accelerator,
        )
        config = dataclasses.replace(
            config, finetune_epochs=budget.epochs, min_steps=budget.min_steps
        )
    table, correct = [], {}
    scored: dict[tuple[str, bytes], np.ndarray] = {}
    work = [(ratio, d) for ratio in ratios for d in range(draws)]
    bar = tqdm(total=len(work), desc="label draws", disable=not progress)
    for ratio in ratios:
        accuracies: dict[str, list[np.ndarray]] = {m: [] for m in METHODS}
        labels = 0
        for d in range(draws):
            sub = label_subset(train_y, ratio, random_seed + d)
            labels = sub.size
            accuracies["majority"].append(test_y == majority_class(train_y[sub], random_seed + d))
            key = sub.tobytes()  # the probes are deterministic: a repeated subset (100 %)
            for method, name in (  # is scored once
                ("band_statistics", "bands"),
                ("random_probe", "random"),
                ("ssl_probe", "ssl"),
            ):
                x = features[name]
                if (method, key) not in scored:
                    scored[method, key] = linear_probe_correct(
                        x["train"][sub],
                        train_y[sub],
                        x["test"],
                        test_y,
                        x["train"],
                        (x["val"], val_y) if "val" in x else None,
                    )
                accuracies[method].append(scored[method, key])
            x = features["ssl"]
            if ("ssl_knn", key) not in scored:
                scored["ssl_knn", key] = knn_correct(
                    x["train"][sub], train_y[sub], x["test"], test_y, config.knn_k
                )
            accuracies["ssl_knn"].append(scored["ssl_knn", key])
            if trained:
                images, targets = train_images[sub], torch.from_numpy(train_y[sub])
                test_targets = torch.from_numpy(test_y)
                for method, start, lr in (
                    ("scratch", random_encoder(encoder, random_seed + d), config.scratch_lr),
                    ("ssl_finetune", encoder, config.finetune_lr),
                ):
                    accuracies[method].append(
                        trained_correct(
                            start,
                            images,
                            targets,
                            test_images,
                            test_targets,
                            num_classes,
                            config.finetune_epochs,
                            lr,
                            config,
                            random_seed + d,
                            accelerator,
                        )
                    )
            bar.update()
        for method, rows in accuracies.items():
            if rows:
                correct[method, ratio * 100] = np.stack(rows)
                table.append(_row(method, ratio, labels, correct[method, ratio * 100]))
    bar.close()
    return FewLabelResult(
        pd.DataFrame(table),
        {name: features[name]["train"] for name in encoders},
        train_y,
        {name: features[name]["test"] for name in encoders},
        test_y,
        chips.classes,
        correct,
        place_keys(chips.index.iloc[rows_of["test"]]).to_numpy(),
        budget,
    )
