"""Scale out: matching and tiling on a Dask ``distributed`` cluster, training with Lightning's
DDP (two CPU processes on the gloo backend). Kept small: the test machine has 2 cores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eotdl_tutorials.data import ChipStore, write_synthetic_store
from eotdl_tutorials.matching import compare_matches, match
from eotdl_tutorials.tiling import tile
from eotdl_tutorials.training import pretrain_encoder
from eotdl_tutorials.training.figures import read_metrics
from eotdl_tutorials.world import open_world


@pytest.fixture
def client():
    """A two-process ``LocalCluster`` on 127.0.0.1 (conftest restores the environment it sets)."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as connected,
    ):
        yield connected


def test_matching_and_tiling_on_a_dask_cluster_equal_one_process(ci_world, tmp_path, client):
    world = open_world(ci_world)
    local = match(world.earthview_index, world.items_parquet)
    spread = match(world.earthview_index, world.items_parquet, client=client, partitions=3)
    assert len(local.best) > 50 and compare_matches(local, spread).empty
    one = tile(local, tmp_path / "one", sensors=("s2",), progress=False)
    many = tile(spread, tmp_path / "many", sensors=("s2",), progress=False, client=client)
    assert one.summary["packed"] == many.summary["packed"] > 0
    assert np.array_equal(
        np.load(tmp_path / "one" / "s2.npy"), np.load(tmp_path / "many" / "s2.npy")
    )
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "one" / "index.parquet"),
        pd.read_parquet(tmp_path / "many" / "index.parquet"),
    )


def test_ddp_pretraining_on_two_cpu_processes(tmp_path):
    store = write_synthetic_store(tmp_path / "store", count=96, sensors=("s2",))
    train = len(ChipStore(store).split_indices("train"))
    batch_size = 8
    model_dir = pretrain_encoder(
        store,
        "s2",
        "ci",
        model_dir=tmp_path / "model",
        epochs=1,
        batch_size=batch_size,
        accelerator="cpu",
        devices=2,
        strategy="ddp_spawn",  # gloo on CPU; a GPU cluster uses strategy="ddp" (see the book)
        num_workers=0,
        onnx=False,
        progress=False,
    )
    assert (model_dir / "model.pt").is_file() and (model_dir / "catalog.json").is_file()
    metrics = read_metrics(model_dir / "run")
    steps = int(metrics["step"].max()) + 1
    # each of the 2 processes sees half the training chips: half the steps of one process
    assert steps == (train // 2) // batch_size, (steps, train)
