"""Results files: one per notebook and profile, with the run's context, written atomically."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from eotdl_tutorials import __version__
from eotdl_tutorials.results import read_results, results_dir, results_path, write_results


def test_write_and_read_back() -> None:
    path = write_results("X1_example.ipynb", "ci", {"psnr": np.float32(21.5), "rows": [1, 2]})
    assert path == results_path("X1_example", "ci") == results_dir() / "X1_example-ci.json"
    record = json.loads(path.read_text())
    assert record["notebook"] == "X1_example" and record["profile"] == "ci"
    assert record["version"] == __version__ and record["psnr"] == pytest.approx(21.5)
    assert record["machine"]["cores"] >= 1 and record["machine"]["cpu"]
    assert record in read_results()
    assert not list(results_dir().glob(".*.tmp"))


def test_bad_input_is_refused_before_writing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="profile"):
        results_path("X1_example", "gpu")
    with pytest.raises(ValueError, match="notebook name"):
        results_path("../escape", "ci")
    with pytest.raises(ValueError, match="reserved"):
        write_results("X2_example", "ci", {"profile": "default"})
    with pytest.raises(TypeError, match="cannot write object"):
        write_results("X2_example", "ci", {"bad": object()})
    assert not results_path("X2_example", "ci").exists()
    assert read_results(tmp_path) == []


def test_bench_figures_go_to_the_results_folder_by_default(tmp_path: Path) -> None:
    from eotdl_tutorials.results import bench_path, write_bench

    path = write_bench("tiling", {"ratio": np.float64(0.8)}, None)
    assert path == bench_path("tiling") == results_dir() / "bench-tiling.json"
    record = json.loads(path.read_text())
    assert record["benchmark"] == "tiling" and record["ratio"] == 0.8 and record["machine"]["cpu"]
    chosen = write_bench("tiling", {"ratio": 0.7}, tmp_path / "mine.json")
    assert chosen == tmp_path / "mine.json" and json.loads(chosen.read_text())["ratio"] == 0.7
    with pytest.raises(ValueError, match="reserved"):
        write_bench("tiling", {"machine": "x"}, None)
    with pytest.raises(ValueError, match="benchmark name"):
        bench_path("../x")
