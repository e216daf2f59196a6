"""``bench api``: the inference API under concurrent SCANEO-shaped requests over real HTTP on
127.0.0.1, against the same model's bare ONNX Runtime time on the same tiles.

Both are measured with the same number of concurrent callers (threads) sharing one session
configured as the server's, so ``overhead_p50`` (API p50 latency over bare p50, minus 1) is what
HTTP, multipart, GeoTIFF decoding and encoding, band mapping, normalisation and the argmax add.
It also times the server's start (``eotdl-tutorials serve`` launched as a child process, until
``/health`` answers and until the first segmentation comes back) and reads its peak resident
memory (Linux) once it answered and again after the load, the figures the README points to.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import requests
import torch
from rasterio.io import MemoryFile
from rasterio.transform import from_origin

from eotdl_tutorials.models import ModelCard, onnx_session, z_score
from eotdl_tutorials.models.export import Builder, export_model
from eotdl_tutorials.serving.predict import read_upload
from eotdl_tutorials.serving.registry import load_models
from eotdl_tutorials.serving.server import InferenceServer

#: Tiles the clients take turns sending.
BENCH_TILES = 4
BENCH_CLASSES = ("water", "forest", "urban")


def bench_model(folder: str | os.PathLike[str]) -> Path:
    """Export the benchmark's default model into ``folder``: a U-Net (ResNet-18 encoder, random
    weights) on RGB in SCANEO's S2RGB preprocessing, 3 classes."""
    builder = Builder(
        "segmentation_models_pytorch:Unet",
        {"encoder_name": "resnet18", "encoder_weights": None, "in_channels": 3,
         "classes": len(BENCH_CLASSES) + 1},
    )  # fmt: skip
    card = ModelCard(
        "bench-unet-resnet18", "segmentation", "unet-resnet18", ("red", "green", "blue"),
        input_size=512, units="scaneo-rgb", normalisation=z_score([0.3] * 3, [0.2] * 3),
        multiple=32, classes=BENCH_CLASSES, preprocessing="S2RGB",
        description="random weights: the benchmark's stand-in for a trained segmentation model",
    )  # fmt: skip
    torch.manual_seed(0)
    return export_model(builder.build(), Path(folder) / card.name, card, builder).model_dir


