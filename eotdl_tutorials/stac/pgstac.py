"""The production STAC backend: pgstac in a private PostgreSQL cluster.

:class:`PgCluster` runs its own PostgreSQL server in a folder (by default
``data_dir()/"pgstac"``): created with ``initdb`` on first use, started and stopped with
``pg_ctl``, listening on a Unix socket in that folder only (no TCP port, no system service or
system database touched). PostgreSQL refuses to run as root: as root the cluster runs as
Debian's ``postgres`` user. A program that finds the cluster already running (another
``stac serve --backend pgstac``, a benchmark) shares it, and leaves stopping it to the program
that started it. :func:`load_world` puts a world's collections and items into one
database of that cluster with pypgstac (``migrate``, then its loader), once: a second start
finds them there, a changed world is loaded again. ``LocalStacApi(..., backend="pgstac")``
(:mod:`eotdl_tutorials.stac.server`) serves the database with stac-fastapi-pgstac.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
from tqdm.auto import tqdm

#: The socket's port number (a name in the socket folder: nothing listens on TCP).
SOCKET_PORT = 5432
#: Unix socket paths are limited to 107 bytes on Linux.
_MAX_SOCKET_PATH = 107
#: Where Debian puts PostgreSQL's programs (one folder per major version).
_DEBIAN_PG_ROOT = Path("/usr/lib/postgresql")
#: The user the cluster runs as when this process is root.
UNPRIVILEGED_USER = "postgres"
_FINGERPRINT_TABLE = "public.eotdl_world_source"


class ClusterError(OSError):
    """A PostgreSQL program failed on the private cluster (the message has its output)."""


class ClusterLockError(ClusterError):
    """The cluster folder holds a lock naming a live process that is not PostgreSQL."""


def postgres_bindir() -> Path:
    """The folder of ``initdb``, ``pg_ctl`` and ``postgres``: ``$PG_BINDIR``, else Debian's
    newest ``/usr/lib/postgresql/<major>/bin``, else the folder of ``initdb`` on PATH."""
    candidates = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(Path(os.environ["PG_BINDIR"]))
    if _DEBIAN_PG_ROOT.is_dir():
        versions = [p for p in _DEBIAN_PG_ROOT.iterdir() if p.name.isdigit()]
        candidates += [p / "bin" for p in sorted(versions, key=lambda p: -int(p.name))]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    raise FileNotFoundError(
        "PostgreSQL's server programs (initdb, pg_ctl) are missing: install PostgreSQL 15 or "
        "newer (Debian: `apt-get install postgresql-15 postgresql-15-postgis-3`), or set "
        "PG_BINDIR to the folder that holds them"
    )


def check_postgis(bindir: Path) -> None:
    """FileNotFoundError saying what to install when PostGIS is missing (pgstac needs it)."""
    sharedir = subprocess.run(
        [str(bindir / "pg_config"), "--sharedir"], capture_output=True, text=True, check=True
    ).stdout.strip()
    if not (Path(sharedir) / "extension" / "postgis.control").is_file():
        major = bindir.parent.name if bindir.parent.name.isdigit() else "<version>"
        raise FileNotFoundError(
            f"PostGIS is not installed for the PostgreSQL of {bindir} (pgstac needs it): run "
            f"`sudo apt-get install postgresql-{major}-postgis-3` (or `make postgis` as root)"
        )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_postgres(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() in ("postgres", "postmaster")
    except OSError:
        return False


class PgCluster:
    """A private PostgreSQL cluster in ``folder`` (data in ``folder/data``, socket in
    ``folder``), run by this user, or by ``postgres`` when this process is root."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder).absolute()
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self.bindir = postgres_bindir()
        self.as_root = os.geteuid() == 0
        socket = self.folder / f".s.PGSQL.{SOCKET_PORT}"
        if len(str(socket).encode()) > _MAX_SOCKET_PATH:
            raise ValueError(
                f"the cluster folder {self.folder} is too deep for a Unix socket (at most "
                f"{_MAX_SOCKET_PATH} bytes): set EOTDL_TUTORIALS_DATA to a shorter path"
            )
        self.started = False

    def _run(self, *command: str) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL program as the cluster's user; RuntimeError with its output."""
        argv = [str(self.bindir / command[0]), *command[1:]]
        if self.as_root:
            argv = ["runuser", "-u", UNPRIVILEGED_USER, "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.is_file() else ""
            raise ClusterError(
                f"`{' '.join(command[:2])}` failed for the pgstac cluster in {self.folder} "
                f"(exit status {done.returncode}): {(done.stderr or done.stdout).strip()}"
                + (f"\nserver log:\n{log}" if log else "")
            )
        return done

    def _prepare_folder(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if not self.as_root:
            self.folder.chmod(0o700)
            return
        try:
            user = pwd.getpwnam(UNPRIVILEGED_USER)
        except KeyError:
            raise RuntimeError(
                f"PostgreSQL refuses to run as root and there is no `{UNPRIVILEGED_USER}` user "
                "to run it: install PostgreSQL's Debian package (it creates that user) or run "
                "as an ordinary user"
            ) from None
        os.chown(self.folder, user.pw_uid, user.pw_gid)
        self.folder.chmod(0o700)
        for parent in self.folder.parents:  # the postgres user must reach its folder
            mode = parent.stat().st_mode
            if not mode & 0o001:
                raise PermissionError(
                    f"the `{UNPRIVILEGED_USER}` user cannot reach {self.folder} ({parent} is "
                    f"not searchable by others): `chmod o+x {parent}`, or set "
                    "EOTDL_TUTORIALS_DATA to a folder it can reach"
                )

    def init(self) -> None:
        """Create the cluster with ``initdb`` if the folder has none yet."""
        check_postgis(self.bindir)
        self._prepare_folder()
        if (self.data / "PG_VERSION").is_file():
            return
        self._run(
            "initdb",
            "--pgdata",
            str(self.data),
            "--username",
            "postgres",
            "--auth",
            "trust",  # only this user (and root) can open the socket's folder
            "--encoding",
            "UTF8",
            "--locale",
            "C",
            "--no-sync",
        )

    def _lock_pid(self) -> int | None:
        """The process named by the cluster's lock file, if any."""
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def server_pid(self) -> int | None:
        """The pid of the PostgreSQL server running on this folder, or None."""
        pid = self._lock_pid()
        return pid if pid and _pid_alive(pid) and _is_postgres(pid) else None

    def check_lock(self) -> None:
        """ClusterLockError when the lock file names a live process that is not PostgreSQL (a
        lock left by a server that died, its pid since reused); PostgreSQL itself removes a
        lock whose process is gone."""
        pid = self._lock_pid()
        if pid and _pid_alive(pid) and not _is_postgres(pid):
            raise ClusterLockError(
                f"stale lock in the pgstac cluster {self.folder}: {self.data / 'postmaster.pid'} "
                f"names pid {pid}, which is not a PostgreSQL server: delete that file if no "
                "PostgreSQL runs on this folder, then start again"
            )

    def start(self) -> None:
        """Create the cluster if needed and start its server (waits until it accepts), or
        share the server already running on this folder."""
        self.init()
        if self.server_pid() is not None:
            return
        self.check_lock()
        options = (
            f"-c listen_addresses='' -k {self.folder} -p {SOCKET_PORT} "
            "-c unix_socket_permissions=0700 -c synchronous_commit=off "
            "-c max_connections=50 -c shared_buffers=256MB -c max_locks_per_transaction=256"
        )
        try:
            self._run(
                "pg_ctl", "start", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "120",
                "-o", options,
            )  # fmt: skip
        except ClusterError:
            if self.server_pid() is None:  # not another program that started it meanwhile
                raise
            return
        self.started = True

    def stop(self) -> None:
        """Stop the server (fast shutdown) if this object started it (a shared one stays)."""
        if self.started and (self.data / "postmaster.pid").is_file():
            self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "fast", "-w", "-t", "60")
        self.started = False

    def dsn(self, database: str = "postgres") -> str:
        """A libpq connection string to ``database`` over the cluster's socket."""
        return f"postgresql://postgres@/{database}?host={self.folder}&port={SOCKET_PORT}"


def _world_fingerprint(hrefs: Sequence[Path]) -> str:
    """Changes when any STAC file of the world, or pypgstac, changes."""
    from pypgstac import __version__

    digest = hashlib.sha256(__version__.encode())
    for href in hrefs:
        stat = href.stat()
        digest.update(f"{href.resolve()}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def database_name(hrefs: Sequence[Path]) -> str:
    """The database of a world in the cluster: named after where its STAC files are."""
    where = "\n".join(sorted(str(href.resolve().parent.parent) for href in hrefs))
    return "world_" + hashlib.sha256(where.encode()).hexdigest()[:16]


def _stac_objects(hrefs: Sequence[Path], kind: str) -> Iterator[dict[str, Any]]:
    for href in hrefs:
        value = orjson.loads(href.read_bytes())
        if value.get("type") == "FeatureCollection":
            features = value.get("features", [])
            yield from (f for f in features if kind == "Feature")
        elif value.get("type") == kind:
            yield value


def load_world(cluster: PgCluster, hrefs: Sequence[Path], progress: bool = False) -> str:
    """Load the STAC files ``hrefs`` (collections, item collections) into a database of
    ``cluster`` unless it already holds them; returns the database's name."""
    import psycopg
    from pypgstac.db import PgstacDB
    from pypgstac.load import Loader, Methods
    from pypgstac.migrate import Migrate

    name = database_name(hrefs)
    fingerprint = _world_fingerprint(hrefs)
    with psycopg.connect(cluster.dsn(), autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    if exists:
        with psycopg.connect(cluster.dsn(name)) as conn:
            found = conn.execute(
                f"SELECT to_regclass('{_FINGERPRINT_TABLE}') IS NOT NULL"
            ).fetchone()
            stored = (
                conn.execute(f"SELECT fingerprint FROM {_FINGERPRINT_TABLE}").fetchone()
                if found and found[0]
                else None
            )
        if stored and stored[0] == fingerprint:
            return name
    with psycopg.connect(cluster.dsn(), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    db = PgstacDB(dsn=cluster.dsn(name))
    try:
        Migrate(db).run_migration()
        loader = Loader(db)
        collections = [h for h in hrefs if h.parent.name == "collections"]
        loader.load_collections(_stac_objects(collections, "Collection"), Methods.insert)
        items = [h for h in hrefs if h.parent.name != "collections"]
        for href in tqdm(items, desc="loading items into pgstac", disable=not progress):
            loader.load_items(_stac_objects([href], "Feature"), Methods.insert)
    finally:
        db.close()
    with psycopg.connect(cluster.dsn(name)) as conn:
        conn.execute(f"CREATE TABLE {_FINGERPRINT_TABLE} (fingerprint text NOT NULL)")
        conn.execute(f"INSERT INTO {_FINGERPRINT_TABLE} VALUES (%s)", (fingerprint,))
        conn.execute("ANALYZE")
    return name
