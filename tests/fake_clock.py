"""A fake ``time.monotonic`` for tests that bound counted work instead of wall time.

A test puts :meth:`FakeClock.module` in place of the ``time`` module a package module reads
(``monkeypatch.setattr(module, "time", clock.module())``) and advances the clock by what its fake
work costs, so what the code decides follows from counted steps, polls and waits: a busy machine
cannot change it, a broken rule still shows.
"""

from __future__ import annotations

from types import SimpleNamespace


class FakeClock:
    """Seconds that pass only when :meth:`advance` says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def module(self) -> SimpleNamespace:
        """A stand-in for the ``time`` module whose ``monotonic`` is this clock."""
        return SimpleNamespace(monotonic=self.monotonic)
