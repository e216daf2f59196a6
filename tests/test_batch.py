"""papermill's ``eotdl`` engine: a kernel reply that a poll's missed wake-up leaves unseen is found
within one slice, not at the cell's timeout (which is what the CI's 625.9 s 00_sample_world was)."""

from __future__ import annotations

import asyncio
import time
from queue import Empty

import zmq
import zmq.asyncio
from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.session import Session
from papermill.engines import papermill_engines

from eotdl_tutorials.batch import (
    POLL_SLICE,
    BatchEngine,
    SlicedPollChannel,
    SlicedPollKernelManager,
)


class MissedWakeUpSocket:
    """A kernel socket whose message is there after ``arrives_after`` seconds, but whose poll
    misses the wake-up: it only sees the message when its wait ends (at its timeout)."""

    def __init__(self, frames: list[bytes], arrives_after: float) -> None:
        self.frames = frames
        self.arrives_at = time.monotonic() + arrives_after

    async def poll(self, timeout_ms: int | None = None) -> int:
        await asyncio.sleep(3600 if timeout_ms is None else timeout_ms / 1000)
        return zmq.POLLIN if time.monotonic() >= self.arrives_at else 0

    async def recv_multipart(self, **_: object) -> list[bytes]:
        return self.frames


def waited(channel_class: type[AsyncZMQSocketChannel], timeout: float, arrives_after: float):
    """(seconds ``get_msg`` took, its message or the exception it raised)."""
    session = Session()
    frames = session.serialize(session.msg("execute_reply", {"status": "ok"}))

    async def get() -> object:
        socket = zmq.asyncio.Context.instance().socket(zmq.DEALER)
        channel = channel_class(socket, session)  # it only takes an asyncio socket
        socket.close()
        channel.socket = MissedWakeUpSocket(frames, arrives_after)
        try:
            return await channel.get_msg(timeout=timeout)
        except Empty as empty:
            return empty

    start = time.monotonic()
    got = asyncio.run(get())
    return time.monotonic() - start, got


def test_a_missed_wake_up_costs_one_slice_not_the_timeout() -> None:
    plain_seconds, plain = waited(AsyncZMQSocketChannel, timeout=3.0, arrives_after=0.2)
    sliced_seconds, sliced = waited(SlicedPollChannel, timeout=3.0, arrives_after=0.2)
    # jupyter_client's own channel only finds the message when the whole timeout is over
    assert plain["msg_type"] == "execute_reply" and plain_seconds >= 3.0
    assert sliced["msg_type"] == "execute_reply"
    assert sliced_seconds < 0.2 + POLL_SLICE + 0.5


def test_nothing_arrives_empty_at_the_timeout() -> None:
    seconds, got = waited(SlicedPollChannel, timeout=1.5, arrives_after=60)
    assert isinstance(got, Empty)
    assert 1.5 <= seconds < 1.5 + 0.5


def test_papermill_finds_the_engine_and_its_kernels_poll_in_slices() -> None:
    assert papermill_engines.get_engine("eotdl") is BatchEngine
    client = SlicedPollKernelManager().client()
    assert client.shell_channel_class is SlicedPollChannel
    assert client.iopub_channel_class is SlicedPollChannel


def test_no_timeout_waits_a_slice_at_a_time_and_zero_checks_once() -> None:
    seconds, got = waited(SlicedPollChannel, timeout=None, arrives_after=0.0)
    assert got["msg_type"] == "execute_reply" and seconds < POLL_SLICE + 0.5
    seconds, got = waited(SlicedPollChannel, timeout=0.0, arrives_after=0.0)
    assert got["msg_type"] == "execute_reply" and seconds < 0.5
