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
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return None

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
