"""The superres stage's commands: ``superres`` and ``bench superres``."""

from __future__ import annotations

import argparse

from eotdl_tutorials.cli.common import JSON_HELP, BenchCommands, print_bench


def _superres(args: argparse.Namespace) -> None:
    from eotdl_tutorials.superres import superres_scene

    out = superres_scene(
        args.scene, args.model, args.out, factor=args.factor, tile=args.tile,
        overlap=args.overlap, batch=args.batch, device=args.device, progress=not args.quiet,
    )  # fmt: skip
    print(out)


def _bench_superres(args: argparse.Namespace) -> None:
    from eotdl_tutorials.superres.bench import bench_superres, format_report

    result = bench_superres(
        model_dir=args.model, size=args.size, tile=args.tile, overlap=args.overlap,
        batch=args.batch, device=args.device, repeats=args.repeats,
    )  # fmt: skip
    print_bench("superres", format_report(result), result, args.json)


def register(commands: argparse._SubParsersAction, bench_commands: BenchCommands) -> None:
    """``superres`` and ``bench superres``."""
    sr = commands.add_parser(
        "superres",
        help="super-resolve a Sentinel-2 GeoTIFF (any size) with a trained model",
        description="Super-resolve SCENE by overlapping, blended tiles with the model folder "
        "--model (exported by notebook B2, or by B3 as models/superres-best-x2-PROFILE: the "
        "training regime that does best on real pairs) and write a float32 reflectance "
        "GeoTIFF with the pixel size divided by the factor, the same CRS and extent; nodata "
        "stays nodata (NaN). "
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