def bench_tiles(card: ModelCard, size: int, count: int = BENCH_TILES, seed: int = 0) -> list[bytes]:
    """``count`` GeoTIFF uploads of ``size`` px the model takes (smooth random images)."""
    rng = np.random.default_rng(seed)
    tiles = []
    for _ in range(count):
        coarse = rng.uniform(0, 1, (len(card.bands), size // 16 + 1, size // 16 + 1))
        image = np.kron(coarse, np.ones((16, 16)))[:, :size, :size]
        if card.preprocessing != "none":
            pixels, dtype = (image * 255).astype(np.uint8), "uint8"
        else:
            pixels, dtype = (image * 0.4).astype(np.float32), "float32"
        profile = {
            "driver": "GTiff", "width": size, "height": size, "count": len(card.bands),
            "dtype": dtype, "crs": "EPSG:32631", "transform": from_origin(500000, 4600000, 10, 10),
        }  # fmt: skip
        with MemoryFile() as memory:
            with memory.open(**profile) as dataset:
                dataset.write(pixels)
                if card.preprocessing == "none":
                    dataset.descriptions = card.bands
            tiles.append(bytes(memory.read()))
    return tiles


def _concurrently(
    clients: int, seconds: float, call: Callable[[int, int], bool]
) -> tuple[list[float], int, float]:
    """Run ``call(client, request_number)`` from ``clients`` threads for ``seconds``: latencies
    (s) of the successful calls, the number of errors and the elapsed time."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    start = time.perf_counter()
    deadline = start + seconds

    def worker(client: int) -> None:
        number = 0
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            try:
                ok = call(client, number)
            except Exception:  # a benchmark counts failures, whatever they are
                ok = False
            if ok:
                latencies[client].append(time.perf_counter() - began)
            else:
                errors[client] += 1
            number += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [t for client in latencies for t in client], sum(errors), time.perf_counter() - start


def _percentile_ms(latencies: list[float], q: float) -> float:
    return float(np.percentile(latencies, q) * 1000) if latencies else float("nan")


def bench_api(
    models_dir: str | os.PathLike[str] | None = None,
    model: str | None = None,
    clients: int = 8,
    seconds: float = 30.0,
    size: int = 512,
    bare_seconds: float | None = None,
    threads: int = 0,
) -> dict[str, Any]:
    """Measure the API and the bare model (see the module docstring).

    ``models_dir``/``model``: the segmentation model to serve (default: :func:`bench_model` in
    a temporary folder); ``bare_seconds`` defaults to a third of ``seconds`` (at least 5 s);
    ``threads``: ONNX Runtime intra-op threads, as ``serve --threads``.
    """
    with tempfile.TemporaryDirectory(prefix="bench-api-") as scratch:
        if models_dir is None:
            models_dir, model = scratch, bench_model(scratch).name
        served = {
            name: entry
            for name, entry in load_models(models_dir, threads).items()
            if "segmentation" in entry.card.endpoints
        }
        if not served or (model is not None and model not in served):
            raise ValueError(
                f"{models_dir} has no segmentation model {model or ''}; it has: "
                f"{', '.join(served) or 'none'}"
            )
        name = model or next(iter(served))
        card = served[name].card
        tiles = bench_tiles(card, size)
        session = onnx_session(Path(models_dir) / name, threads)
        inputs = [
            card.normalise(read_upload(tile, card, size * size).values)[None] for tile in tiles
        ]

        def bare(client: int, number: int) -> bool:
            session.run(["segmentation"], {"input": inputs[(client + number) % len(inputs)]})
            return True

        bare_time = max(5.0, seconds / 3) if bare_seconds is None else bare_seconds
        bare_latencies, bare_errors, bare_elapsed = _concurrently(clients, bare_time, bare)

        launched = time.perf_counter()
        with InferenceServer(models_dir, threads=threads, process=True) as api:
            start_s = time.perf_counter() - launched
            url = f"{api.url}/models/{name}/segmentation"
            sessions = [requests.Session() for _ in range(clients)]
            first = sessions[0].post(url, files={"image": tiles[0]}, timeout=300)
            first_answer_s = time.perf_counter() - launched
            ready_mib = api.peak_memory_mib()
            with MemoryFile(first.content) as memory, memory.open() as dataset:
                if first.status_code != 200 or (dataset.height, dataset.width) != (size, size):
                    raise RuntimeError(f"the API's first answer is wrong: {first.status_code}")

            def api_call(client: int, number: int) -> bool:
                tile = tiles[(client + number) % len(tiles)]
                response = sessions[client].post(url, files={"image": tile}, timeout=300)
                return response.status_code == 200 and response.content[:2] in (b"II", b"MM")

            latencies, errors, elapsed = _concurrently(clients, seconds, api_call)
            peak_mib = api.peak_memory_mib()
    p50, bare_p50 = _percentile_ms(latencies, 50), _percentile_ms(bare_latencies, 50)
    return {
        "model": name,
        "size": size,
        "clients": clients,
        "seconds": round(elapsed, 2),
        "requests": len(latencies) + errors,
        "errors": errors,
        "requests_per_s": round(len(latencies) / elapsed, 2),
        "p50_ms": round(p50, 3),
        "p95_ms": round(_percentile_ms(latencies, 95), 3),
        "p99_ms": round(_percentile_ms(latencies, 99), 3),
        "bare_seconds": round(bare_elapsed, 2),
        "bare_requests": len(bare_latencies) + bare_errors,
        "bare_requests_per_s": round(len(bare_latencies) / bare_elapsed, 2),
        "bare_p50_ms": round(bare_p50, 3),
        "bare_mean_ms": round(statistics.fmean(bare_latencies) * 1000, 3),
        "overhead_p50": round(p50 / bare_p50 - 1, 3),
        "server_start_s": round(start_s, 2),
        "server_first_answer_s": round(first_answer_s, 2),
        "server_ready_peak_mib": None if ready_mib is None else round(ready_mib, 1),
        "server_peak_mib": None if peak_mib is None else round(peak_mib, 1),
        "cpu_count": os.cpu_count(),
        "onnxruntime_threads": threads,
    }


def format_report(result: dict[str, Any]) -> str:
    """The benchmark as a readable table."""
    rows = [
        ("model (upload px)", f"{result['model']} ({result['size']})"),
        ("clients x seconds", f"{result['clients']} x {result['seconds']:.1f}"),
        ("requests (errors)", f"{result['requests']} ({result['errors']})"),
        ("requests/s", f"{result['requests_per_s']:.2f}"),
        ("latency p50 / p95 / p99 ms",
         f"{result['p50_ms']:.1f} / {result['p95_ms']:.1f} / {result['p99_ms']:.1f}"),
        ("bare ONNX Runtime p50 ms", f"{result['bare_p50_ms']:.1f} "
         f"({result['bare_requests_per_s']:.2f} runs/s, same {result['clients']} callers)"),
        ("API overhead at p50", f"{result['overhead_p50']:.1%}"),
        ("server start / first answer s",
         f"{result['server_start_s']:.2f} / {result['server_first_answer_s']:.2f}"),
        ("server peak memory MiB: ready / under load",
         "n/a" if result["server_peak_mib"] is None
         else f"{result['server_ready_peak_mib']:.0f} / {result['server_peak_mib']:.0f}"),
    ]  # fmt: skip
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)
