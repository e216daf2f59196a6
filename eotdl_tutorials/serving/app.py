"""The inference API SCANEO calls: FastAPI over ONNX Runtime.

- ``GET /health``; ``GET /models``: each model's task, bands, inputs, normalisation, classes and
  output indices, and the SCANEO preprocessing it expects;
- ``POST /models/{name}/classification``: multipart field ``image`` (a GeoTIFF) -> a JSON list
  of per-class scores in output-index order;
- ``POST /models/{name}/segmentation``: -> a single-band uint8 GeoTIFF of class indices
  (0 = no label, classes from 1) with the upload's CRS, transform, width and height.

Bad uploads answer 4xx with a message; uploads over the size limit answer 413 before their body
is read when they declare their length.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI, File, UploadFile
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from eotdl_tutorials import __version__
from eotdl_tutorials.serving.predict import BadUpload, classify, mask_geotiff, read_upload, segment
from eotdl_tutorials.serving.registry import ServedModel

#: Default limits: upload size (bytes) and image size (pixels).
DEFAULT_MAX_UPLOAD_MB = 256
DEFAULT_MAX_PIXELS = 8192 * 8192
#: Room for the multipart envelope around the image in a declared request length.
_ENVELOPE_BYTES = 64 * 1024


class _DeclaredSizeLimit:
    """Answer 413 to a request whose declared Content-Length exceeds the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            declared = dict(scope["headers"]).get(b"content-length", b"0")
            if declared.isdigit() and int(declared) > self.max_bytes + _ENVELOPE_BYTES:
                response = JSONResponse(
                    {"detail": _too_large(int(declared), self.max_bytes)}, status_code=413
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _too_large(size: int, max_bytes: int) -> str:
    return (
        f"the upload has {size / 2**20:.1f} MiB, over the server's limit of "
        f"{max_bytes / 2**20:.1f} MiB (eotdl-tutorials serve --max-upload-mb): send a smaller "
        "window"
    )


def create_app(
    models: dict[str, ServedModel],
    cors_origins: Sequence[str] = (),
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> FastAPI:
    """The API over ``models`` (from :func:`~eotdl_tutorials.serving.load_models`).

    CORS is allowed only for ``cors_origins`` (none by default).
    """
    max_bytes = int(max_upload_mb * 2**20)
    app = FastAPI(title="eotdl-tutorials inference API", version=__version__)
    if cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST"]
        )
    app.add_middleware(_DeclaredSizeLimit, max_bytes=max_bytes)

    @app.exception_handler(BadUpload)
    async def bad_upload(_request: object, err: BadUpload) -> JSONResponse:
        return JSONResponse({"detail": str(err)}, status_code=err.status)

    def served(name: str, kind: str) -> ServedModel:
        model = models.get(name)
        if model is None:
            raise BadUpload(404, f"no model named {name!r}; this server has: {', '.join(models)}")
        if kind not in model.card.endpoints:
            raise BadUpload(
                404, f"model {name!r} is a {model.card.task} model: it has no {kind} output"
            )
        return model

    def upload_bytes(image: UploadFile) -> bytes:
        data = image.file.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise BadUpload(413, _too_large(len(data), max_bytes))
        return data

    @app.get("/health")
    def health() -> dict[str, object]:
        return {"status": "ok", "models": len(models)}

    @app.get("/models")
    def list_models() -> list[dict[str, object]]:
        return [model.describe() for model in models.values()]

    @app.post("/models/{name}/classification")
    def classification(name: str, image: UploadFile = File(...)) -> list[float]:  # noqa: B008
        model = served(name, "classification")
        upload = read_upload(upload_bytes(image), model.card, max_pixels)
        return classify(model.session, model.card, upload.values)

    @app.post("/models/{name}/segmentation")
    def segmentation(name: str, image: UploadFile = File(...)) -> Response:  # noqa: B008
        model = served(name, "segmentation")
        upload = read_upload(upload_bytes(image), model.card, max_pixels)
        mask = segment(model.session, model.card, upload.values)
        return Response(mask_geotiff(mask, upload.crs, upload.transform), media_type="image/tiff")

    return app
