"""The inference API over real HTTP on 127.0.0.1, called as SCANEO calls it.

Tiny models with random weights (tests/tiny_models.py) go through the course's export: U-Nets,
a classifier, a multi-task model, and per-pixel (1x1 convolution) models whose class maps are
checked pixel by pixel against NumPy, so any shift or seam of the tiling shows.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import rasterio
import requests
import torch
from fastapi.testclient import TestClient
from rasterio.transform import from_origin
from tiny_models import CLASSES, export_all

from eotdl_tutorials.data import resize_to
from eotdl_tutorials.models import read_card, scaneo_rgb
from eotdl_tutorials.models.bands import L2A_12
from eotdl_tutorials.models.export import load_model
from eotdl_tutorials.processes import ChildProcess
from eotdl_tutorials.serving import (
    InferenceServer,
    ModelLoadError,
    SentImage,
    classify_as_scaneo,
    create_app,
    load_models,
    post_image,
    scaneo_payload,
    segment_as_scaneo,
    vectorise_as_scaneo,
)
from eotdl_tutorials.serving.bench import bench_api
from eotdl_tutorials.serving.predict import resize_image
from eotdl_tutorials.stac.server import PortInUseError

MAX_UPLOAD_MB = 16
CRS = "EPSG:32631"
#: What serving ONNX models must not import (PyTorch and the training stack, plotting).
NOT_SERVING = (
    "torch", "lightning", "baal", "timm", "segmentation_models_pytorch", "torchmetrics",
    "matplotlib",
)  # fmt: skip


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    export_all(folder)
    return folder


@pytest.fixture(scope="module")
def api(models_dir):
    with InferenceServer(models_dir, max_upload_mb=MAX_UPLOAD_MB, max_pixels=9000**2) as server:
        yield server


def l2a_scene(path, height, width, seed=0, descriptions=None):
    """A Sentinel-2 L2A GeoTIFF (12 bands, DN = (reflectance + 0.1) * 1e4) as SCANEO stores it."""
    rng = np.random.default_rng(seed)
    dn = rng.integers(1000, 7000, (12, height, width)).astype(np.uint16)
    profile = {
        "driver": "GTiff", "width": width, "height": height, "count": 12, "dtype": "uint16",
        "crs": CRS, "transform": from_origin(600010, 5000020, 10, 10),
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(dn)
        for band, text in enumerate(descriptions or []):
            dst.set_band_description(band + 1, text)
    return path, dn


def pixel_reference(models_dir, name, values):
    """The per-pixel model's class map computed in NumPy from its weights."""
    card = read_card(models_dir / name)
    state = torch.load(models_dir / name / "model.pt", weights_only=True)
    weight, bias = state["weight"][:, :, 0, 0].numpy(), state["bias"].numpy()
    logits = np.einsum("kc,chw->khw", weight, card.normalise(values)) + bias[:, None, None]
    return logits.argmax(0), np.sort(logits, axis=0)


def check_exact(mask, reference):
    """The class maps agree wherever the top two logits are not a float tie."""
    labels, sorted_logits = reference
    tie = sorted_logits[-1] - sorted_logits[-2] < 1e-4
    assert mask.shape == labels.shape
    assert np.array_equal(mask[~tie], labels[~tie]), "class map differs: the grid is shifted"


def check_grid(response_bytes, image):
    with rasterio.open(io.BytesIO(response_bytes)) as mask:
        assert (mask.count, mask.dtypes[0]) == (1, "uint8")
        assert (mask.width, mask.height) == (image.width, image.height)
        assert mask.crs == image.crs and mask.transform == image.transform
        return mask.read(1)


def test_health_and_models_describe_what_scaneo_needs(api):
    assert requests.get(f"{api.url}/health", timeout=5).json() == {"status": "ok", "models": 5}
    models = {m["name"]: m for m in requests.get(f"{api.url}/models", timeout=5).json()}
    assert set(models) == {"rgb-seg", "rgb-cls", "l2a-multi", "pixel-rgb", "pixel-l2a"}
    seg, cls, multi = models["rgb-seg"], models["rgb-cls"], models["l2a-multi"]
    assert seg["urls"] == {"segmentation": "/models/rgb-seg/segmentation"}
    assert set(multi["urls"]) == {"segmentation", "classification"}
    assert seg["scaneo_preprocessing"] == "S2RGB" and multi["scaneo_preprocessing"] == "none"
    assert seg["bands"] == ["red", "green", "blue"] and multi["bands"] == list(L2A_12)
    # The index convention against the label order (spai.json order = CLASSES).
    assert seg["classes"] == list(CLASSES)
    assert seg["output_indices"]["segmentation"] == {
        "no label": 0, **{name: i + 1 for i, name in enumerate(CLASSES)}
    }  # fmt: skip
    assert cls["output_indices"]["classification"] == {n: i for i, n in enumerate(CLASSES)}
    assert multi["normalisation"]["type"] == "z-score" and "band count" in multi["band_mapping"]


