"""Active learning for the land-cover U-Net, with baal's acquisition heuristics.

Each round trains a U-Net on the labelled tiles, scores the unlabelled pool, takes the ``batch``
most informative tiles, lets a simulated annotator label them (their ground-truth masks from
the sample world) and trains again: the same number of steps per round, warm-started from the
previous round's model (every strategy gets the same training, so only the tiles differ).

The heuristics are baal's: ``entropy`` and ``margin`` on the softmax of one deterministic
pass, ``bald`` on MC-dropout samples (baal's ``patch_module`` keeps dropout on at inference),
``random`` as the reference; per-pixel scores are averaged over the tile
(``reduction="mean"``). :func:`strategy_gaps` gives each strategy's label savings and final
mean IoU against random selection, averaged over seeds with their 95 % intervals.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

with warnings.catch_warnings():  # baal imports tqdm.autonotebook, which warns in notebooks
    warnings.simplefilter("ignore")
    from baal.active.heuristics import BALD, Entropy, Margin, Random
    from baal.active.heuristics.heuristics import AbstractHeuristic
    from baal.bayesian.dropout import patch_module
from tqdm.auto import tqdm

from eotdl_tutorials.intervals import Interval, mean_gap
from eotdl_tutorials.multitask.dataset import LandCoverSet, Split
from eotdl_tutorials.multitask.evaluation import dataset_iou, predict
from eotdl_tutorials.multitask.inputs import model_inputs
from eotdl_tutorials.multitask.models import SEGMENTATION, LandCoverNet
from eotdl_tutorials.multitask.settings import MultitaskSettings
from eotdl_tutorials.multitask.training import new_model, train_model
from eotdl_tutorials.training import seed

STRATEGIES = ("random", "entropy", "margin", "bald")


def heuristic(strategy: str, random_seed: int = 0) -> AbstractHeuristic:
    """baal's heuristic for ``strategy`` (tile score = mean of its pixels' scores)."""
    if strategy == "random":
        return Random(seed=random_seed)
    if strategy == "entropy":
        return Entropy(reduction="mean")
    if strategy == "margin":
        return Margin(reduction="mean")
    if strategy == "bald":
        return BALD(reduction="mean")
    raise ValueError(f"unknown strategy {strategy!r}: use one of {', '.join(STRATEGIES)}")


@torch.no_grad()
def pool_probabilities(
    model: LandCoverNet, images: np.ndarray, iterations: int = 1, batch_size: int = 16
) -> Iterator[np.ndarray]:
    """Softmax over the land-cover classes, batch by batch: (batch, classes, H, W, iterations).

    ``iterations`` > 1 samples the model with MC dropout (a patched copy; ``model`` is left
    as it is); 1 is one deterministic pass.
    """
    sampler = patch_module(copy.deepcopy(model), inplace=True) if iterations > 1 else model
    sampler.eval()
    device = next(sampler.parameters()).device
    for start in range(0, len(images), batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size]))
        samples = [
            torch.softmax(sampler(batch.to(device))[SEGMENTATION].float()[:, 1:], dim=1)
            for _ in range(iterations)
        ]
        yield torch.stack(samples, dim=-1).cpu().numpy()


def acquire(
    strategy: str,
    model: LandCoverNet,
    images: np.ndarray,
    count: int,
    mc_iterations: int,
    random_seed: int = 0,
) -> np.ndarray:
    """Positions (into ``images``) of the ``count`` tiles ``strategy`` would have labelled next."""
    rule = heuristic(strategy, random_seed)
    if strategy == "random":
        ranks, _ = rule.get_ranks(np.zeros((len(images), 1)))
    else:
        iterations = mc_iterations if strategy == "bald" else 1
        scores = np.concatenate(
            [rule.get_uncertainties(p) for p in pool_probabilities(model, images, iterations)]
        )
        ranks = rule.reorder_indices(scores)
    return np.asarray(ranks[:count], dtype=int)


@dataclass
class ActiveLearningResult:
    """``rounds``: one row per strategy, seed and round (labels, miou, ...); ``chosen``: the
    tiles (dataset rows) each strategy took, by ``(strategy, seed)``, round by round."""

    rounds: pd.DataFrame
    chosen: dict[tuple[str, int], list[np.ndarray]]

    def curves(self) -> dict[str, list[list[float]]]:
        """Per strategy: ``[labels, miou_mean, miou_sd]`` per round (sd over seeds)."""
        grouped = self.rounds.groupby(["strategy", "labels"])["miou"]
        stats = grouped.agg(["mean", "std"]).reset_index()
        return {
            name: [
                [int(r.labels), float(r["mean"]), float(0.0 if np.isnan(r["std"]) else r["std"])]
                for _, r in stats[stats["strategy"] == name].sort_values("labels").iterrows()
            ]
            for name in self.rounds["strategy"].unique()
        }


def labels_to_reach(curve: Sequence[Sequence[float]], target: float) -> float | None:
    """Labelled tiles at which a mean-IoU curve first reaches ``target`` (linear between
    rounds), or None when it never does."""
    previous = None
    for labels, miou, _ in curve:
        if miou >= target:
            if previous is None or previous[1] >= target:
                return float(labels)
            (l0, m0) = previous
            return float(l0 + (labels - l0) * (target - m0) / (miou - m0))
        previous = (labels, miou)
    return None


def label_savings(
    curve: Sequence[Sequence[float]], random_curve: Sequence[Sequence[float]]
) -> float:
    """The fraction of labels ``curve`` saves to reach the mean IoU that ``random_curve`` has at
    its last round: ``1 - labels it needs / labels random needs`` (random needs its first point
    at or above its own final value). A curve that never reaches it counts as needing the labels
    of its last round: the saving is then at most that (zero or negative)."""
    target = random_curve[-1][1]
    baseline = labels_to_reach(random_curve, target)
    needed = labels_to_reach(curve, target)
    return float(1 - (curve[-1][0] if needed is None else needed) / baseline)


def strategy_gaps(result: ActiveLearningResult) -> dict[str, dict[str, Interval]]:
    """Each strategy against random selection, seed by seed, then averaged over the seeds with
    a 95 % interval (:func:`~eotdl_tutorials.intervals.mean_gap`, the seeds drawn again), by
    strategy: ``label_savings`` (:func:`label_savings` of the seed's curves) and
    ``minus_random_final_miou`` (the last round's mean IoU minus random's, paired by seed)."""
    by_seed = {
        key: rows.sort_values("labels")[["labels", "miou"]].assign(sd=0.0).to_numpy()
        for key, rows in result.rounds.groupby(["strategy", "seed"])
    }
    seeds = sorted({run_seed for _, run_seed in by_seed})
    return {
        name: {
            "label_savings": mean_gap(
                [label_savings(by_seed[name, s], by_seed["random", s]) for s in seeds]
            ),
            "minus_random_final_miou": mean_gap(
                [by_seed[name, s][-1][1] for s in seeds],
                [by_seed["random", s][-1][1] for s in seeds],
            ),
        }
        for name in result.rounds["strategy"].unique()
        if name != "random"
    }


def loop_test_rows(split: Split, config: MultitaskSettings) -> np.ndarray:
    """The test tiles that score the loop: all, or a fixed random sample of ``al_test_sample``
    (seed 0: the same tiles for every strategy, seed and round)."""
    test = split.test
    if config.al_test_sample and len(test) > config.al_test_sample:
        test = np.sort(np.random.default_rng(0).choice(test, config.al_test_sample, replace=False))
    return test


def floor_miou(
    dataset: LandCoverSet, split: Split, config: MultitaskSettings, random_seed: int = 0
) -> float:
    """Test mean IoU (the loop's test tiles) of its U-Net with random weights: the floor."""
    seed(random_seed)
    model = new_model(dataset, split.labelled, (SEGMENTATION,), **config.al_model_kwargs())
    test = loop_test_rows(split, config)
    masks = predict(model, model_inputs(dataset, test)).masks
    return dataset_iou(masks, dataset.masks[test], len(dataset.classes))[0]


def run_active_learning(
    dataset: LandCoverSet,
    split: Split,
    config: MultitaskSettings,
    strategies: Sequence[str] = STRATEGIES,
    accelerator: str = "auto",
    progress: bool = True,
) -> ActiveLearningResult:
    """The loop for every strategy and seed of ``config`` (``al_initial`` random tiles of the
    training split, then ``al_rounds`` rounds of ``al_batch`` tiles each, chosen among
    ``al_pool_sample`` random pool tiles when set), scored by the dataset-level mean IoU on the
    test split (:func:`loop_test_rows`). Round 0 is shared by the strategies of a seed."""
    for strategy in strategies:
        heuristic(strategy)
    train = np.concatenate([split.labelled, split.pool])
    needed = config.al_initial + config.al_rounds * config.al_batch
    if needed > len(train):
        raise ValueError(
            f"the loop labels {needed} tiles but the training split has {len(train)}: "
            "use fewer rounds or smaller batches"
        )
    test = loop_test_rows(split, config)
    test_x = model_inputs(dataset, test)
    test_masks = dataset.masks[test]
    records, chosen = [], {}
    total = len(config.al_seeds) * (1 + len(strategies) * config.al_rounds)
    bar = tqdm(total=total, desc="active learning", disable=not progress)

    def train_and_score(
        rows: np.ndarray, run_seed: int, start: LandCoverNet | None = None
    ) -> tuple[LandCoverNet, float]:
        trained = train_model(
            dataset,
            rows,
            None,
            (SEGMENTATION,),
            steps=config.al_steps,
            batch_size=config.al_batch_size,
            lr=config.lr,
            start=start,
            random_seed=run_seed,
            accelerator=accelerator,
            **config.al_model_kwargs(),
        )
        miou, _ = dataset_iou(
            predict(trained.model, test_x).masks, test_masks, len(dataset.classes)
        )
        bar.update(1)
        return trained.model, miou

    try:
        for run_seed in config.al_seeds:
            start = np.random.default_rng(run_seed).permutation(train)[: config.al_initial]
            first_model, first_miou = train_and_score(start, run_seed)
            for strategy in strategies:
                labelled, model, miou = start.copy(), first_model, first_miou
                taken = [start]
                for round_ in range(config.al_rounds + 1):
                    records.append((strategy, run_seed, round_, len(labelled), miou))
                    if round_ == config.al_rounds:
                        break
                    pool = np.setdiff1d(train, labelled)
                    if config.al_pool_sample and len(pool) > config.al_pool_sample:
                        rng = np.random.default_rng((run_seed, round_))
                        pool = np.sort(rng.choice(pool, config.al_pool_sample, replace=False))
                    images = model_inputs(dataset, pool)
                    picks = pool[
                        acquire(
                            strategy,
                            model,
                            images,
                            config.al_batch,
                            config.mc_iterations,
                            run_seed * 1000 + round_,
                        )
                    ]
                    taken.append(picks)  # the simulated annotator: ground truth of these tiles
                    labelled = np.concatenate([labelled, picks])
                    model, miou = train_and_score(labelled, run_seed, model)
                chosen[(strategy, run_seed)] = taken
    finally:
        bar.close()
    rounds = pd.DataFrame(records, columns=["strategy", "seed", "round", "labels", "miou"])
    return ActiveLearningResult(rounds, chosen)


def rank_unlabelled(
    dataset: LandCoverSet,
    split: Split,
    config: MultitaskSettings,
    strategy: str = "entropy",
    count: int | None = None,
    accelerator: str = "auto",
    random_seed: int = 0,
) -> pd.DataFrame:
    """The ``count`` (default: one round, ``al_batch``) tiles of the real unlabelled pool
    (``split.unlabelled``) that ``strategy`` would have a labeller label next: the loop's U-Net
    trained on every labelled training tile (``al_steps`` steps), then the strategy's scores.
    One row per tile, most informative first: ``id``, ``image`` and its window."""
    if not len(split.unlabelled):
        raise ValueError("the set has no unlabelled tile: nothing to rank")
    train = np.concatenate([split.labelled, split.pool])
    trained = train_model(
        dataset, train, None, (SEGMENTATION,), steps=config.al_steps,
        batch_size=config.al_batch_size, lr=config.lr, random_seed=random_seed,
        accelerator=accelerator, **config.al_model_kwargs(),
    )  # fmt: skip
    count = min(count or config.al_batch, len(split.unlabelled))
    images = model_inputs(dataset, split.unlabelled)
    picks = split.unlabelled[
        acquire(strategy, trained.model, images, count, config.mc_iterations, random_seed)
    ]
    columns = [
        c for c in ("id", "image", "window_row", "window_col", "window_size") if c in dataset.index
    ]
    return dataset.index.iloc[picks][columns].reset_index(drop=True)
