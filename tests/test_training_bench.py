"""The training benchmark: helper loop vs bare loop vs data pipeline, and its CLI command."""

from __future__ import annotations

import json

import pytest

from eotdl_tutorials.cli import main
from eotdl_tutorials.data import write_synthetic_store
from eotdl_tutorials.training.benchmark import bench_training, format_report

KEYS = {
    "helper_samples_per_s",
    "bare_samples_per_s",
    "overhead",
    "loader_samples_per_s",
    "loader_to_model_ratio",
}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return write_synthetic_store(
        tmp_path_factory.mktemp("bench"), count=64, s2_size=16, sensors=("s2",)
    )


def test_bench_measures_both_loops_and_the_loader(store):
    result = bench_training(store, batch_size=8, steps=2, warmup=1, repeats=1)
    assert KEYS <= set(result)
    assert result["helper_samples_per_s"] > 0 and result["bare_samples_per_s"] > 0
    assert result["overhead"] == pytest.approx(
        1 - result["helper_samples_per_s"] / result["bare_samples_per_s"]
    )
    assert result["loader_to_model_ratio"] == pytest.approx(
        result["loader_samples_per_s"] / result["helper_samples_per_s"]
    )
    assert "overhead" in format_report(result)
    with pytest.raises(ValueError, match="at least 1"):
        bench_training(store, steps=0)


def test_bench_training_command_writes_json(store, tmp_path, capsys):
    out = tmp_path / "bench.json"
    args = ["bench", "training", "--store", str(store), "--batch-size", "8", "--steps", "1"]
    assert main([*args, "--json", str(out)]) == 0
    assert "bare PyTorch loop" in capsys.readouterr().out
    assert KEYS <= set(json.loads(out.read_text()))
    assert main(["bench", "training", "--store", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
