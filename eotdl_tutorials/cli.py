"""The ``eotdl-tutorials`` command line: one subcommand per pipeline stage.

Each stage module is imported only when its subcommand runs, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence

from eotdl_tutorials import __version__


class UserError(Exception):
    """An error caused by the user's input: printed as one line, exit status 2."""


def _world_build(args: argparse.Namespace) -> None:
    from eotdl_tutorials.world import build_world

    build_world(args.out, profile=args.profile, seed=args.seed, progress=not args.quiet)


#: The --json option of every benchmark.
JSON_HELP = "write the figures here (default: $EOTDL_TUTORIALS_DATA/results/bench-NAME.json)"


def _stac_serve(args: argparse.Namespace) -> None:
    from eotdl_tutorials.stac import serve_forever

    serve_forever(args.world_dir, port=args.port, backend=args.backend)


def _bench_training(args: argparse.Namespace) -> None:
    from eotdl_tutorials.results import write_bench
    from eotdl_tutorials.training.benchmark import bench_training, format_report

    result = bench_training(
        args.store, sensor=args.sensor, batch_size=args.batch_size, steps=args.steps,
        repeats=args.repeats, accelerator=args.accelerator, num_workers=args.num_workers,
    )  # fmt: skip
    print(format_report(result))
    print("figures written to", write_bench("training", result, args.json))


def _bench_encoder(args: argparse.Namespace) -> None:
    from eotdl_tutorials.results import write_bench
    from eotdl_tutorials.training.benchmark import bench_encoder_step, format_encoder_step_report

    result = bench_encoder_step(
        args.arch, size=args.size, batch_size=args.batch_size, steps=args.steps
    )
    print(format_encoder_step_report(result))
    print("figures written to", write_bench("encoder", result, args.json))


def _match(args: argparse.Namespace) -> None:
    from eotdl_tutorials.matching import match
    from eotdl_tutorials.matching.cli import open_match_source

    buffers = {"sentinel-2-l2a": args.s2_buffer_days, "sentinel-1-grd": args.s1_buffer_days,
               "sentinel-1-rtc": args.s1_buffer_days}  # fmt: skip
    with open_match_source(args.source, args.world) as (footprints, source):
        if not (args.footprints or footprints):
            raise UserError("say which footprints to match: --footprints FILE, or --world FOLDER")
        result = match(
            args.footprints or footprints, source, args.collections, time_buffer_days=buffers,
            max_cloud_cover=None if args.max_cloud_cover < 0 else args.max_cloud_cover,
            scl_max_cloud=args.scl_max_cloud,
        )  # fmt: skip
    result.write(args.out)
    print(json.dumps(result.summary, indent=1))


def _tile(args: argparse.Namespace) -> None:
    from eotdl_tutorials.tiling import tile

    labels = args.labels or (os.path.join(args.world, "labels") if args.world else None)
    report = tile(
        args.matches, args.out, sensors=args.sensors, labels_dir=labels, workers=args.workers,
        max_nodata_percent=args.max_nodata_percent, max_cloud_percent=args.max_cloud_percent,
        progress=not args.quiet,
    )  # fmt: skip
    print(json.dumps(report.summary, indent=1))


def _bench_matching(args: argparse.Namespace) -> None:
    from eotdl_tutorials.matching.bench import bench_matching, format_report
    from eotdl_tutorials.results import write_bench

    result = bench_matching(
        args.world, footprints=args.footprints, baseline_footprints=args.baseline_footprints,
        dask_workers=args.dask_workers, progress=not args.quiet, backend=args.backend,
    )  # fmt: skip
    print(format_report(result))
    print("figures written to", write_bench("matching", result, args.json))


def _bench_tiling(args: argparse.Namespace) -> None:
    from eotdl_tutorials.results import write_bench
    from eotdl_tutorials.tiling.bench import bench_tiling, format_report

    result = bench_tiling(
        args.world, workers=args.workers, progress=not args.quiet, repeats=args.repeats
    )
    print(format_report(result))
    print("figures written to", write_bench("tiling", result, args.json))


