"""The peak memory of a process tree, measured on real child processes that hold a known
amount of memory (written, so it is resident) until the test has sampled them."""

from __future__ import annotations

import subprocess
import sys

from eotdl_tutorials.course.memory import TreeSampler, run_measured

#: Holds {mib} MiB, says so, and keeps them until its stdin closes.
HOLD = """
import sys
held = b"x" * ({mib} * 2**20)
print("ready", flush=True)
sys.stdin.read()
"""
#: Starts a child running {child}, then does as HOLD; its stdin closed, it closes its child's.
PARENT = """
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", {child!r}], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
assert child.stdout.readline() == "ready\\n"
held = b"x" * ({mib} * 2**20)
print("ready", flush=True)
sys.stdin.read()
child.stdin.close()
child.wait()
"""


def holding(mib: int, spawn: int = 0) -> subprocess.Popen[str]:
    """A child holding ``mib`` MiB (with a grandchild holding ``spawn`` MiB), once ready."""
    code = HOLD.format(mib=mib)
    if spawn:
        code = PARENT.format(child=HOLD.format(mib=spawn), mib=mib)
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None and child.stdout.readline() == "ready\n"
    return child


def release(child: subprocess.Popen[str]) -> None:
    assert child.stdin is not None
    child.stdin.close()
    assert child.wait() == 0


def test_a_child_holding_200_mib_peaks_at_200_mib_and_a_little() -> None:
    child = holding(200)
    with TreeSampler(child.pid) as sampler:
        sampler.sample()  # taken while it holds the memory, whatever the thread did
    release(child)
    figures = sampler.figures()
    assert 200 <= figures["largest_process_mib"] <= figures["peak_memory_mib"] < 200 + 60
    assert sampler.samples >= 2  # on entering and just now


def test_the_tree_sums_a_child_and_its_grandchild() -> None:
    child = holding(100, spawn=150)
    with TreeSampler(child.pid) as sampler:
        sampler.sample()
    release(child)
    figures = sampler.figures()
    assert 250 <= figures["peak_memory_mib"] < 250 + 100  # two interpreters' own memory
    assert 150 <= figures["largest_process_mib"] < 150 + 50  # the grandchild alone


def test_the_root_is_left_out_when_asked() -> None:
    child = holding(100, spawn=150)
    with TreeSampler(child.pid, include_root=False) as sampler:
        sampler.sample()
    release(child)
    assert 150 <= sampler.figures()["peak_memory_mib"] < 150 + 50


def test_a_measured_command_gives_its_exit_status_and_peak() -> None:
    code = "import time; held = b'x' * (200 * 2**20); time.sleep(1); raise SystemExit(3)"
    measured = run_measured([sys.executable, "-c", code])
    assert measured.returncode == 3
    assert measured.largest_process_mib is not None and measured.largest_process_mib >= 200


def test_a_peak_between_samples_still_counts_for_the_tree() -> None:
    """A process that held 200 MiB before the first sample: its VmHWM keeps it, and the tree's
    peak is never below its largest process's."""
    code = HOLD.format(mib=200).replace('print("ready"', 'del held\nprint("ready"')
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None and child.stdout.readline() == "ready\n"
    with TreeSampler(child.pid) as sampler:
        sampler.sample()
    release(child)
    assert sampler.peak_tree_bytes < 100 * 2**20  # freed before any sample
    figures = sampler.figures()
    assert figures["peak_memory_mib"] == figures["largest_process_mib"] >= 200
