"""A local STAC API over a sample world's STAC files on 127.0.0.1, with one of two backends.

- ``rustac`` (the default, zero set-up): ``rustac serve`` keeps every item in memory
  (``--use-duckdb false``: the DuckDB backend would try to download its spatial extension, which
  fails offline). It implements item search with ``bbox``, ``datetime``, ``collections``,
  ``ids`` and ``limit`` over POST; no ``query``, ``filter``, ``fields`` nor ``sortby``, so cloud
  filters run on the client (see :mod:`eotdl_tutorials.stac.sources`).
- ``pgstac``: the items in pgstac, in a private PostgreSQL cluster under the data folder
  (:mod:`eotdl_tutorials.stac.pgstac`), served by stac-fastapi-pgstac with uvicorn: GET and
  POST search with ``query``, ``filter`` (CQL2), ``fields`` and ``sortby``, as the Planetary
  Computer's API.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Literal

from eotdl_tutorials import data_dir
from eotdl_tutorials.processes import ChildProcess

if TYPE_CHECKING:
    from eotdl_tutorials.stac.pgstac import PgCluster

HOST = "127.0.0.1"
DEFAULT_PORT = 7822
#: The STAC API servers :class:`LocalStacApi` can run.
BACKENDS = ("rustac", "pgstac")
Backend = Literal["rustac", "pgstac"]
#: Tries at starting on a port picked at random, in case another program takes it meanwhile.
_FREE_PORT_TRIES = 3


class PortInUseError(OSError):
    """The TCP port asked for is already taken on 127.0.0.1."""

    def __init__(self, port: int) -> None:
        super().__init__(
            f"port {port} on {HOST} is in use: pass another port (e.g. --port {port + 1}), "
            "or stop the program that holds it"
        )
        self.port = port


def rustac_executable() -> Path:
    """The ``rustac`` command line installed with the rustac Python package."""
    beside_python = Path(sys.executable).parent / "rustac"
    if beside_python.is_file():
        return beside_python
    found = shutil.which("rustac")
    if found is None:
        raise FileNotFoundError(
            f"the `rustac` command is missing (looked in {beside_python.parent} and on PATH): "
            "install it with `pip install rustac`"
        )
    return Path(found)


def world_stac_hrefs(world_dir: str | os.PathLike[str]) -> list[Path]:
    """The collection and item-collection files of a sample world (``W/stac/...``)."""
    stac_dir = Path(world_dir) / "stac"
    if not stac_dir.is_dir():
        raise FileNotFoundError(
            f"{world_dir} is not a sample world (it has no stac/ folder): run "
            f"`eotdl-tutorials world build --out {world_dir}` first"
        )
    hrefs = sorted((stac_dir / "collections").glob("*.json")) + sorted(
        (stac_dir / "items").glob("*.json")
    )
    if not hrefs:
        raise FileNotFoundError(
            f"{stac_dir} holds no collections/*.json nor items/*.json: rebuild the world with "
            "`eotdl-tutorials world build`"
        )
    return hrefs


def check_port_free(port: int) -> None:
    """Raise :class:`PortInUseError` if a program listens on ``127.0.0.1:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            raise PortInUseError(port) from None


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class LocalStacApi:
    """A STAC API over a world's STAC files (or explicit hrefs) on 127.0.0.1.

    >>> with LocalStacApi("data/world") as api:  # doctest: +SKIP
    ...     Client.open(api.url)

    ``source`` is a sample world folder, or a list of STAC collection / item collection files.
    ``port`` None or 0 picks a free port. ``backend`` is ``"rustac"`` (in memory) or
    ``"pgstac"`` (PostgreSQL, in ``cluster_dir``, by default ``data_dir()/"pgstac"``; the
    first start loads the items, later ones reuse them while the files are unchanged).
    """

    def __init__(
        self,
        source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        port: int | None = None,
        startup_timeout_s: float = 60.0,
        backend: Backend = "rustac",
        cluster_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        self.backend = backend
        self.cluster_dir = Path(cluster_dir) if cluster_dir else data_dir() / "pgstac"
        if isinstance(source, str | os.PathLike):
            self.hrefs = world_stac_hrefs(source)
        else:
            self.hrefs = [Path(href) for href in source]
            if not self.hrefs:
                raise ValueError("no STAC files to serve: pass a world folder or a list of files")
            missing = [str(href) for href in self.hrefs if not href.is_file()]
            if missing:
                raise FileNotFoundError(f"STAC files to serve not found: {', '.join(missing)}")
        if port is not None and not 0 <= port <= 65535:
            raise ValueError(f"port must be between 0 and 65535, got {port}")
        self.requested_port = port or None
        self.startup_timeout_s = startup_timeout_s
        self.port: int | None = None
        self._process: ChildProcess | None = None
        self._cluster: PgCluster | None = None
        self._database: str | None = None

    @property
    def url(self) -> str:
        """The root URL of the API, e.g. ``http://127.0.0.1:7822``."""
        if self.port is None:
            raise RuntimeError("the local STAC API is not running: call start() or use `with`")
        return f"http://{HOST}:{self.port}"

    @property
    def server_name(self) -> str:
        """The program that serves the API."""
        return "rustac serve" if self.backend == "rustac" else "stac-fastapi-pgstac"

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.running

    def start(self) -> LocalStacApi:
        """Start the server and wait until ``GET /`` answers."""
        if self.running:
            return self
        if self.requested_port is not None:
            check_port_free(self.requested_port)  # before a database start of seconds
        try:
            if self.backend == "pgstac":
                self._start_database()
            self._launch_on_a_port()
        except BaseException:
            self.stop()
            raise
        return self

    def _launch_on_a_port(self) -> None:
        if self.requested_port is not None:
            check_port_free(self.requested_port)
            self._launch(self.requested_port)
            return
        for attempt in range(_FREE_PORT_TRIES):
            try:
                self._launch(free_port())
                return
            except PortInUseError:
                if attempt == _FREE_PORT_TRIES - 1:
                    raise

    def _start_database(self) -> None:
        """Start the private PostgreSQL cluster and load the STAC files (once)."""
        from eotdl_tutorials.stac.pgstac import PgCluster, load_world

        self._cluster = PgCluster(self.cluster_dir)
        self._cluster.start()
        self._database = load_world(self._cluster, self.hrefs, progress=True)

    def _command(self, port: int) -> list[str]:
        if self.backend == "pgstac":
            assert self._cluster is not None and self._database is not None
            return [
                sys.executable,
                "-m",
                "eotdl_tutorials.stac.pgstac_app",
                str(self._cluster.folder),
                self._database,
                str(port),
            ]
        return [
            str(rustac_executable()),
            "serve",
            "--use-duckdb",
            "false",
            "--addr",
            f"{HOST}:{port}",
            *(str(href.resolve()) for href in self.hrefs),
        ]

    def _launch(self, port: int) -> None:
        self._process = ChildProcess(self._command(port))
        self.port = port
        try:
            self._wait_until_ready()
        except BaseException:
            self._stop_process()
            raise

    def server_output(self) -> str:
        """What the server printed so far (stdout and stderr)."""
        return self._process.output() if self._process is not None else ""

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if not self._process.running:
                output = self.server_output()
                if "Address already in use" in output or "address already in use" in output:
                    raise PortInUseError(self.port or 0)
                raise RuntimeError(
                    f"{self.server_name} stopped at start (exit status "
                    f"{self._process.returncode}): {output or 'no output'}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        raise TimeoutError(
            f"{self.server_name} did not answer on {self.url} within "
            f"{self.startup_timeout_s:.0f} s; its output: {self.server_output() or 'none'}"
        )

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the server: terminate, kill if it has not exited after ``timeout_s``; then
        the database server of the pgstac backend."""
        self._stop_process(timeout_s)
        cluster, self._cluster = self._cluster, None
        if cluster is not None:
            cluster.stop()

    def _stop_process(self, timeout_s: float = 5.0) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.stop(timeout_s)
        self.port = None

    def __enter__(self) -> LocalStacApi:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def serve_forever(
    world_dir: str | os.PathLike[str], port: int | None = DEFAULT_PORT, backend: Backend = "rustac"
) -> None:
    """Serve a world's STAC API on 127.0.0.1, print its URL and block until Ctrl-C."""
    with LocalStacApi(world_dir, port=port, backend=backend) as api:
        print(f"STAC API ({backend}) of {world_dir} at {api.url} (Ctrl-C to stop)", flush=True)
        while api.running:
            time.sleep(0.5)
        raise RuntimeError(f"the {backend} STAC API stopped unexpectedly: {api.server_output()}")