def _superres(args: argparse.Namespace) -> None:
    from eotdl_tutorials.superres import superres_scene

    out = superres_scene(
        args.scene, args.model, args.out, factor=args.factor, tile=args.tile,
        overlap=args.overlap, batch=args.batch, device=args.device, progress=not args.quiet,
    )  # fmt: skip
    print(out)


def _bench_superres(args: argparse.Namespace) -> None:
    from eotdl_tutorials.results import write_bench
    from eotdl_tutorials.superres.bench import bench_superres, format_report

    result = bench_superres(
        model_dir=args.model, size=args.size, tile=args.tile, overlap=args.overlap,
        batch=args.batch, device=args.device, repeats=args.repeats,
    )  # fmt: skip
    print(format_report(result))
    print("figures written to", write_bench("superres", result, args.json))


def _add_superres_commands(
    commands: argparse._SubParsersAction, bench_commands: argparse._SubParsersAction
) -> None:
    """``superres`` and ``bench superres``."""
    sr = commands.add_parser(
        "superres",
        help="super-resolve a Sentinel-2 GeoTIFF (any size) with a trained model",
        description="Super-resolve SCENE by overlapping, blended tiles with the model folder "
        "--model (exported by notebook B2) and write a float32 reflectance GeoTIFF with the "
        "pixel size divided by the factor, the same CRS and extent; nodata stays nodata (NaN). "
        "Bands are found by their descriptions, else by count (12-band L2A, 13-band L1C).",
    )
    sr.add_argument("scene", help="a Sentinel-2 GeoTIFF")
    sr.add_argument("--model", required=True, help="model folder (model.json, model.pt)")
    sr.add_argument("--out", required=True, help="output GeoTIFF")
    sr.add_argument("--factor", type=int, help="upscaling factor (default: the model's)")
    sr.add_argument("--tile", type=int, default=128, help="tile size, input px (default: 128)")
    sr.add_argument("--overlap", type=int, default=16, help="tile overlap, px (default: 16)")
    sr.add_argument("--batch", type=int, default=8, help="tiles per batch (default: 8)")
    sr.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    sr.add_argument("--quiet", action="store_true", help="no progress bar")
    sr.set_defaults(run=_superres)

    bs = bench_commands.add_parser(
        "superres",
        help="whole-scene tiled super-resolution vs the bare model on the same pixels",
        description="Super-resolve a synthetic Sentinel-2 scene by blended tiles (read, tile, "
        "run, blend, write) and run the bare model on the same pixels (non-overlapping tiles "
        "in memory); print megapixels per second of both and the tiling overhead.",
    )
    bs.add_argument("--model", help="model folder (default: an untrained 2x ESRT)")
    bs.add_argument("--size", type=int, default=720, help="scene side, 10 m px (default: 720)")
    bs.add_argument("--tile", type=int, default=128, help="tile size (default: 128)")
    bs.add_argument("--overlap", type=int, default=8, help="tile overlap (default: 8)")
    bs.add_argument("--batch", type=int, default=8, help="tiles per batch (default: 8)")
    bs.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    bs.add_argument("--repeats", type=int, default=2, help="runs of each; best kept (default: 2)")
    bs.add_argument("--json", help=JSON_HELP)
    bs.set_defaults(run=_bench_superres)


def _serve(args: argparse.Namespace) -> None:
    from eotdl_tutorials.serving import ModelLoadError, serve

    limits = {"port": args.port, "max_upload_mb": args.max_upload_mb, "max_pixels": args.max_pixels}
    try:
        serve(
            args.models_dir, host=args.host, cors_origins=args.cors_origin, threads=args.threads,
            **{key: value for key, value in limits.items() if value is not None},
        )  # fmt: skip
    except ModelLoadError as err:
        raise UserError(str(err)) from None


