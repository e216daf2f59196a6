"""Run the inference API: in the foreground (the ``serve`` command) or in the background for a
notebook, a test or a benchmark (:class:`InferenceServer`: waits until ``/health`` answers,
stops on exit; a busy port is a clear error).

The server binds to 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import requests
import uvicorn

from eotdl_tutorials.processes import ChildProcess
from eotdl_tutorials.serving.app import DEFAULT_MAX_PIXELS, DEFAULT_MAX_UPLOAD_MB, create_app
from eotdl_tutorials.serving.registry import load_models
from eotdl_tutorials.stac.server import HOST, PortInUseError, check_port_free, free_port

DEFAULT_PORT = 8088


def _uvicorn_server(
    models_dir: str | os.PathLike[str],
    host: str,
    port: int,
    cors_origins: Sequence[str],
    max_upload_mb: float,
    max_pixels: int,
    threads: int,
) -> uvicorn.Server:
    app = create_app(load_models(models_dir, threads), cors_origins, max_upload_mb, max_pixels)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    return uvicorn.Server(config)


def serve(
    models_dir: str | os.PathLike[str],
    host: str = HOST,
    port: int = DEFAULT_PORT,
    cors_origins: Sequence[str] = (),
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    threads: int = 0,
) -> None:
    """Serve every model in ``models_dir`` until interrupted (Ctrl-C)."""
    if host == HOST:
        check_port_free(port)
    server = _uvicorn_server(
        models_dir, host, port, cors_origins, max_upload_mb, max_pixels, threads
    )
    if host != HOST:
        print(f"warning: listening on {host}, reachable from other machines", file=sys.stderr)
    print(f"inference API of {models_dir} at http://{host}:{port} (Ctrl-C to stop)", flush=True)
    server.run()


class InferenceServer:
    """The inference API over ``models_dir`` on 127.0.0.1, in the background.

    >>> with InferenceServer("models") as api:  # doctest: +SKIP
    ...     requests.get(f"{api.url}/models").json()

    ``port`` None picks a free port. ``process=False`` (default) runs uvicorn in a thread of
    this process (quick to start: the models are loaded here, and a model that fails to load
    raises here); ``process=True`` runs ``eotdl-tutorials serve`` as a child process (as
    deployed; used by the benchmark). Either way the server stops on ``stop()``, at the end of
    a ``with`` block, or when this Python process exits.
    """

    def __init__(
        self,
        models_dir: str | os.PathLike[str],
        port: int | None = None,
        cors_origins: Sequence[str] = (),
        max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        threads: int = 0,
        process: bool = False,
        startup_timeout_s: float = 300.0,
    ) -> None:
        self.models_dir = Path(models_dir)
        self.requested_port = port
        self.options = (tuple(cors_origins), max_upload_mb, max_pixels, threads)
        self.process = process
        self.startup_timeout_s = startup_timeout_s
        self.port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._child: ChildProcess | None = None

    @property
    def url(self) -> str:
        """The API's root URL, e.g. ``http://127.0.0.1:8088``."""
        if self.port is None:
            raise RuntimeError("the inference API is not running: call start() or use `with`")
        return f"http://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the server is up."""
        if self._child is not None:
            return self._child.running
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> InferenceServer:
        """Start the server and wait until ``GET /health`` answers."""
        if self.running:
            return self
        port = self.requested_port if self.requested_port is not None else free_port()
        check_port_free(port)
        self.port = port
        atexit.register(self.stop)
        try:
            self._launch_child(port) if self.process else self._launch_thread(port)
            self._wait_until_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def _launch_thread(self, port: int) -> None:
        self._server = _uvicorn_server(self.models_dir, HOST, port, *self.options)
        self._thread = threading.Thread(target=self._server.run, name="inference-api", daemon=True)
        self._thread.start()

    def _launch_child(self, port: int) -> None:
        cors, max_upload_mb, max_pixels, threads = self.options
        command = [
            sys.executable, "-m", "eotdl_tutorials.cli", "serve", str(self.models_dir),
            "--port", str(port), "--max-upload-mb", str(max_upload_mb),
            "--max-pixels", str(max_pixels), "--threads", str(threads),
        ]  # fmt: skip
        for origin in cors:
            command += ["--cors-origin", origin]
        self._child = ChildProcess(command)

    def peak_memory_mib(self) -> float | None:
        """A child server's peak resident memory so far (MiB); None for a server in a thread."""
        return self._child.peak_memory_mib() if self._child is not None else None

    def server_output(self) -> str:
        """What a child server printed so far."""
        return self._child.output() if self._child is not None else ""

    def _wait_until_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if not self.running:
                output = self.server_output()
                if "address already in use" in output.lower() or (
                    self._server is not None and not self._server.started
                    and not self.process and _port_taken(self.port or 0)
                ):  # fmt: skip
                    raise PortInUseError(self.port or 0)
                raise RuntimeError(f"the inference API stopped at start: {output or 'see above'}")
            try:
                if requests.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise TimeoutError(
            f"the inference API did not answer on {self.url}/health within "
            f"{self.startup_timeout_s:.0f} s; its output: {self.server_output() or 'none'}"
        )

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the server (idempotent)."""
        server, thread, self._server, self._thread = self._server, self._thread, None, None
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout_s)
        child, self._child = self._child, None
        if child is not None:
            child.stop(timeout_s)
        self.port = None
        atexit.unregister(self.stop)

    def __enter__(self) -> InferenceServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _port_taken(port: int) -> bool:
    try:
        check_port_free(port)
    except PortInUseError:
        return True
    return False
