"""Use case B: ESRT as published, pairs, metrics, tiled whole-scene inference, export, CLI."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import torch
from rasterio.transform import from_origin

from eotdl_tutorials.cli import main
from eotdl_tutorials.data import write_synthetic_store
from eotdl_tutorials.downstream import as_road_dataset, fine_road_chips, restandardised
from eotdl_tutorials.facts.sensors import S2_MTF_NYQUIST, s2_noise_sd
from eotdl_tutorials.superres import (
    ESRT,
    ESRT_PAPER_PARAMS_4X,
    PAIR_BANDS,
    PairSet,
    SuperResolver,
    area_resize,
    best_regime,
    build_pairs,
    coregister,
    count_parameters,
    degrade,
    ensure_pair_store,
    error_budget,
    export_superres,
    fourier_filter,
    gains_over,
    gains_table,
    gaussian_mtf,
    gaussian_sigma_for_mtf,
    load_superres,
    make_consistent,
    regime_settings,
    score_regime,
    scores_on_real_pairs,
    sr_settings,
    superres_array,
    superres_card,
    superres_scene,
    synthetic_pairs,
    tile_spans,
    upsample_bicubic,
    wald_pairs,
)
from eotdl_tutorials.superres.figures import plot_regime_gains
from eotdl_tutorials.superres.metrics import (
    correctness,
    psnr,
    reflectance_l1,
    with_block_means,
)

L2A_ORDER = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12")
L1C_ORDER = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B09", "B10", "B11", "B12",
             "B8A")  # fmt: skip


def local_model(factor: int = 2) -> SuperResolver:
    """A 2x model that sees 4 input pixels around each output pixel (a 1-block CNN, random
    weights, plus bicubic): tiles overlapping by 24 must reproduce the one-pass result."""
    torch.manual_seed(0)
    model = SuperResolver("cnn", PAIR_BANDS, factor, options={"channels": 8, "blocks": 1})
    torch.nn.init.normal_(model.net.tail[-1].weight, std=0.1)  # not the zero start
    return model.eval()


def write_scene(
    path: Path,
    bands: tuple[str, ...],
    height: int,
    width: int,
    crs: str = "EPSG:32631",
    describe: bool = False,
    nodata_box: bool = False,
) -> np.ndarray:
    """A uint16 L2A-convention scene (DN = reflectance * 1e4 + 1000); returns its reflectance."""
    rng = np.random.default_rng(1)
    refl = rng.uniform(0.02, 0.5, (len(bands), height, width)).astype(np.float32)
    dn = np.round(refl * 1e4 + 1000).astype(np.uint16)
    if nodata_box:
        dn[:, 5:15, 20:40] = 0
    pixel = 10.0 if crs != "EPSG:4326" else 1e-4
    origin = (500_000, 5_000_000) if crs != "EPSG:4326" else (10.0, 45.0)
    profile = {"driver": "GTiff", "width": width, "height": height, "count": len(bands),
               "dtype": "uint16", "crs": crs, "transform": from_origin(*origin, pixel, pixel),
               "nodata": 0}  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(dn)
        if describe:
            dst.descriptions = bands
    return dn.astype(np.float32) * 1e-4 - 0.1


def one_pass(model: SuperResolver, image: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(image)[None])[0].numpy()


def test_esrt_has_the_published_parameter_count() -> None:
    params = count_parameters(ESRT(3, 4))
    assert params // 1000 == ESRT_PAPER_PARAMS_4X // 1000  # the paper's 751K
    x = torch.rand(2, 4, 12, 14)
    assert ESRT(4, 2)(x).shape == (2, 4, 24, 28)
    assert ESRT(4, 4)(x).shape == (2, 4, 48, 56)


def test_emha_quarters_as_published() -> None:
    from eotdl_tutorials.superres.models import EMHA

    torch.manual_seed(0)
    attention = EMHA(288).eval()
    tokens = torch.rand(2, 36, 288)
    with torch.no_grad():
        batched = attention(tokens)  # 36 tokens: four equal quarters in one call
        attention.splits = 5  # 36 = 5 x 7 + 1: the published split path, quarters of 7 and 1 ...
        assert attention(tokens).shape == tokens.shape
        attention.splits = 4
        x = attention.reduce(tokens)
        q, k, v = attention.qkv(x).reshape(2, 36, 3, 8, 18).permute(2, 0, 3, 1, 4)
        quarters = zip(q.split(9, 2), k.split(9, 2), v.split(9, 2), strict=True)
        parts = [torch.softmax(qi @ ki.transpose(-2, -1) * attention.scale, -1) @ vi
                 for qi, ki, vi in quarters]  # fmt: skip
        manual = attention.proj(torch.cat(parts, 2).transpose(1, 2).reshape(2, 36, 144))
    assert torch.allclose(batched, manual, atol=1e-5)


def test_residual_model_starts_from_bicubic() -> None:
    model = SuperResolver("cnn", PAIR_BANDS, 2)
    bicubic = SuperResolver("bicubic", PAIR_BANDS, 2)
    x = torch.rand(1, 4, 16, 16) * 0.3
    assert torch.allclose(model(x), bicubic(x), atol=1e-6)


def test_tiled_equals_one_pass_without_seams() -> None:
    model = local_model()
    image = np.random.default_rng(0).uniform(0, 0.4, (4, 100, 130)).astype(np.float32)
    tiled = superres_array(model, image, tile=48, overlap=24)
    assert tiled.shape == (4, 200, 260)
    np.testing.assert_allclose(tiled, one_pass(model, image), atol=2e-5)


def test_tile_spans_cover_the_axis() -> None:
    for size in (8, 47, 48, 100, 131):
        spans = tile_spans(size, 48, 8)
        assert spans[0][0] == 0 and spans[-1][0] + spans[-1][1] == size
        assert all(b[0] <= a[0] + a[1] - 8 for a, b in zip(spans, spans[1:], strict=False))


@pytest.mark.parametrize("layout", ["l2a-12", "l1c-13", "described"])
def test_scene_bands_are_mapped(tmp_path: Path, layout: str) -> None:
    model = local_model()
    order = {"l2a-12": L2A_ORDER, "l1c-13": L1C_ORDER, "described": ("B08", "B02", "B04", "B03")}
    bands = order[layout]
    refl = write_scene(tmp_path / "s2.tif", bands, 40, 50, describe=layout == "described")
    if layout == "l1c-13":  # EuroSAT-era L1C: DN / 1e4 without the offset
        refl = refl + 0.1
    wanted = [bands.index(b) for b in ("B04", "B03", "B02", "B08")]
    out = superres_scene(tmp_path / "s2.tif", model, tmp_path / "sr.tif", tile=32, overlap=24,
                         progress=False)  # fmt: skip
    with rasterio.open(out) as src:
        result = src.read()
        assert src.descriptions == PAIR_BANDS
    np.testing.assert_allclose(result, one_pass(model, refl[wanted]), atol=3e-5)


@pytest.mark.parametrize("crs", ["EPSG:32631", "EPSG:4326"])
def test_scene_keeps_crs_and_extent(tmp_path: Path, crs: str) -> None:
    write_scene(tmp_path / "s2.tif", L2A_ORDER, 30, 44, crs=crs)
    out = superres_scene(tmp_path / "s2.tif", local_model(), tmp_path / "sr.tif", tile=32,
                         overlap=8, progress=False)  # fmt: skip
    with rasterio.open(tmp_path / "s2.tif") as src, rasterio.open(out) as sr:
        assert sr.crs == src.crs
        assert (sr.width, sr.height) == (2 * src.width, 2 * src.height)
        np.testing.assert_allclose(sr.bounds, src.bounds)
        np.testing.assert_allclose(sr.res, (src.res[0] / 2, src.res[1] / 2))


def test_scene_smaller_than_a_tile_and_nodata(tmp_path: Path) -> None:
    model = local_model()
    refl = write_scene(tmp_path / "s2.tif", L2A_ORDER, 30, 50, nodata_box=True)
    out = superres_scene(tmp_path / "s2.tif", model, tmp_path / "sr.tif", tile=128,
                         progress=False)  # fmt: skip
    with rasterio.open(out) as src:
        result = src.read()
    assert np.isnan(result[:, 10:30, 40:80]).all()  # the nodata box, at twice the resolution
    assert np.isfinite(result[:, :10]).all() and np.isfinite(result[:, 30:]).all()
    np.testing.assert_allclose(result[:, 50:, :], one_pass(model, refl[[3, 2, 1, 7]])[:, 50:],
                               atol=3e-5)  # fmt: skip


def _assert_fails_cleanly(tmp_path: Path, args: list[str], capsys: pytest.CaptureFixture,
                          message: str) -> None:  # fmt: skip
    out = tmp_path / "sr.tif"
    assert main(["superres", *args, "--out", str(out), "--quiet"]) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.glob("sr*")) == [] and list(tmp_path.glob(".sr*")) == []


def test_bad_inputs_get_clear_errors_and_no_file(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    model_dir = tmp_path / "model"
    export_superres(local_model(), model_dir, input_size=16, onnx=False)
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    write_scene(scenes / "tiny.tif", L2A_ORDER, 6, 20)
    write_scene(scenes / "five.tif", ("a", "b", "c", "d", "e"), 20, 20)
    write_scene(scenes / "ok.tif", L2A_ORDER, 20, 20)
    with rasterio.open(scenes / "ok.tif", "r+") as dst:
        dst.write(np.zeros((12, 20, 20), np.uint16))
    write_scene(scenes / "good.tif", L2A_ORDER, 20, 20)
    model = ["--model", str(model_dir)]
    _assert_fails_cleanly(tmp_path, [str(scenes / "tiny.tif"), *model], capsys, "at least 8 px")
    _assert_fails_cleanly(tmp_path, [str(scenes / "five.tif"), *model], capsys, "cannot tell")
    _assert_fails_cleanly(tmp_path, [str(scenes / "ok.tif"), *model], capsys, "only nodata")
    _assert_fails_cleanly(tmp_path, [str(scenes / "good.tif"), *model, "--factor", "4"], capsys,
                          "super-resolves by 2x, not 4x")  # fmt: skip
    _assert_fails_cleanly(tmp_path, [str(scenes / "missing.tif"), *model], capsys, "does not exist")
    assert main(["superres", str(scenes / "good.tif"), *model, "--out", str(tmp_path / "sr.tif"),
                 "--quiet"]) == 0  # fmt: skip


def test_export_onnx_matches_pytorch(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = SuperResolver("esrt", PAIR_BANDS, 2)
    sample = torch.rand(1, 4, 24, 24) * 0.4
    exported = export_superres(model, tmp_path / "esrt", input_size=16, sample=sample)
    assert exported.onnx_max_abs_diff <= 1e-4
    assert (tmp_path / "esrt" / "item.json").is_file()
    loaded = load_superres(tmp_path / "esrt")
    with torch.no_grad():
        assert torch.allclose(loaded(sample), model(sample), atol=1e-6)


def test_the_consistency_projection_keeps_the_input_radiometry(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = SuperResolver("esrt", PAIR_BANDS, 2)
    with torch.no_grad():  # a trained network moves the 10 m means; an untrained one does not
        model.net.tail[-1].weight.normal_(0, 0.05)
    lr = torch.rand(2, 4, 24, 24) * 0.4
    consistent = make_consistent(model)
    with torch.no_grad():
        plain, projected = model(lr), consistent(lr)
    assert float(reflectance_l1(plain, lr).mean()) > 1e-3
    assert float(reflectance_l1(projected, lr).max()) < 1e-6

    def detail(x: torch.Tensor) -> torch.Tensor:  # what is left inside each 2 x 2 block
        blocks = torch.nn.functional.avg_pool2d(x, 2)
        return x - blocks.repeat_interleave(2, -2).repeat_interleave(2, -1)

    assert torch.allclose(detail(projected), detail(plain), atol=1e-6)  # the network's detail
    exported = export_superres(consistent, tmp_path / "c", input_size=16, sample=lr[:1])
    assert exported.onnx_max_abs_diff <= 1e-4
    assert load_superres(tmp_path / "c").consistent
    with pytest.raises(FileNotFoundError, match="run notebook B3"):
        load_superres(tmp_path / "missing")


def test_metrics_directions() -> None:
    rng = torch.Generator().manual_seed(0)
    hr = torch.rand(2, 4, 32, 32, generator=rng) * 0.4
    lr = torch.nn.functional.avg_pool2d(hr, 2)
    assert float(reflectance_l1(hr, lr).max()) < 1e-6
    shares = correctness(hr, hr, lr)
    assert torch.allclose(shares[:, 0], torch.ones(2))  # the target itself: all improvement
    lr_up = torch.nn.functional.interpolate(lr, scale_factor=2, mode="bilinear")
    assert torch.allclose(correctness(lr_up, hr, lr)[:, 1], torch.ones(2))  # no detail: omission
    noise = hr + torch.randn(hr.shape, generator=rng) * 0.3
    assert float(correctness(noise, hr, lr)[:, 2].mean()) > 0.5  # invented detail: hallucination
    assert float(psnr(lr_up, hr).mean()) < float(psnr(hr * 0.99, hr).mean())


def _pairs(lr: torch.Tensor, hr: torch.Tensor) -> PairSet:
    table = pd.DataFrame({"id": [str(i) for i in range(len(lr))], "split": "test"})
    return PairSet(lr.numpy(), hr.numpy(), table, factor=2, histogram_matched=False)


def test_error_budget_splits_radiometry_from_detail() -> None:
    rng = torch.Generator().manual_seed(0)
    lr = torch.rand(3, 4, 16, 16, generator=rng) * 0.3 + 0.05
    bicubic = upsample_bicubic(lr, 2)
    noise = torch.randn(3, 4, 32, 32, generator=rng) * 0.02
    detail = with_block_means(noise, torch.zeros_like(lr))  # zero mean over each 10 m pixel
    # Only detail missing: right radiometry gains nothing, right detail everything.
    budget = error_budget(_pairs(lr, bicubic + detail))
    assert budget["target_radiometry"] == pytest.approx(budget["bicubic"], abs=1e-3)
    assert budget["target_detail"] > budget["bicubic"] + 40
    # Only radiometry wrong (a 10 % gain of the other sensor): the other way round.
    budget = error_budget(_pairs(lr, bicubic * 1.1))
    assert budget["target_detail"] < budget["bicubic"] + 0.5
    assert budget["target_radiometry"] > budget["bicubic"] + 10


def test_gains_over_bicubic_are_paired_by_pair_and_blocked_by_place() -> None:
    rng = np.random.default_rng(0)
    ids, places = [f"p{i}" for i in range(12)], np.repeat(["a", "b", "c", "d"], 3)
    base = rng.normal(25, 2, 12)  # pairs differ far more than the models do
    per_place = {"a": 2.0, "b": -2.0, "c": 1.5, "d": -1.0}  # a gain that depends on the place
    shift = np.array([per_place[p] for p in places])
    frames = [
        pd.DataFrame({"id": ids, "place": places, "psnr": base, "ssim": base / 100})
        .assign(model="bicubic"),
        pd.DataFrame({"id": ids, "place": places, "psnr": base + 0.5, "ssim": base / 100})
        .assign(model="steady")[::-1],  # another row order: paired by id, not by position
        pd.DataFrame({"id": ids, "place": places, "psnr": base + shift, "ssim": base / 100})
        .assign(model="varying"),
    ]  # fmt: skip
    gains = gains_over(pd.concat(frames, ignore_index=True))
    assert set(gains) == {"steady", "varying"}
    steady = gains["steady"]["psnr"]
    assert (steady.estimate, steady.low, steady.high) == pytest.approx((0.5, 0.5, 0.5))
    assert steady.verdict == "beyond noise"
    assert gains["steady"]["ssim"].estimate == pytest.approx(0.0)
    varying = gains["varying"]["psnr"]
    assert varying.estimate == pytest.approx(0.125) and varying.verdict == "within noise"
    with pytest.raises(ValueError, match="no 'bicubic' rows"):
        gains_over(frames[1])


def _pair_store(root: Path, cloud: list[float], gap_days: list[int]) -> Path:
    """A chip store of ``len(cloud)`` hr + s2 footprints (S2 4 px of 10 m, hr 40 px of 1 m) whose
    S2 chips have ``cloud`` percent SCL cloud and whose S2 items are ``gap_days`` after the 1 m."""
    store = write_synthetic_store(
        root, count=len(cloud), s2_size=4, hr_size=40, sensors=("hr", "s2")
    )
    index = gpd.read_parquet(store / "index.parquet")
    index["s2_cloud_percent"] = cloud
    index["s2_datetime"] = index["hr_datetime"] + pd.to_timedelta(gap_days, "D")
    index.to_parquet(store / "index.parquet")
    return store


def test_pairs_are_cloud_free_with_the_time_gap_of_the_items(tmp_path: Path) -> None:
    """Of any store with hr and s2 chips, pairs keep the chips without SCL cloud (NaN: never
    checked, left out too), the store's split, and the S2 item's datetime minus the 1 m one."""
    store = _pair_store(tmp_path / "s", [0, 0.5, np.nan, 0, 0, 3], [1, 2, 3, -4, 5, 6])
    pairs = build_pairs(store, lr_size=4)
    index = gpd.read_parquet(store / "index.parquet")
    assert pairs.table["id"].tolist() == index["id"].iloc[[0, 3, 4]].tolist()
    assert pairs.table["time_gap_days"].tolist() == [1.0, -4.0, 5.0]
    assert pairs.table["split"].tolist() == index["split"].iloc[[0, 3, 4]].tolist()
    assert (pairs.cloudy, pairs.unchecked) == (2, 1)
    assert len(build_pairs(store, lr_size=4, max_cloud_percent=None)) == 6
    assert (pairs.lr >= 0).all()  # reflectance


def test_a_store_without_pairs_is_a_clear_error(tmp_path: Path) -> None:
    cloudy = _pair_store(tmp_path / "cloudy", [2.0, np.nan], [0, 0])
    with pytest.raises(ValueError, match="1 hold more than 0 % SCL cloud.*1 have no cloud figure"):
        build_pairs(cloudy, lr_size=4)
    s2_only = write_synthetic_store(tmp_path / "s2", count=2, s2_size=4, sensors=("s2",))
    with pytest.raises(ValueError, match="has no hr chips.*the store parameter"):
        build_pairs(s2_only, lr_size=4)


def test_full_pairs_are_never_built_from_the_sample_world(tmp_path, monkeypatch) -> None:
    """``full`` reads the chip store A1 wrote from real data, or stops naming what to run."""
    monkeypatch.setenv("EOTDL_TUTORIALS_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="-p stac_url URL -p earthview_index PATH"):
        ensure_pair_store("full")
    assert list(tmp_path.iterdir()) == []  # no world, no store
    a1 = write_synthetic_store(tmp_path / "datasets" / "multisensor-full", count=2)
    assert ensure_pair_store("full") == a1


# Training regimes (B3): co-registration, Wald's protocol, synthetic pairs.


def test_psf_sigma_gives_the_mtf_at_nyquist() -> None:
    """sigma from the MTF at Nyquist and back; a cosine at the coarse grid's Nyquist frequency
    blurred by that PSF on a grid twice as fine keeps the MTF of its amplitude."""
    sigma = gaussian_sigma_for_mtf(0.25)
    assert sigma == pytest.approx(0.53, abs=0.005)  # the sensor facts' "about 0.5 pixel"
    assert gaussian_mtf(sigma) == pytest.approx(0.25)
    for band in PAIR_BANDS:  # the facts give every pair band an MTF within the requirement
        assert 0.15 <= S2_MTF_NYQUIST[band] <= 0.30
        assert 0 < s2_noise_sd(band) < 0.01
    x = np.arange(64)
    wave = np.cos(2 * np.pi * 0.25 * x)[None, None, None, :].repeat(64, 2).astype(np.float32)
    blurred = fourier_filter(wave, sigma * 2)
    assert np.abs(blurred[0, 0, 32, 16:48]).max() == pytest.approx(0.25, abs=0.002)
    with pytest.raises(ValueError, match="between 0 and 1"):
        gaussian_sigma_for_mtf(1.0)


def test_degrade_samples_each_coarse_pixel_at_its_centre() -> None:
    """A linear ramp (which a symmetric PSF keeps) degraded by 2: each coarse pixel is the mean
    of its 2 x 2 block (away from the reflected edges); a constant stays constant; noise has the
    standard deviation asked for."""
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float32)
    ramp = (0.1 + 0.003 * yy + 0.002 * xx)[None, None].repeat(2, 1)
    coarse = degrade(ramp, 2, 0.25)
    blocks = ramp.reshape(1, 2, 16, 2, 16, 2).mean(axis=(3, 5))
    assert coarse.shape == (1, 2, 16, 16)
    np.testing.assert_allclose(coarse[..., 4:12, 4:12], blocks[..., 4:12, 4:12], atol=1e-5)
    flat = np.full((2, 4, 32, 32), 0.2, np.float32)
    np.testing.assert_allclose(degrade(flat, 2, 0.25), 0.2, atol=1e-6)
    noisy = degrade(flat, 2, 0.25, noise_sd=0.01, seed=1)
    assert noisy.std() == pytest.approx(0.01, rel=0.05)
    with pytest.raises(ValueError, match="multiples of the factor"):
        degrade(flat[..., :31, :31], 2, 0.25)


def _textured_pairs(shifts_px: list[tuple[float, float]]) -> tuple[PairSet, np.ndarray]:
    """Pairs whose target is a smooth random texture (5 m) moved by ``shifts_px`` (target px)
    and whose input is the unmoved texture averaged to 10 m; and the unmoved texture."""
    rng = np.random.default_rng(0)
    count = len(shifts_px)
    base = rng.random((count, 4, 64, 64)).astype(np.float32) * 0.3 + 0.05
    base = fourier_filter(base, 0.7)
    hr = fourier_filter(base, 0.0, np.array(shifts_px))
    lr = area_resize(base, (32, 32)).numpy()
    table = pd.DataFrame(
        {
            "id": [str(i) for i in range(count)],
            "split": ["train", "test", "test", "test"][:count],
            "place": ["a", "b", "c", "d"][:count],
            "time_gap_days": 0.0,
        }
    )
    return PairSet(lr, hr, table, factor=2, histogram_matched=False), base


def test_coregistration_removes_a_known_sub_pixel_offset() -> None:
    """Targets moved by known sub-pixel shifts (5 m px): the offsets measured before are those
    shifts (x east, y north, metres; the target is registered by the opposite move), the ones
    measured after are about zero, and the targets come back to the unmoved texture."""
    pairs, base = _textured_pairs([(2.4, -1.6), (-1.0, 3.0), (0.6, 0.0), (0.0, 0.0)])
    moved, report = coregister(pairs)
    expected_x, expected_y = [8.0, -15.0, 0.0, 0.0], [12.0, -5.0, 3.0, 0.0]
    np.testing.assert_allclose(report["before_x_m"], expected_x, atol=1.5)
    np.testing.assert_allclose(report["before_y_m"], expected_y, atol=1.5)
    assert report["after_m"].max() < 1.0 and report["moved"].all()
    inner = (slice(None), slice(None), slice(8, -8), slice(8, -8))  # away from the edges
    before = np.abs(pairs.hr[inner] - base[inner]).mean(axis=(1, 2, 3))
    after = np.abs(moved.hr[inner] - base[inner]).mean(axis=(1, 2, 3))
    assert (after[:3] < before[:3] / 2).all(), (before, after)
    # An offset longer than the limit is a failed measurement: left as it is.
    _, kept = coregister(pairs, max_offset_m=5.0)
    assert not kept["moved"].iloc[0] and not kept["moved"].iloc[1] and kept["moved"].iloc[2]
    assert kept["after_m"].iloc[0] == pytest.approx(kept["before_m"].iloc[0], abs=0.5)


def test_wald_and_synthetic_pairs_and_their_scores() -> None:
    pairs, _ = _textured_pairs([(0.0, 0.0)] * 4)
    wald = wald_pairs(pairs)
    assert wald.lr.shape == (4, 4, 16, 16) and np.array_equal(wald.hr, pairs.lr)
    assert wald.factor == pairs.factor and wald.table["split"].tolist() == ["train"] + 3 * ["test"]
    synthetic = synthetic_pairs(pairs)
    assert synthetic.lr.shape == pairs.lr.shape and np.array_equal(synthetic.hr, pairs.hr)
    assert not np.array_equal(synthetic_pairs(pairs, seed=1).lr, synthetic.lr)  # the noise
    # An untrained residual network is bicubic: its gain is zero, interval and all.
    models = {
        "bicubic": SuperResolver("bicubic", pairs.bands, 2),
        "cnn": SuperResolver("cnn", pairs.bands, 2),
    }
    scores = {"wald": score_regime(models, wald), "synthetic": score_regime(models, synthetic)}
    results = scores["wald"].results()
    assert set(results) == {"bicubic", "cnn"}
    assert {"psnr", "ssim", "reflectance_l1", "spectral_angle_deg", "hallucination"} <= set(
        results["bicubic"]
    )
    assert results["cnn"]["psnr_gain"] == pytest.approx(0.0, abs=1e-4)
    assert len(results["cnn"]["psnr_gain_ci95"]) == 2
    table = gains_table(scores)
    assert list(table.index) == [("wald", "cnn"), ("synthetic", "cnn")]
    assert set(table["verdict"]) == {"within noise"}
    assert plot_regime_gains(table) is not None


def test_regime_settings_fit_every_profile() -> None:
    assert regime_settings("ci").steps < regime_settings("default").steps
    assert regime_settings("full") == sr_settings("full")
    assert regime_settings("ci", steps=7).steps == 7
    # default spends its steps where the pairs can teach; a given number of steps wins
    assert (
        regime_settings("default", "cross_sensor").steps < regime_settings("default", "wald").steps
    )
    assert regime_settings("default", "wald") == regime_settings("default")
    assert regime_settings("default", "cross_sensor", steps=7).steps == 7


def test_the_regime_exported_is_the_best_on_the_real_pairs(tmp_path) -> None:
    """Each regime's models scored on the same (real) pairs: the regime whose ESRT gains most
    over bicubic is chosen, whatever the order; its exported card names the regime."""
    pairs, _ = _textured_pairs([(0.0, 0.0)] * 4)
    bicubic = SuperResolver("bicubic", pairs.bands, 2)
    untrained = SuperResolver("cnn", pairs.bands, 2)  # residual on bicubic: bicubic itself
    noisy = SuperResolver("cnn", pairs.bands, 2)
    with torch.no_grad():
        for parameter in noisy.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    models = {
        "cross_sensor": {"bicubic": bicubic, "esrt": noisy},
        "wald": {"bicubic": bicubic, "esrt": untrained},
    }
    scores = scores_on_real_pairs(models, pairs)
    assert scores["cross_sensor"].gains["esrt"]["psnr"].estimate < -0.1
    assert best_regime(scores) == "wald" == best_regime(dict(reversed(list(scores.items()))))
    exported = export_superres(untrained, tmp_path / "model", 32, onnx=False, regime="wald")
    assert "trained on wald pairs" in exported.card.description
    assert "trained on" not in superres_card(untrained, "m", 32).description


def _road_chip(tmp_path: Path):
    """One 80 m road chip at 10 m (8 x 8 px) over a 1 m aerial image whose columns 18-21 are a
    4 m wide road, brighter than the rest; the Sentinel-2 chip is the aerial image's mean."""
    from eotdl_tutorials.roads.dataset import RoadDataset

    transform, crs = from_origin(500_000, 5_300_080, 1, 1), "EPSG:32631"
    road = np.zeros((80, 80), bool)
    road[:, 18:22] = True
    columns = np.tile(np.arange(80, dtype=np.float32), (80, 1))
    aerial = np.stack([columns + 100 * road] * 3).astype(np.uint8)
    paths = {"image": tmp_path / "a.tif", "mask": tmp_path / "m.tif"}
    for name, values in (("image", aerial), ("mask", (255 * road[None]).astype(np.uint8))):
        with rasterio.open(
            paths[name],
            "w",
            driver="GTiff",
            width=80,
            height=80,
            count=len(values),
            dtype="uint8",
            crs=crs,
            transform=transform,
        ) as dst:
            dst.write(values)  # fmt: skip
    index = pd.DataFrame(
        {"id": ["c0"], "region": ["r"], "split": ["train"], "epsg": [32631],
         "minx": [500_000.0], "miny": [5_300_000.0], "maxx": [500_080.0], "maxy": [5_300_080.0],
         "image": [str(paths["image"])], "mask": [str(paths["mask"])]}
    )  # fmt: skip
    images = np.full((1, 4, 8, 8), 0.1, np.float32)
    images[0, :, 0, 0] = np.nan  # no data: filled before super-resolution
    return RoadDataset(images, np.zeros((1, 8, 8)), {}, index, PAIR_BANDS, {})