def _bench_api(args: argparse.Namespace) -> None:
    from eotdl_tutorials.results import write_bench
    from eotdl_tutorials.serving.bench import bench_api, format_report

    result = bench_api(
        args.models, model=args.model, clients=args.clients, seconds=args.seconds,
        size=args.size, threads=args.threads,
    )  # fmt: skip
    print(format_report(result))
    print("figures written to", write_bench("api", result, args.json))


def _add_serving_commands(
    commands: argparse._SubParsersAction, bench_commands: argparse._SubParsersAction
) -> None:
    """``serve`` and ``bench api`` (defaults of the limits: see ``eotdl_tutorials.serving``)."""
    serve = commands.add_parser(
        "serve",
        help="the inference API SCANEO calls (FastAPI + ONNX Runtime, 127.0.0.1)",
        description="Serve every exported model in MODELS_DIR: POST /models/NAME/classification "
        "and /models/NAME/segmentation (multipart field `image`, a GeoTIFF), GET /models, "
        "GET /health. Runs until interrupted (Ctrl-C).",
    )
    serve.add_argument("models_dir", help="a folder of exported model folders")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, help="TCP port (default: 8088)")
    serve.add_argument(
        "--cors-origin", action="append", default=[], metavar="URL",
        help="allow browser requests from this origin (repeatable; default: none)",
    )  # fmt: skip
    serve.add_argument(
        "--max-upload-mb", type=float, help="largest upload in MiB (default: 256)",
    )  # fmt: skip
    serve.add_argument(
        "--max-pixels", type=int, help="largest image in pixels (default: 8192 x 8192)",
    )  # fmt: skip
    serve.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads (0: auto)")
    serve.set_defaults(run=_serve)

    api = bench_commands.add_parser(
        "api",
        help="the inference API under concurrent clients vs the bare ONNX Runtime model",
        description="Concurrent clients POST 512 px GeoTIFFs to a segmentation model over real "
        "HTTP on 127.0.0.1; the same tiles go through the bare ONNX Runtime session with as "
        "many callers. Prints requests/s, p50/p95/p99 latency, errors and the API's overhead.",
    )
    api.add_argument("--models", help="models folder (default: a U-Net with random weights)")
    api.add_argument("--model", help="the segmentation model to serve (default: the first)")
    api.add_argument("--clients", type=int, default=8, help="concurrent clients (default: 8)")
    api.add_argument("--seconds", type=float, default=30.0, help="duration (default: 30)")
    api.add_argument("--size", type=int, default=512, help="upload size in px (default: 512)")
    api.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads (0: auto)")
    api.add_argument("--json", help=JSON_HELP)
    api.set_defaults(run=_bench_api)


