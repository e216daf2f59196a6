"""The lines a course run prints: what it keeps and runs, and how far along it is."""

from __future__ import annotations

from collections.abc import Sequence

GIB = 1024


def duration_text(seconds: float) -> str:
    """``52 s``, ``4 min 10 s``, ``1 h 3 min``."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def memory_text(mib: float | None) -> str:
    """``812 MiB``, ``1.21 GiB``; ``unknown`` for None."""
    if mib is None:
        return "unknown"
    return f"{mib / GIB:.3g} GiB" if mib >= GIB else f"{mib:.0f} MiB"


def time_left_text(estimates: Sequence[float | None]) -> str:
    """How long the steps of ``estimates`` (their last run times; None: never timed) take."""
    known = [seconds for seconds in estimates if seconds is not None]
    unknown = len(estimates) - len(known)
    if not known:
        return "time left unknown"
    left = f"about {duration_text(sum(known))} left"
    if unknown:
        left += f" plus {unknown} step{'s' if unknown > 1 else ''} never timed"
    return left


def progress_line(position: int, total: int, name: str, estimates: Sequence[float | None]) -> str:
    """``[3/9] running B2 (last run 4 min 10 s; about 21 min left)``: step ``position`` of
    ``total``, ``estimates`` the last run times of this step and of the steps after it."""
    last = estimates[0]
    this = "no earlier time" if last is None else f"last run {duration_text(last)}"
    return f"[{position}/{total}] running {name} ({this}; {time_left_text(estimates)})"


def done_line(position: int, total: int, name: str, seconds: float, peak_mib: float | None) -> str:
    """``[3/9] B2 done in 4 min 12 s, peak memory 1.21 GiB``."""
    return (
        f"[{position}/{total}] {name} done in {duration_text(seconds)}, "
        f"peak memory {memory_text(peak_mib)}"
    )
