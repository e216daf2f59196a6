"""The peak memory of a process tree, sampled from ``/proc`` while it runs (Linux).

A notebook's memory is its kernel's and its kernel's children's (DataLoader workers, process
pools); a step run as a command is that command's tree. :class:`TreeSampler` reads the tree's
resident sets every :data:`SAMPLE_SECONDS` in a thread and keeps two figures: the largest sum over
the tree (what the machine had to hold at once, to one sample's precision; never below the
next figure) and the largest single process's own peak (its ``VmHWM``, which the kernel keeps
exactly).
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from eotdl_tutorials.processes import resident_bytes

#: Seconds between two samples of a process tree.
SAMPLE_SECONDS = 0.25
PROC = Path("/proc")
MIB = 2**20


def parents() -> dict[int, int]:
    """Every process's parent id, from ``/proc/PID/stat`` (empty where there is no ``/proc``)."""
    found = {}
    for entry in PROC.iterdir() if PROC.is_dir() else []:
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # exited while listing
            continue
        # pid (comm) state ppid ...: the name may hold spaces and parentheses
        found[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return found


def descendants(root: int) -> list[int]:
    """The ids of ``root``'s children, their children and so on."""
    children: dict[int, list[int]] = {}
    for pid, parent in parents().items():
        children.setdefault(parent, []).append(pid)
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


class TreeSampler:
    """Samples the memory of process ``root``'s tree (``root`` itself only if
    ``include_root``) in a thread, every ``interval`` seconds, while in a ``with`` block."""

    def __init__(
        self, root: int, include_root: bool = True, interval: float = SAMPLE_SECONDS
    ) -> None:
        self.root = root
        self.include_root = include_root
        self.interval = interval
        #: The largest sum of the tree's resident sets seen, and the largest single peak.
        self.peak_tree_bytes = 0
        self.peak_process_bytes = 0
        #: How many samples were taken.
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tree-sampler", daemon=True)

    def sample(self) -> None:
        """Read the tree's memory once and keep its peaks."""
        pids = descendants(self.root) + ([self.root] if self.include_root else [])
        memory = [m for m in map(resident_bytes, pids) if m is not None]
        self.peak_tree_bytes = max(self.peak_tree_bytes, sum(rss for rss, _ in memory))
        self.peak_process_bytes = max(self.peak_process_bytes, *(hwm for _, hwm in memory), 0)
        self.samples += 1

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def figures(self) -> dict[str, float | None]:
        """``peak_memory_mib`` (the tree's largest sum, and at least its largest process's
        peak, which a sample may have missed) and ``largest_process_mib``; None where nothing
        could be read (no ``/proc``)."""
        if not self.peak_tree_bytes:
            return {"peak_memory_mib": None, "largest_process_mib": None}
        tree = max(self.peak_tree_bytes, self.peak_process_bytes)
        return {
            "peak_memory_mib": round(tree / MIB, 1),
            "largest_process_mib": round(self.peak_process_bytes / MIB, 1),
        }

    def __enter__(self) -> TreeSampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()


@dataclass(frozen=True)
class Measured:
    """A command's exit status, wall time and peak memory (MiB; None where unknown)."""

    returncode: int
    seconds: float
    peak_memory_mib: float | None
    largest_process_mib: float | None

    def figures(self) -> dict[str, float | None]:
        """The figures a results file keeps."""
        return {
            "seconds": round(self.seconds, 1),
            "peak_memory_mib": self.peak_memory_mib,
            "largest_process_mib": self.largest_process_mib,
        }


def run_measured(command: Sequence[str], env: dict[str, str] | None = None) -> Measured:
    """Run ``command`` (its output goes where this process's goes) and measure it."""
    start = time.monotonic()
    process = subprocess.Popen(list(command), env=env)
    with TreeSampler(process.pid) as sampler:
        try:
            returncode = process.wait()
        except BaseException:  # interrupted: the child goes too
            process.kill()
            process.wait()
            raise
    figures = sampler.figures()
    return Measured(
        returncode,
        time.monotonic() - start,
        figures["peak_memory_mib"],
        figures["largest_process_mib"],
    )