def test_segmentation_as_scaneo_sends_it_333_x_517_s2rgb(api, models_dir, tmp_path):
    path, dn = l2a_scene(tmp_path / "scene.tif", 333, 517)
    image = scaneo_payload(path, "S2RGB")
    url = f"{api.url}/models/pixel-rgb/segmentation"
    response = post_image(url, image)
    mask = check_grid(response.content, image)
    values = scaneo_rgb(dn, "S2RGB").astype(np.float32) / 255
    check_exact(mask, pixel_reference(models_dir, "pixel-rgb", values))
    # SATRGB sends float 0..1 (bands 2 to 4): the same model takes it as it comes.
    floats = scaneo_payload(path, "SATRGB")
    mask = check_grid(post_image(url, floats).content, floats)
    values = scaneo_rgb(dn, "SATRGB").astype(np.float32)
    check_exact(mask, pixel_reference(models_dir, "pixel-rgb", values))
    # A U-Net answers on the same grid too, and SCANEO's vectorisation gives 4326 proposals.
    unet_image = scaneo_payload(path, "S2RGB")
    unet_mask = segment_as_scaneo(f"{api.url}/models/rgb-seg/segmentation", unet_image)
    assert unet_mask.shape == (333, 517) and set(np.unique(unet_mask)) <= {0, 1, 2, 3}
    proposals = vectorise_as_scaneo(mask, image, CLASSES)
    assert proposals.crs == "EPSG:4326" and len(proposals) >= 1
    present = {CLASSES[i - 1] for i in np.unique(mask) if i > 0}
    assert set(proposals["label"]) == present and set(proposals["task"]) == {"segmentation"}
    assert proposals.total_bounds[0] > 0 and proposals.total_bounds[1] > 40  # lon/lat


def test_a_2048_x_2048_upload_is_tiled_without_seams(api, models_dir, tmp_path):
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (3, 2048, 2048), dtype=np.uint8)
    profile = {
        "driver": "GTiff", "width": 2048, "height": 2048, "count": 3, "dtype": "uint8",
        "crs": CRS, "transform": from_origin(600000, 5000000, 10, 10),
    }  # fmt: skip
    with rasterio.open(tmp_path / "rgb.tif", "w", **profile) as dst:
        dst.write(rgb)  # an image already in S2RGB form: SCANEO sends it with no preprocessing
    image = scaneo_payload(tmp_path / "rgb.tif", "none")
    response = post_image(f"{api.url}/models/pixel-rgb/segmentation", image)
    mask = check_grid(response.content, image)
    check_exact(mask, pixel_reference(models_dir, "pixel-rgb", rgb.astype(np.float32) / 255))


def test_raw_multiband_upload_maps_bands_by_count_or_description(api, models_dir, tmp_path):
    names = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12"]
    order = np.random.default_rng(2).permutation(12)
    path, dn = l2a_scene(tmp_path / "raw.tif", 100, 75)
    described = [names[i] for i in order]
    shuffled, _ = l2a_scene(tmp_path / "shuffled.tif", 100, 75, descriptions=described)
    with rasterio.open(shuffled, "r+") as dst:
        dst.write(dn[order])
    url = f"{api.url}/models/pixel-l2a/segmentation"
    reference = pixel_reference(models_dir, "pixel-l2a", dn * np.float32(1e-4) - np.float32(0.1))
    image = scaneo_payload(path)  # SCANEO sends the bands as stored, without descriptions
    check_exact(check_grid(post_image(url, image).content, image), reference)
    # Another client may send a file whose bands are in another order but described.
    sent = SentImage(shuffled.read_bytes(), image.crs, image.transform, 75, 100)
    check_exact(check_grid(post_image(url, sent).content, sent), reference)