def _add_matching_commands(
    commands: argparse._SubParsersAction, bench_commands: argparse._SubParsersAction
) -> None:
    """``match``, ``tile``, ``bench matching`` and ``bench tiling``."""
    m = commands.add_parser(
        "match",
        help="match high-resolution footprints with Sentinel-2/-1 scenes",
        description="Fetch each collection's scenes once for the footprints' area and period, "
        "join them with every footprint (the scene must contain the footprint's window, within "
        "the time window and cloud limit) and write matches.parquet (best match per footprint "
        "and collection), candidates.parquet (all, ranked by time distance), scenes.parquet and "
        "match.json into --out.",
    )
    m.add_argument(
        "--world",
        help="a sample world: its EarthView index is the default "
        "--footprints and, without --source, a local STAC API over it is started",
    )
    m.add_argument(
        "--footprints",
        help="geoparquet of footprints: id, geometry, datetime, or "
        "the EarthView index columns (json_path, zone, region, date, geometry)",
    )
    m.add_argument(
        "--source",
        help="STAC API URL (e.g. https://earth-search.aws.element84.com/v1)"
        ", or a stac-geoparquet / JSON file of items",
    )
    m.add_argument("--out", required=True, help="folder to write the matches into")
    m.add_argument(
        "--collections",
        nargs="+",
        default=["sentinel-2-l2a", "sentinel-1-grd"],
        help="collections to match (default: sentinel-2-l2a sentinel-1-grd)",
    )
    m.add_argument(
        "--s2-buffer-days",
        type=float,
        default=30.0,
        help="total width of the "
        "Sentinel-2 time window in days, centred on the footprint (default: 30, +-15)",
    )
    m.add_argument(
        "--s1-buffer-days",
        type=float,
        default=6.0,
        help="total width of the Sentinel-1 time window in days (default: 6, +-3)",
    )
    m.add_argument(
        "--max-cloud-cover",
        type=float,
        default=5.0,
        help="largest eo:cloud_cover "
        "(percent) of a Sentinel-2 scene; negative: no limit (default: 5)",
    )
    m.add_argument(
        "--scl-max-cloud",
        type=float,
        help="also require at most this percentage "
        "of SCL cloud pixels inside the window (reads the scl COGs; default: off)",
    )
    m.set_defaults(run=_match)

    t = commands.add_parser(
        "tile",
        help="cut co-registered chips of matched footprints into a chip store",
        description="Read each matched footprint's 1 m tile and its window in the best S2 and S1 "
        "scenes (windowed reads grouped by scene, in parallel processes), write GeoTIFF chips "
        "and the packed chip store ({sensor}.npy, index.parquet, meta.json, report.parquet). "
        "Chips already written for the same scene are reused: an interrupted run resumes.",
    )
    t.add_argument("matches", help="folder written by `eotdl-tutorials match`")
    t.add_argument("--out", required=True, help="chip store folder")
    t.add_argument("--world", help="sample world whose labels/ give the index's labels")
    t.add_argument("--labels", help="labels folder (landcover/{id}.tif); default: WORLD/labels")
    t.add_argument(
        "--sensors",
        nargs="+",
        default=["hr", "s2", "s1"],
        help="sensors to cut (default: hr s2 s1)",
    )
    t.add_argument("--workers", type=int, default=2, help="processes (default: 2)")
    t.add_argument(
        "--max-nodata-percent",
        type=float,
        default=0.0,
        help="skip chips with more no-data pixels than this percentage (default: 0)",
    )
    t.add_argument(
        "--max-cloud-percent",
        type=float,
        help="skip S2 chips with more SCL cloud than this percentage (default: off)",
    )
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(run=_tile)

    bm = bench_commands.add_parser(
        "matching",
        help="vectorised matching vs one STAC search per footprint, same local API",
        description="Match every footprint of a sample world (e.g. the large profile's 1M) "
        "through a local STAC API, then the same sample of footprints both ways (fast path and "
        "per-footprint baseline, fully run, not extrapolated); print seconds, peak memory, "
        "requests, the speed-up and whether the matches are identical, and how long the API "
        "alone takes to send the fast path's items (so the best speed-up any client could "
        "reach on this API).",
    )
    bm.add_argument("--world", required=True, help="sample world folder (e.g. profile large)")
    bm.add_argument(
        "--footprints",
        type=int,
        help="match a random sample of this many footprints instead of all",
    )
    bm.add_argument(
        "--baseline-footprints",
        type=int,
        default=2000,
        help="footprints matched both ways (default: 2000)",
    )
    bm.add_argument(
        "--dask-workers",
        type=int,
        default=0,
        help="run the join on a local Dask "
        "cluster of this many processes (default: 0, in this process)",
    )
    bm.add_argument(
        "--backend",
        choices=["rustac", "pgstac"],
        default="rustac",
        help="the local STAC API: rustac (in memory, no server-side filters) or pgstac "
        "(PostgreSQL under the data folder, with filter and fields; default: rustac)",
    )
    bm.add_argument("--json", help=JSON_HELP)
    bm.add_argument("--quiet", action="store_true", help="no progress bar")
    bm.set_defaults(run=_bench_matching)

    bt = bench_commands.add_parser(
        "tiling",
        help="the tiler vs plain rasterio windowed reads of the same windows",
        description="Match a sample world's footprints, then time plain windowed reads of every "
        "chip's windows (files kept open; and opened per window) and the tiler (reads, checks, "
        "GeoTIFF chips, packing, labels) in the same run; print chips/s and the ratio.",
    )
    bt.add_argument("--world", required=True, help="sample world folder with imagery")
    bt.add_argument("--workers", type=int, default=2, help="processes (default: 2)")
    bt.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="runs of raw reads and of the tiler, alternating; the best of each is kept "
        "(default: 3)",
    )
    bt.add_argument("--json", help=JSON_HELP)
    bt.add_argument("--quiet", action="store_true", help="no progress bar")
    bt.set_defaults(run=_bench_tiling)


