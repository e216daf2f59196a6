"""papermill's ``eotdl`` engine: a kernel reply that a poll's missed wake-up leaves unseen is found
within one slice, not at the cell's timeout (which is what the CI's 625.9 s 00_sample_world was).

The waits are counted, not timed: the fake socket records each poll's timeout and advances a fake
clock that the engine reads, so a busy machine cannot fail these tests and a channel that waits
the whole timeout still does."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from queue import Empty

import pytest
import zmq
import zmq.asyncio
from fake_clock import FakeClock
from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.session import Session
from papermill.engines import papermill_engines

from eotdl_tutorials import batch
from eotdl_tutorials.batch import (
    POLL_SLICE,
    BatchEngine,
    SlicedPollChannel,
    SlicedPollKernelManager,
)


class MissedWakeUpSocket:
    """A kernel socket whose message is there after ``arrives_after`` seconds, but whose poll
    misses the wake-up: it only sees the message when its wait ends (at its timeout). Each poll
    is recorded (its timeout in ms) and advances the fake clock by what it waited."""

    def __init__(self, frames: list[bytes], arrives_after: float, clock: FakeClock) -> None:
        self.frames = frames
        self.arrives_at = clock.now + arrives_after
        self.clock = clock
        self.polls: list[int | None] = []

    async def poll(self, timeout_ms: int | None = None) -> int:
        self.polls.append(timeout_ms)
        self.clock.advance(3600 if timeout_ms is None else timeout_ms / 1000)
        return zmq.POLLIN if self.clock.now >= self.arrives_at else 0

    async def recv_multipart(self, **_: object) -> list[bytes]:
        return self.frames


@dataclass
class Wait:
    """What one ``get_msg`` did: the fake seconds it waited, its polls' timeouts (ms), and the
    message it returned or the exception it raised."""

    seconds: float
    polls: list[int | None]
    got: object


def waited(
    channel_class: type[AsyncZMQSocketChannel],
    timeout: float | None,
    arrives_after: float,
    monkeypatch: pytest.MonkeyPatch,
) -> Wait:
    clock = FakeClock()
    monkeypatch.setattr(batch, "time", clock.module())
    session = Session()
    frames = session.serialize(session.msg("execute_reply", {"status": "ok"}))
    fake = MissedWakeUpSocket(frames, arrives_after, clock)

    async def get() -> object:
        socket = zmq.asyncio.Context.instance().socket(zmq.DEALER)
        channel = channel_class(socket, session)  # it only takes an asyncio socket
        socket.close()
        channel.socket = fake
        try:
            return await channel.get_msg(timeout=timeout)
        except Empty as empty:
            return empty

    got = asyncio.run(get())
    return Wait(clock.now, fake.polls, got)


def test_a_missed_wake_up_costs_one_slice_not_the_timeout(monkeypatch) -> None:
    plain = waited(AsyncZMQSocketChannel, 3.0, 0.2, monkeypatch)
    sliced = waited(SlicedPollChannel, 3.0, 0.2, monkeypatch)
    # jupyter_client's own channel waits once, the whole timeout, and only then finds it
    assert plain.got["msg_type"] == "execute_reply"
    assert plain.polls == [3000] and plain.seconds == 3.0
    assert sliced.got["msg_type"] == "execute_reply"
    assert sliced.polls == [POLL_SLICE * 1000] and sliced.seconds < 0.2 + POLL_SLICE


def test_nothing_arrives_empty_at_the_timeout(monkeypatch) -> None:
    wait = waited(SlicedPollChannel, 2.5, 60, monkeypatch)
    assert isinstance(wait.got, Empty)
    assert wait.polls == [1000, 1000, 500] and wait.seconds == 2.5  # slices, the last one cut


def test_papermill_finds_the_engine_and_its_kernels_poll_in_slices() -> None:
    assert papermill_engines.get_engine("eotdl") is BatchEngine
    client = SlicedPollKernelManager().client()
    assert client.shell_channel_class is SlicedPollChannel
    assert client.iopub_channel_class is SlicedPollChannel


def test_no_timeout_waits_a_slice_at_a_time_and_zero_checks_once(monkeypatch) -> None:
    wait = waited(SlicedPollChannel, None, 2.5, monkeypatch)
    assert wait.got["msg_type"] == "execute_reply" and wait.polls == [1000, 1000, 1000]
    wait = waited(SlicedPollChannel, 0.0, 0.0, monkeypatch)
    assert wait.got["msg_type"] == "execute_reply" and wait.polls == [0]