def test_classification_as_scaneo_for_both_input_kinds(api, models_dir, tmp_path):
    path, dn = l2a_scene(tmp_path / "scene.tif", 48, 40)
    image = scaneo_payload(path, "S2RGB")
    scores, index = classify_as_scaneo(f"{api.url}/models/rgb-cls/classification", image)
    assert len(scores) == len(CLASSES) and sum(scores) == pytest.approx(1, abs=1e-5)
    values = torch.from_numpy(scaneo_rgb(dn, "S2RGB").astype(np.float32) / 255)[None]
    with torch.no_grad():
        logits = load_model(models_dir / "rgb-cls")(resize_to(values, 32))
    np.testing.assert_allclose(scores, torch.softmax(logits, 1)[0].numpy(), atol=1e-4)
    assert index == int(np.argmax(scores))
    raw = scaneo_payload(path)  # the multi-task model takes the raw bands
    scores, _ = classify_as_scaneo(f"{api.url}/models/l2a-multi/classification", raw)
    assert len(scores) == len(CLASSES)
    mask = segment_as_scaneo(f"{api.url}/models/l2a-multi/segmentation", raw)
    assert mask.shape == (48, 40)


def _tiff(count, dtype="uint16", height=32, width=32):
    buffer = io.BytesIO()
    profile = {"driver": "GTiff", "width": width, "height": height, "count": count,
               "dtype": dtype, "crs": CRS, "transform": from_origin(0, 0, 10, 10)}  # fmt: skip
    with rasterio.open(buffer, "w", **profile) as dst:
        dst.write(np.ones((count, height, width), dtype))
    return buffer.getvalue()


def test_bad_uploads_get_4xx_that_say_what_was_expected(api, tmp_path):
    seg, raw = f"{api.url}/models/rgb-seg/segmentation", f"{api.url}/models/l2a-multi/segmentation"

    def post(url, data, field="image"):
        return requests.post(url, files={field: io.BytesIO(data)}, timeout=60)

    png = b"\x89PNG\r\n\x1a\n" + bytes(100)
    sparse = tmp_path / "huge.tif"
    with rasterio.open(sparse, "w", driver="GTiff", width=10000, height=10000, count=3,
                       dtype="uint8", tiled=True, sparse_ok=True, compress="deflate"):  # fmt: skip
        pass
    cases = [
        (seg, b"", 400, "the upload is empty"),
        (seg, png, 415, "is a PNG image; the API expects a 3-band red, green, blue GeoTIFF"),
        (seg, b"hello world", 415, "not a TIFF file"),
        (seg, _tiff(3, "uint8")[:300], 400, "damaged or unreadable GeoTIFF"),
        (seg, _tiff(1, "uint8"), 422, "has 1 bands; the model expects 3 (red, green, blue)"),
        (seg, _tiff(3, "uint16"), 422, "holds uint16 values; the model expects SCANEO RGB"),
        (raw, _tiff(5), 422, "cannot tell which bands the upload holds: it has 5 bands"),
        (raw, _tiff(4), 422, "lacks bands coastal"),
        (seg, sparse.read_bytes(), 413, "10000 x 10000 px, more than the server's limit"),
        (seg, b"II*\x00" + bytes((MAX_UPLOAD_MB + 1) * 2**20), 413, "over the server's limit"),
    ]
    for url, data, status, message in cases:
        response = post(url, data)
        assert response.status_code == status, (message, response.text)
        assert message in response.json()["detail"]
    missing = post(seg, _tiff(3, "uint8"), field="file")
    assert missing.status_code == 422 and "image" in missing.text
    assert requests.get(f"{api.url}/health", timeout=5).status_code == 200


def test_model_names_never_reach_a_path(api):
    body = {"image": io.BytesIO(_tiff(3, "uint8"))}
    for name in ("../../etc/passwd", "%2e%2e%2f", "..%2F..%2Fetc%2Fpasswd", "nope", "rgb-seg%00"):
        for kind in ("segmentation", "classification"):
            response = requests.post(f"{api.url}/models/{name}/{kind}", files=body, timeout=30)
            assert 400 <= response.status_code < 500, (name, response.status_code)
    wrong_task = requests.post(f"{api.url}/models/rgb-seg/classification", files=body, timeout=30)
    assert wrong_task.status_code == 404 and "no classification output" in wrong_task.text
    assert requests.get(f"{api.url}/health", timeout=5).status_code == 200