def _roads_predict(args: argparse.Namespace) -> None:
    from eotdl_tutorials.roads import predict_scene

    result = predict_scene(
        args.scene, args.model, args.out, threshold=args.threshold, tile=args.tile,
        overlap=args.overlap, device=None if args.device == "auto" else args.device,
        progress=not args.quiet,
    )  # fmt: skip
    print(
        f"{result.probability}\n{result.roads}: {result.road_lines} road lines, "
        f"{result.road_km} km (bands matched by {result.band_mapping}"
        f"{'; predicted on a 10 m UTM grid and warped back' if result.warped else ''})"
    )


def _add_roads_commands(commands: argparse._SubParsersAction) -> None:
    """``roads predict``: use case D's whole-scene road extraction."""
    roads = commands.add_parser("roads", help="use case D: road extraction on Sentinel-2")
    road_commands = roads.add_subparsers(dest="roads_command", metavar="ACTION", required=True)
    predict = road_commands.add_parser(
        "predict",
        help="predict roads over a Sentinel-2 GeoTIFF with a saved road model",
        description="Predict a whole Sentinel-2 GeoTIFF in overlapping tiles; write "
        "PREFIX_probability.tif (road probability on the scene's grid, no-data kept) and "
        "PREFIX_roads.geojson (simplified centre lines, EPSG:4326). Bands are matched by their "
        "descriptions or a known layout (12-band L2A); a scene in another CRS or pixel size is "
        "warped to 10 m UTM and back. Nothing is written when it fails.",
    )
    predict.add_argument("scene", help="a Sentinel-2 GeoTIFF")
    predict.add_argument("--model", required=True, help="a road model folder")
    predict.add_argument("--out", required=True, help="prefix of the two output files")
    predict.add_argument("--threshold", type=float, default=0.5, help="road if p >= (0.5)")
    predict.add_argument("--tile", type=int, default=128, help="tile size in px (default: 128)")
    predict.add_argument("--overlap", type=int, default=32, help="tile overlap in px (32)")
    predict.add_argument("--device", default="auto", help="auto, cpu or cuda")
    predict.add_argument("--quiet", action="store_true", help="no progress bar")
    predict.set_defaults(run=_roads_predict)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="eotdl-tutorials",
        description="Deep learning on Earth-observation data, offline: the course's tools.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    world = commands.add_parser("world", help="the procedural sample world")
    world_commands = world.add_subparsers(dest="world_command", metavar="ACTION", required=True)
    build = world_commands.add_parser(
        "build",
        help="render the sample world (COGs, STAC items, indexes)",
        description="Render the sample world into a folder. Same seed, same bytes; rebuilding a "
        "complete world is a no-op and an interrupted build resumes.",
    )
    build.add_argument(
        "--profile",
        choices=["ci", "default", "large"],
        default="ci",
        help="size: ci (seconds, <500 MB), default (minutes, <5 GB), large (1M footprints "
        "described in geoparquet, imagery rendered on demand); default: ci",
    )
    build.add_argument("--out", required=True, help="folder to write the world into")
    build.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    build.add_argument("--quiet", action="store_true", help="no progress bar")
    build.set_defaults(run=_world_build)

    stac = commands.add_parser("stac", help="STAC tools")
    stac_commands = stac.add_subparsers(dest="stac_command", metavar="ACTION", required=True)
    serve = stac_commands.add_parser(
        "serve",
        help="serve a world's STAC items as a local STAC API (rustac or pgstac, 127.0.0.1)",
        description="Serve the STAC collections and items of a built world on 127.0.0.1 until "
        "interrupted (Ctrl-C): with `rustac serve` (in memory), or with stac-fastapi-pgstac over "
        "a private PostgreSQL cluster in DATA/pgstac (started and stopped with the command).",
    )
    serve.add_argument("world_dir", help="a folder made by `eotdl-tutorials world build`")
    serve.add_argument("--port", type=int, default=7822, help="TCP port (default: 7822)")
    serve.add_argument(
        "--backend",
        choices=["rustac", "pgstac"],
        default="rustac",
        help="rustac (in memory, zero set-up) or pgstac (a private PostgreSQL cluster under the "
        "data folder, loaded once, served by stac-fastapi-pgstac; needs PostGIS) "
        "(default: rustac)",
    )
    serve.set_defaults(run=_stac_serve)

    # `bench` group: each benchmark adds its own subparser to `bench_commands`.
    bench = commands.add_parser("bench", help="benchmarks with a baseline measured in the same run")
    bench_commands = bench.add_subparsers(dest="bench_command", metavar="BENCHMARK", required=True)
    training = bench_commands.add_parser(
        "training",
        help="the Lightning training helpers vs a bare PyTorch loop, and the data pipeline",
        description="Train the same classifier on the same chips with the course's Lightning "
        "helpers and with a bare PyTorch loop; print samples/s, the helpers' overhead and how "
        "much faster the data pipeline alone is than the model.",
    )
    training.add_argument("--store", help="chip store folder (default: a synthetic store)")
    training.add_argument("--sensor", default="s2", help="sensor to train on (default: s2)")
    training.add_argument("--batch-size", type=int, default=64, help="default: 64")
    training.add_argument("--steps", type=int, default=30, help="timed steps (default: 30)")
    training.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="runs of each loop, alternating; the best of each is kept (default: 3)",
    )
    training.add_argument("--accelerator", default="auto", help="auto, cpu or cuda")
    training.add_argument("--num-workers", type=int, default=0, help="loader workers")
    training.add_argument("--json", help=JSON_HELP)
    training.set_defaults(run=_bench_training)
    encoder = bench_commands.add_parser(
        "encoder",
        help="CPU training step of the encoder: timm's ResNet against the course's",
        description="Time a CPU training step of a ResNet at the ci/default view size as timm "
        "builds it, with eotdl_tutorials.models.speed_up_small_convolutions, and also "
        "channels-last (the course's SensorEncoder); same weights, same batch. Print the "
        "steps, their speed-up over timm's and the gradient difference.",
    )
    encoder.add_argument("--arch", default="resnet18", help="timm architecture (default: resnet18)")
    encoder.add_argument("--size", type=int, default=24, help="input size in px (default: 24)")
    encoder.add_argument("--batch-size", type=int, default=64, help="default: 64")
    encoder.add_argument("--steps", type=int, default=10, help="timed steps (default: 10)")
    encoder.add_argument("--json", help=JSON_HELP)
    encoder.set_defaults(run=_bench_encoder)
    _add_matching_commands(commands, bench_commands)
    _add_superres_commands(commands, bench_commands)
    _add_serving_commands(commands, bench_commands)
    _add_roads_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], None] | None = getattr(args, "run", None)
    if run is None:
        parser.print_help()
        return 0
    try:
        run(args)
    except (UserError, ValueError, OSError) as err:
        print(f"eotdl-tutorials: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("eotdl-tutorials: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
