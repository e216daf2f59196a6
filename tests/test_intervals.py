"""The intervals every comparison is reported with: coverage, blocking by place, the verdict."""

from __future__ import annotations

import numpy as np
import pytest

from eotdl_tutorials.intervals import Interval, bootstrap, mean_gap


def test_the_interval_covers_the_true_mean_about_95_times_in_100():
    rng = np.random.default_rng(1)
    covered = 0
    for trial in range(200):
        sample = rng.normal(0.3, 1.0, size=40)
        interval = mean_gap(sample, draws=500, seed=trial)
        covered += interval.low <= 0.3 <= interval.high
    assert 0.88 <= covered / 200 <= 0.99


def test_a_clear_gap_is_beyond_noise_and_a_zero_mean_one_within():
    rng = np.random.default_rng(2)
    baseline = rng.normal(0.5, 0.05, size=30)
    better = mean_gap(baseline + 0.1 + rng.normal(0, 0.02, size=30), baseline)
    assert better.beyond_noise and better.verdict == "beyond noise" and better.low > 0.05
    same = mean_gap(baseline + rng.normal(0, 0.05, size=30), baseline)
    assert same.low < 0 < same.high and same.verdict == "within noise"
    worse = mean_gap(baseline - 0.1, baseline)
    assert worse.high < 0 and worse.beyond_noise


def test_drawing_whole_places_widens_the_interval_of_correlated_items():
    rng = np.random.default_rng(3)
    place_effect = np.repeat(rng.normal(0, 1.0, size=6), 20)  # 6 places, 20 chips each
    values = place_effect + rng.normal(0, 0.1, size=120)
    places = np.repeat(np.arange(6), 20)
    chips = mean_gap(values)
    blocked = mean_gap(values, groups=places)
    assert blocked.estimate == pytest.approx(chips.estimate)
    assert (blocked.high - blocked.low) > 3 * (chips.high - chips.low)


def test_a_dataset_level_score_is_recomputed_on_each_draw():
    hits = np.array([9, 1, 5, 5])
    totals = np.array([10, 10, 10, 10])
    interval = bootstrap(lambda idx: hits[idx].sum() / totals[idx].sum(), 4, draws=300)
    assert interval.estimate == pytest.approx(0.5)
    assert interval.low < 0.5 < interval.high


def test_results_fields_and_text():
    interval = Interval(0.0123456, -0.01, 0.03)
    assert interval.fields("gain") == {"gain": 0.0123, "gain_ci95": [-0.01, 0.03]}
    assert "95 % interval" in str(interval)


def test_bad_input_says_what_to_fix():
    with pytest.raises(ValueError, match="at least one"):
        mean_gap([])
    with pytest.raises(ValueError, match="3 group labels for 2"):
        mean_gap([1.0, 2.0], groups=[0, 0, 1])
    with pytest.raises(ValueError, match="paired values differ"):
        mean_gap([1.0, 2.0], [1.0])
