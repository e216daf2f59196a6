"""The HTTP layer of STAC API searches: urllib3 retries mounted through pystac-client's
``StacApiIO``, every request counted (retries included).

Retries are urllib3's :class:`~urllib3.util.Retry` (``max_retries`` of ``StacApiIO``) on failed
connections, timeouts and :data:`RETRY_STATUSES`, for every method (item search is a ``POST``);
:class:`CountingRetry` adds what urllib3 lacks: the count, and a limit on a request's total time.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.util.retry import Retry

if TYPE_CHECKING:
    from types import TracebackType

    from pystac_client.stac_api_io import StacApiIO
    from urllib3.connectionpool import ConnectionPool
    from urllib3.response import BaseHTTPResponse

#: HTTP statuses worth a retry: rate limiting and server-side failures.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass
class RequestCounter:
    """HTTP requests sent to STAC APIs (each retry counts as one more request)."""

    requests: int = 0
    retries: int = 0


@dataclass(frozen=True)
class RetryPolicy:
    """How long to insist on an unreachable or failing STAC API.

    ``tries`` attempts per request, waiting ``backoff_s`` then twice as long each time (at most
    ``max_backoff_s``), giving up earlier when ``total_s`` would be exceeded; each attempt may
    take ``timeout_s`` to connect and as long to read.
    """

    tries: int = 4
    backoff_s: float = 0.5
    max_backoff_s: float = 8.0
    timeout_s: float = 30.0
    total_s: float = 120.0

    def __post_init__(self) -> None:
        if self.tries < 1 or min(self.backoff_s, self.max_backoff_s) < 0:
            raise ValueError(f"RetryPolicy needs tries >= 1 and back-offs >= 0, got {self}")
        if min(self.timeout_s, self.total_s) <= 0:
            raise ValueError(f"RetryPolicy needs positive timeout_s and total_s, got {self}")

    def urllib3_retry(self, counter: RequestCounter) -> CountingRetry:
        """This policy as urllib3's ``Retry``, counting its retries in ``counter``."""
        return CountingRetry(
            total=self.tries - 1,
            allowed_methods=None,  # every method: a search is a POST
            status_forcelist=RETRY_STATUSES,
            backoff_factor=self.backoff_s,
            backoff_max=self.max_backoff_s,
            raise_on_status=False,  # the last answer comes back: its status names the failure
            counter=counter,
        )


class CountingRetry(Retry):
    """urllib3's ``Retry`` that counts each retry in ``counter`` and gives up when the next wait
    would end after ``deadline`` (a :func:`time.monotonic` time, set as each request starts)."""

    def __init__(
        self, *args: Any, counter: RequestCounter, deadline: float | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.counter = counter
        self.deadline = deadline

    def new(self, **kw: Any) -> CountingRetry:
        return super().new(counter=self.counter, deadline=self.deadline, **kw)

    def get_backoff_time(self) -> float:
        """``RetryPolicy``'s schedule: ``backoff_factor`` before the first retry, then twice as
        long each time (urllib3 would make the first retry at once)."""
        if not self.history:
            return 0.0
        return min(self.backoff_max, self.backoff_factor * 2 ** (len(self.history) - 1))

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> CountingRetry:
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        if (
            self.deadline is not None
            and time.monotonic() + retry.get_backoff_time() > self.deadline
        ):
            status = response.status if response is not None else None
            reason = error or ResponseError(f"no time left to retry after HTTP {status}")
            raise MaxRetryError(_pool, url, reason) from reason
        self.counter.requests += 1
        self.counter.retries += 1
        return retry


@functools.cache
def counting_stac_api_io() -> type[StacApiIO]:
    """pystac-client's HTTP layer with a :class:`RetryPolicy` and a :class:`RequestCounter`.

    Built on first use: importing pystac-client takes seconds (jsonschema's IRI checker compiles a
    grammar at import, python-jsonschema/jsonschema#1428), a cost only API searches should pay.
    """
    from pystac_client.exceptions import APIError
    from pystac_client.stac_api_io import StacApiIO

    class CountingStacApiIO(StacApiIO):
        def __init__(self, counter: RequestCounter, retry: RetryPolicy) -> None:
            self.retry = retry.urllib3_retry(counter)
            super().__init__(max_retries=self.retry, timeout=retry.timeout_s)
            self.counter = counter
            self.total_s = retry.total_s

        def request(
            self,
            href: str,
            method: str | None = None,
            headers: dict[str, str] | None = None,
            parameters: dict[str, Any] | None = None,
        ) -> str:
            started = time.monotonic()
            self.retry.deadline = started + self.total_s  # the one Retry both adapters mount
            before = self.counter.requests
            self.counter.requests += 1
            try:
                return super().request(href, method, headers, parameters)
            except APIError as err:
                status = getattr(err, "status_code", None)
                if status is not None and status not in RETRY_STATUSES:
                    raise ValueError(
                        f"the STAC API rejected {method or 'GET'} {href} (HTTP {status}): "
                        f"{str(err)[:300]}"
                    ) from None
                reason = f"HTTP {status}: {str(err)[:300]}" if status else str(err)[:300]
            raise ConnectionError(
                f"cannot get {href} from the STAC API after {self.counter.requests - before} "
                f"tries in {time.monotonic() - started:.1f} s ({reason}): check the URL, that "
                "the server runs, and the network"
            )

    return CountingStacApiIO