def test_the_downstream_inputs_share_one_grid_and_one_set_of_labels(tmp_path: Path) -> None:
    dataset = _road_chip(tmp_path)
    torch.manual_seed(0)
    fine = fine_road_chips(dataset, SuperResolver("esrt", PAIR_BANDS, 2), progress=False)
    assert set(fine.images) == {"aerial", "esrt", "bicubic"}
    for images in fine.images.values():
        assert images.shape == (1, 3, 16, 16) and np.isfinite(images).all()
    # 5 m labels: the road covers 2 m of the pixels 15-20 m and 20-25 m (0.4 > 0.25), no other
    assert fine.labels[0].sum(0).tolist() == [0, 0, 0, 16, 16] + [0] * 11
    expected = np.arange(80, dtype=np.float32).reshape(16, 5).mean(1)  # aerial averaged to 5 m
    expected[3:5] += 40  # 2 of the 5 columns are road (+100)
    assert np.allclose(fine.images["aerial"][0, 0, 0], expected)
    assert np.allclose(fine.images["bicubic"], 0.1, atol=1e-6)  # the no-data pixel filled
    road = as_road_dataset(fine, "aerial")
    assert road.bands == ("red", "green", "blue") and road.labels["area_fraction"] is fine.labels


def test_restandardised_road_model_z_scores_another_sensor() -> None:
    from eotdl_tutorials.roads import RoadNet

    model = RoadNet(("red", "green", "blue"), [100.0] * 3, [30.0] * 3, "resnet18", 3, (16, 8, 4))
    images = np.random.default_rng(0).normal(0.1, 0.02, (4, 3, 16, 16)).astype(np.float32)
    moved = restandardised(model, images)
    z = moved.normalise(torch.from_numpy(images))
    assert float(z.mean().abs()) < 1e-4 and abs(float(z.std()) - 1) < 1e-2
    assert float(model.mean.flatten()[0]) == 100.0  # the original is left as it was