def test_cors_only_for_the_origins_given(models_dir):
    models = load_models(models_dir)
    headers = {"Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST"}
    closed = TestClient(create_app(models)).options("/models/rgb-seg/segmentation", headers=headers)
    assert "access-control-allow-origin" not in closed.headers
    app = create_app(models, cors_origins=["http://localhost:5173"])
    client = TestClient(app)
    opened = client.options("/models/rgb-seg/segmentation", headers=headers)
    assert opened.headers["access-control-allow-origin"] == "http://localhost:5173"
    other = client.options("/models", headers=headers | {"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_server_start_errors_are_clear(models_dir, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(PortInUseError, match=f"port {taken.getsockname()[1]} .* is in use"):
            InferenceServer(models_dir, port=taken.getsockname()[1]).start()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.json").write_text(json.dumps({"format": "eotdl-tutorials-model"}))
    with pytest.raises(
        ModelLoadError, match=r"(?s)cannot serve 1 model folder.*broken: .*format version None"
    ):
        load_models(tmp_path)
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_models(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="holds no classification, segmentation"):
        load_models(tmp_path / "empty")


def test_background_server_stops(models_dir):
    server = InferenceServer(models_dir).start()
    url = server.url
    assert requests.get(f"{url}/health", timeout=5).status_code == 200
    server.stop()
    assert not server.running
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/health", timeout=5)


def test_bench_api_reports_the_figures_it_measured(models_dir):
    result = bench_api(models_dir, "pixel-rgb", clients=2, seconds=2, size=128, bare_seconds=1)
    keys = {"clients", "seconds", "requests", "errors", "requests_per_s", "p50_ms", "p95_ms",
            "p99_ms", "bare_p50_ms", "overhead_p50"}  # fmt: skip
    assert keys <= set(result) and result["clients"] == 2 and result["errors"] == 0
    assert result["requests"] > 0 and result["p50_ms"] <= result["p95_ms"] <= result["p99_ms"]
    ratio = result["p50_ms"] / result["bare_p50_ms"]
    assert result["overhead_p50"] + 1 == pytest.approx(ratio, rel=0.05)
    assert 0 < result["server_start_s"] <= result["server_first_answer_s"]
    # the child server's own peak: more than an interpreter, and well under the 1.2 GiB the
    # server reached when it still imported torch and Lightning
    assert 30 < result["server_ready_peak_mib"] <= result["server_peak_mib"] < 1000


def test_a_child_process_reports_its_peak_memory():
    holds_200_mib = "import time; b = bytearray(200 * 2**20); time.sleep(60)"
    child = ChildProcess([sys.executable, "-c", holds_200_mib])
    try:
        for _ in range(100):
            peak = child.peak_memory_mib()
            if peak is not None and peak > 200:
                break
            time.sleep(0.05)
        assert 200 < peak < 400
    finally:
        child.stop()
    assert child.peak_memory_mib() is None


def test_resize_image_is_training_evaluations_resize():
    """The server resizes a classification upload in NumPy as training evaluation does in
    PyTorch (shrinking, enlarging, one axis each way), within float32 rounding."""
    values = np.random.default_rng(0).random((3, 48, 40), np.float32)
    for size in (32, 64, 48, 20):
        expected = resize_to(torch.from_numpy(values)[None], size)[0].numpy()
        np.testing.assert_allclose(resize_image(values, size), expected, atol=1e-5)
    square = values[:, :40]
    assert resize_image(square, 40) is square  # the model's size already: untouched


def _not_serving(modules):
    return sorted({name for name in modules if name.split(".")[0] in NOT_SERVING})


def test_importing_the_app_loads_no_torch_nor_matplotlib():
    code = "import sys, eotdl_tutorials.serving, eotdl_tutorials.serving.app; print(*sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ
    )
    modules = done.stdout.split()
    assert "onnxruntime" in modules and "fastapi" in modules
    assert _not_serving(modules) == []


def test_the_server_process_loads_no_torch_nor_matplotlib(models_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("PYTHONPROFILEIMPORTTIME", "1")  # the child lists every module it imports
    path, _ = l2a_scene(tmp_path / "scene.tif", 40, 40)
    with InferenceServer(models_dir, process=True) as server:
        classify_as_scaneo(
            f"{server.url}/models/rgb-cls/classification", scaneo_payload(path, "S2RGB")
        )
        segment_as_scaneo(f"{server.url}/models/l2a-multi/segmentation", scaneo_payload(path))
        output = server.server_output()
    modules = [
        line.split("|")[-1].strip()
        for line in output.splitlines()
        if line.startswith("import time:")
    ]
    assert "eotdl_tutorials.serving.app" in modules and "onnxruntime" in modules
    assert _not_serving(modules) == []
