"""The serving stage's commands: ``serve`` and ``bench api``."""

from __future__ import annotations

import argparse

from eotdl_tutorials.cli.common import JSON_HELP, BenchCommands, UserError, print_bench


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
    from eotdl_tutorials.serving.bench import bench_api, format_report

    result = bench_api(
        args.models, model=args.model, clients=args.clients, seconds=args.seconds,
        size=args.size, threads=args.threads,
    )  # fmt: skip
    print_bench("api", format_report(result), result, args.json)


def register(commands: argparse._SubParsersAction, bench_commands: BenchCommands) -> None:
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
