"""The chip-store reader, band statistics, datasets, loaders and batch augmentations."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from eotdl_tutorials.data import (
    SPLITS,
    ChipAugment,
    ChipDataModule,
    ChipDataset,
    ChipStore,
    compute_band_stats,
    make_loader,
    open_chip_store,
    write_synthetic_store,
)


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    return write_synthetic_store(tmp_path_factory.mktemp("chips"), count=90, s2_size=16, hr_size=32)


def test_store_follows_the_contract(store_dir):
    store = open_chip_store(store_dir)
    assert store.count == 90
    assert set(store.sensors) == {"hr", "s2", "s1"}
    s2 = store.sensor("s2")
    assert s2.bands[:4] == ("coastal", "blue", "green", "red") and s2.channels == 12
    array = store.array("s2")
    assert isinstance(array, np.memmap) and array.shape == (90, 12, 16, 16)
    assert array.dtype == np.uint16 and store.array("s1").dtype == np.float32
    assert store.array("hr").shape == (90, 4, 32, 32)
    splits = [store.split_indices(split) for split in SPLITS]
    assert sum(len(rows) for rows in splits) == 90
    assert len(np.unique(np.concatenate(splits))) == 90
    assert set(store.labels) <= set(range(len(store.classes))) and len(set(store.labels)) >= 4
    west, south, east, north = store.bounds()
    assert west < east and south < north


def test_band_stats_are_physical_values_of_the_training_split(store_dir):
    store = ChipStore(store_dir)
    stats = compute_band_stats(store, "s2")
    rows = store.split_indices("train")
    reflectance = store.array("s2")[rows].astype(np.float64) * 1e-4 - 0.1
    np.testing.assert_allclose(stats.mean, reflectance.mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(stats.std, reflectance.std(axis=(0, 2, 3)), rtol=1e-5)
    assert stats.mean[3] < stats.mean[7]  # red darker than nir on a vegetated world
    assert type(stats).from_dict(json.loads(json.dumps(stats.to_dict()))) == stats


def test_band_stats_stream_over_chunks_and_leave_nodata_out(tmp_path, store_dir, monkeypatch):
    """Read a few chips at a time (the 1 m split at once took 10 GB), the statistics are those of
    the whole split at once, nodata pixels left out."""
    import eotdl_tutorials.data.stats as stats_module

    copy = shutil.copytree(store_dir, tmp_path / "chips")
    array = np.load(copy / "s2.npy", mmap_mode="r+")
    array[0, :, :4, :] = 0  # nodata rows in a training chip
    array.flush()
    store = ChipStore(copy)
    rows = store.split_indices("train")
    raw = store.array("s2")[rows]
    values = store.to_physical("s2", raw).astype(np.float64)  # float32 physical values, as read
    values[raw == 0] = np.nan
    assert np.isnan(values).any()
    monkeypatch.setattr(stats_module, "CHUNK_CHIPS", 7)  # several chunks, the last one short
    assert len(rows) % 7
    stats = compute_band_stats(store, "s2")
    np.testing.assert_allclose(stats.mean, np.nanmean(values, axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(stats.std, np.nanstd(values, axis=(0, 2, 3)), rtol=1e-12)


def test_dataset_reads_batches_of_physical_values_with_aligned_labels(store_dir):
    store = ChipStore(store_dir)
    rows = store.split_indices("train")
    dataset = ChipDataset(store, "s2", rows)
    batch = dataset.__getitems__([5, 0, 3])
    expected = store.array("s2")[rows[[0, 3, 5]]].astype(np.float32) * np.float32(1e-4)
    np.testing.assert_allclose(batch["image"].numpy(), expected - np.float32(0.1), atol=1e-6)
    assert batch["label"].tolist() == store.labels[rows[[0, 3, 5]]].tolist()
    single = dataset[3]
    assert single["image"].shape == (12, 16, 16) and int(single["label"]) == store.labels[rows[3]]


def test_nodata_pixels_get_the_fill_value(tmp_path, store_dir):
    copy = shutil.copytree(store_dir, tmp_path / "chips")
    array = np.load(copy / "s2.npy", mmap_mode="r+")
    array[0, :, 0, 0] = 0
    array.flush()
    fill = np.arange(12, dtype=np.float32)
    image = ChipDataset(copy, "s2", [0], fill=fill)[0]["image"]
    np.testing.assert_array_equal(image[:, 0, 0].numpy(), fill)
    assert image[0, 1, 1] != 0


def test_loader_serves_every_chip_once_per_epoch(store_dir):
    dataset = ChipDataset(store_dir, "s1", np.arange(90))
    loader = make_loader(dataset, batch_size=16, shuffle=True, num_workers=0)
    torch.manual_seed(0)
    sums = torch.cat([batch["image"].sum(dim=(1, 2, 3)) for batch in loader])
    expected = torch.from_numpy(np.load(store_dir / "s1.npy").sum(axis=(1, 2, 3)))
    np.testing.assert_allclose(np.sort(sums.numpy()), np.sort(expected.numpy()), rtol=1e-5)


def test_loader_workers_reopen_the_memory_map(store_dir):
    dataset = ChipDataset(store_dir, "s2", np.arange(40), with_labels=False)
    _ = dataset.array  # opened in this process; workers must not pickle its contents
    loader = make_loader(dataset, batch_size=8, shuffle=False, num_workers=1)
    assert sum(batch["image"].shape[0] for batch in loader) == 40
    assert "_array" in dataset.__getstate__() and dataset.__getstate__()["_array"] is None


def test_datamodule_defaults_to_the_training_split(store_dir):
    datamodule = ChipDataModule(store_dir, "s2", batch_size=8)
    store = ChipStore(store_dir)
    assert len(datamodule.train_dataloader().dataset) == len(store.split_indices("train"))
    assert len(datamodule.test_dataloader().dataset) == len(store.split_indices("test"))
    assert datamodule.hparams["sensor"] == "s2"


@pytest.mark.parametrize("sensor", ["hr", "s2", "s1"])
def test_augment_gives_views_of_the_requested_size(store_dir, sensor):
    images = ChipDataset(store_dir, sensor, np.arange(8)).__getitems__(list(range(8)))["image"]
    torch.manual_seed(0)
    views = ChipAugment(sensor, size=12)(images)
    assert views.shape == (8, images.shape[1], 12, 12) and torch.isfinite(views).all()
    torch.manual_seed(0)
    assert torch.equal(views, ChipAugment(sensor, size=12)(images))


def test_full_crops_are_exact_flips_and_rotations():
    images = torch.rand(16, 3, 8, 8)
    augment = ChipAugment("s2", size=8, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), jitter=0)
    views = augment(images)
    for image, view in zip(images, views, strict=True):
        dihedral = [torch.rot90(f, k, (1, 2)) for f in (image, image.flip(2)) for k in range(4)]
        assert min(float((view - d).abs().max()) for d in dihedral) < 1e-5


def test_optical_jitter_keeps_spectral_shape_and_sar_gets_no_colour_jitter():
    flat = torch.rand(64, 4, 1, 1).expand(64, 4, 8, 8).contiguous()
    optical = ChipAugment("s2", 8, (1.0, 1.0), (1.0, 1.0), jitter=1.0).brightness_contrast(flat)
    ratio = optical / flat
    assert torch.allclose(ratio, ratio[:, :1], atol=1e-5)  # one gain per chip, all bands
    assert ratio.std() > 0.01
    sar = ChipAugment("s1", 8, jitter=1.0, looks=1e6).speckle(flat)
    assert torch.allclose(sar, flat, atol=0.05)  # huge number of looks: almost no speckle


def test_missing_store_and_sensor_are_clear_errors(tmp_path, store_dir):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ChipStore(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="meta.json is missing"):
        ChipStore(tmp_path / "empty")
    only_s2 = write_synthetic_store(tmp_path / "s2only", count=10, s2_size=8, sensors=("s2",))
    with pytest.raises(ValueError, match="no sensor 's1'.*s2"):
        ChipDataModule(only_s2, "s1")
    with pytest.raises(ValueError, match="no sensor 'hr'"):
        ChipStore(only_s2).array("hr")


def test_broken_store_files_are_clear_errors(tmp_path, store_dir):
    copy = shutil.copytree(store_dir, tmp_path / "chips")
    meta = json.loads((copy / "meta.json").read_text())
    (copy / "meta.json").write_text(json.dumps(meta | {"format": "something-else"}))
    with pytest.raises(ValueError, match="not a chip store"):
        ChipStore(copy)
    meta["sensors"]["s2"]["shape"] = [4, 16, 16]
    (copy / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="meta.json says"):
        ChipStore(copy).array("s2")


def test_empty_selection_is_a_clear_error(store_dir):
    with pytest.raises(ValueError, match="empty"):
        ChipDataset(store_dir, "s2", [])
    with pytest.raises(ValueError, match="unknown split"):
        ChipStore(store_dir).split_indices("training")
