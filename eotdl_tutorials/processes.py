"""A server run as a child process: its output kept in a temporary file, stopped on request, and
(on Linux) terminated when the thread that started it ends, so a killed notebook kernel or test
run leaves no server behind. The local STAC API and the inference API both run this way."""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path


def resident_bytes(pid: int) -> tuple[int, int] | None:
    """(resident set now, its peak ``VmHWM``) of process ``pid`` in bytes; None once it exited."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    values = {}
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(value.split()[0]) * 1024
    if len(values) < 2:  # a zombie has no memory lines
        return None
    return values["VmRSS"], values["VmHWM"]


#: prctl option: the signal a child gets when its parent thread dies.
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec (Linux): get SIGTERM when the thread that started it ends."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class ChildProcess:
    """``command`` started now, stdout and stderr together in a temporary file."""

    def __init__(self, command: Sequence[str]) -> None:
        self._log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.process.poll()

    def output(self) -> str:
        """What the process printed so far."""
        if self._log.closed:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace").strip()

    def peak_memory_mib(self) -> float | None:
        """The process's peak resident memory so far (MiB, Linux's ``VmHWM``); None elsewhere
        or once it has exited."""
        memory = resident_bytes(self.process.pid)
        return None if memory is None else memory[1] / 2**20

    def stop(self, timeout_s: float = 5.0) -> None:
        """Terminate, kill if it has not exited after ``timeout_s``; close the output file."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
