"""Batch runs of the notebooks: papermill's engine ``eotdl``, for ``make course`` and the tests.

papermill (through nbclient) waits for a cell's reply with one poll of the kernel's shell socket
as long as the cell's timeout. That poll watches the socket's edge-triggered file descriptor, and
a wake-up it misses is only noticed when the poll ends: the CI saw a 25 s notebook take 625.9 s,
its cell reply found at the 600 s timeout (upstream: jupyter/nbclient#312, a widget cell that
"sometimes blocks" until its timeout; open, its fix jupyter/nbclient#311 unmerged). Written
against papermill 2.7.0, nbclient 0.11.0 and jupyter_client 8.10.0, whose
``AsyncZMQSocketChannel.get_msg`` it wraps. This engine is papermill's own with kernel
channels that poll in slices of :data:`POLL_SLICE` seconds, each ending in a non-blocking check
of the socket, so a missed wake-up costs at most one slice. Nothing else changes: the same
kernel, timeouts and outputs. Use it with ``papermill --engine eotdl`` or
``execute_notebook(engine_name="eotdl")`` (registered as a ``papermill.engine`` entry point).
"""

from __future__ import annotations

import time
from queue import Empty
from typing import Any

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.manager import AsyncKernelManager
from papermill.engines import NBClientEngine
from traitlets import DottedObjectName, Type

#: The longest single wait on a kernel socket, in seconds: what a missed wake-up can cost.
POLL_SLICE = 1.0


class SlicedPollChannel(AsyncZMQSocketChannel):
    """A kernel channel whose ``get_msg`` waits in slices of at most :data:`POLL_SLICE`."""

    async def get_msg(self, timeout: float | None = None) -> dict[str, Any]:
        """The next message; ``Empty`` once ``timeout`` seconds passed (``None``: wait on)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = POLL_SLICE if deadline is None else deadline - time.monotonic()
            try:
                return await super().get_msg(timeout=max(0.0, min(POLL_SLICE, left)))
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise


class SlicedPollKernelClient(AsyncKernelClient):
    """papermill's kernel client with :class:`SlicedPollChannel` for replies and outputs."""

    shell_channel_class = Type(SlicedPollChannel)  # type: ignore[assignment]
    iopub_channel_class = Type(SlicedPollChannel)  # type: ignore[assignment]


class SlicedPollKernelManager(AsyncKernelManager):
    """A kernel manager whose clients are :class:`SlicedPollKernelClient`."""

    client_class = DottedObjectName(f"{__name__}.SlicedPollKernelClient")
    client_factory = Type(SlicedPollKernelClient)


class BatchEngine(NBClientEngine):
    """papermill's nbclient engine, its kernel polled by :class:`SlicedPollKernelManager`."""

    @classmethod
    def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, **kwargs: Any) -> Any:
        kwargs.setdefault("kernel_manager_class", SlicedPollKernelManager)
        return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)
