"""The ``retry`` middleware: call the rest of the chain again while it fails before answering
(Traefik v3 ``pkg/middlewares/retry``).

What is retried, attempt after attempt (``attempts`` in total; with 1, the middleware does
nothing):

* **network errors**: the service could not send the request at all (connection refused or
  reset, dial timeout, TLS handshake) - any method, unless ``disableRetryOnNetworkError``.  As in
  Traefik, a request the server already received is never retried this way;
* **statuses**: a response (or a proxy error) whose status is in ``status`` (``"500-599"``...),
  only for idempotent methods (everything but POST, PATCH and LOCK) unless
  ``retryNonIdempotentMethod``.  For these the request body is kept (up to
  ``maxRequestBodyBytes``, default 2 MiB, -1 unlimited) so it can be sent again; a larger body
  turns status retries off for that request and streams as usual.

A retried answer never reaches the client (its head, body and the hooks registered during the
attempt are dropped); the first answer that is not retried goes through, as does everything on
the last attempt or once ``timeout`` has elapsed since the first attempt.  Between attempts the
middleware waits an exponential backoff starting at ``initialInterval`` whose growth is chosen
so the last wait is about twice the first (cenkalti/backoff: multiplier ``2^(1/(attempts-1))``,
+-50 % jitter); ``initialInterval`` 0 retries at once.  Interim (1xx) responses of an attempt that
may still be retried are dropped, as Traefik does.  The number of retries is left in
``ex.extras["retry_attempts"]`` (access log, metrics).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Final

from middlewares.interceptor import CodeRanges, Interceptor, in_ranges, parse_code_ranges, scope
from traefikpy.config.middleware_options import Retry
from traefikpy.proxy.errors import ClientClosed, ProxyError, UpstreamConnectError
from traefikpy.proxy.h1body import EmptyBody
from traefikpy.proxy.http import (
    Body,
    BuildContext,
    Exchange,
    Handler,
    Headers,
    MiddlewareFactory,
    ResponseHook,
    ResponseWriter,
    read_all,
)
from traefikpy.services.replay import ReplayBody, read_limited

NON_IDEMPOTENT: Final = frozenset({b"POST", b"PATCH", b"LOCK"})
_RANDOMIZATION: Final = 0.5  # cenkalti/backoff's default jitter
_MAX_INTERVAL: Final = 60.0


def backoff_delays(initial: float, attempts: int, rand: Callable[[], float] = random.random) -> list[float]:
    """The waits before attempts 2..n: exponential from ``initial`` with the multiplier that makes
    the interval double over the attempts, each with +-50 % jitter (``rand() == 0.5``: none)."""
    if attempts < 2 or initial <= 0:
        return [0.0] * max(attempts - 1, 0)
    multiplier = 2 ** (1 / (attempts - 1))
    interval = initial
    delays = []
    for _ in range(attempts - 1):
        delta = _RANDOMIZATION * interval
        delays.append(interval - delta + rand() * 2 * delta)
        interval = min(interval * multiplier, _MAX_INTERVAL)
    return delays


class _TrackedBody:
    """A body that remembers whether anything was read from it (then it cannot be sent again)."""

    __slots__ = ("_inner", "length", "trailers", "touched")

    def __init__(self, inner: Body) -> None:
        self._inner = inner
        self.length = inner.length
        self.trailers = inner.trailers
        self.touched = False

    async def read(self) -> bytes:
        data = await self._inner.read()
        if data:
            self.touched = True
        self.trailers = self._inner.trailers
        return data

    async def read_all(self, limit: int | None = None) -> bytes:
        return await read_all(self, limit)


class _AttemptWriter(Interceptor):
    """The writer of an attempt that may be retried: drops a response whose status is retried."""

    __slots__ = ("statuses", "deadline", "loop", "caught", "passed")

    def __init__(
        self, inner: ResponseWriter, ex: Exchange, outer: list[ResponseHook] | None,
        statuses: CodeRanges, deadline: float | None,
    ) -> None:
        super().__init__(inner, ex, outer)
        self.statuses = statuses
        self.deadline = deadline
        self.loop = asyncio.get_running_loop()
        self.caught = False
        self.passed = False

    def timed_out(self) -> bool:
        return self.deadline is not None and self.loop.time() >= self.deadline

    async def send_head(self, status: int, headers: Headers, reason: bytes | None = None) -> None:
        if self.caught:
            return
        if status < 200 and status != 101 and not self.passed:
            return  # interim response of an attempt that may be dropped
        if not self.passed and self.statuses and in_ranges(status, self.statuses) and not self.timed_out():
            self.caught = True
            return
        self.passed = True
        await self.emit_head(status, headers, reason)

    async def send_body(self, data: bytes) -> None:
        if not self.caught:
            await self.inner.send_body(data)

    async def end(self, trailers: Headers | None = None) -> None:
        if not self.caught:
            await self.inner.end(trailers)


class RetryHandler:
    __slots__ = ("name", "next", "attempts", "statuses", "max_body", "network", "initial", "timeout",
                 "non_idempotent", "rand")

    def __init__(self, name: str, next_handler: Handler, options: Retry, statuses: CodeRanges,
                 rand: Callable[[], float] = random.random) -> None:
        self.name = name
        self.next = next_handler
        self.attempts = options.attempts
        self.statuses = statuses
        self.max_body = options.max_request_body_bytes
        self.network = not options.disable_retry_on_network_error
        self.initial = options.initial_interval
        self.timeout = options.timeout
        self.non_idempotent = options.retry_non_idempotent_method
        self.rand = rand

    async def __call__(self, ex: Exchange) -> None:
        statuses = self.statuses if self.non_idempotent or ex.method not in NON_IDEMPOTENT else ()
        original = ex.body
        kept: bytes | None = None
        if statuses and type(original) is not EmptyBody:
            data, complete = await read_limited(original, self.max_body)
            if complete:
                kept = data
            else:
                # Too large to keep: no status retries, the peeked bytes go first.
                statuses = ()
                ex.body = ReplayBody(data, length=original.length, rest=original)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout if self.timeout > 0 else None
        delays = backoff_delays(self.initial, self.attempts, self.rand)
        writer = ex.writer
        outer = ex.response_hooks
        attempt = 1
        try:
            while True:
                if kept is not None:
                    ex.body = ReplayBody(kept, length=original.length, trailers=original.trailers)
                if attempt >= self.attempts:
                    ex.response_hooks = outer
                    await self.next(ex)
                    return
                if not await self._attempt(ex, writer, statuses, deadline, kept is not None):
                    return
                ex.status = 0
                delay = delays[attempt - 1]
                attempt += 1
                if ex.extras is None:
                    ex.extras = {}
                ex.extras["retry_attempts"] = attempt - 1
                if delay > 0:
                    await asyncio.sleep(delay)
        finally:
            ex.writer = writer
            ex.response_hooks = outer

    async def _attempt(
        self, ex: Exchange, writer: ResponseWriter, statuses: CodeRanges, deadline: float | None,
        replayable: bool,
    ) -> bool:
        """One attempt that may be retried; True when it must be retried."""
        outer = scope(ex)
        tracked: _TrackedBody | None = None
        if not replayable and type(ex.body) is not EmptyBody:
            tracked = _TrackedBody(ex.body)
            ex.body = tracked
        attempt_writer = _AttemptWriter(writer, ex, outer, statuses, deadline)
        ex.writer = attempt_writer
        try:
            await self.next(ex)
        except ProxyError as exc:
            if attempt_writer.caught and not isinstance(exc, ClientClosed):
                self._rewind(ex, tracked)
                return True  # the answer was already dropped; its body failed midway
            if attempt_writer.passed or isinstance(exc, ClientClosed) or attempt_writer.timed_out():
                raise
            untouched = tracked is None or not tracked.touched
            if self.network and isinstance(exc, UpstreamConnectError) and not exc.request_sent and untouched:
                self._rewind(ex, tracked)
                return True
            if statuses and in_ranges(exc.status, statuses) and untouched:
                self._rewind(ex, tracked)
                return True
            raise
        finally:
            ex.writer = writer
            ex.response_hooks = outer
        if attempt_writer.caught:
            self._rewind(ex, tracked)
            return True
        return False

    @staticmethod
    def _rewind(ex: Exchange, tracked: _TrackedBody | None) -> None:
        if tracked is not None:
            ex.body = tracked._inner

    def __repr__(self) -> str:
        return f"<Retry {self.name} attempts={self.attempts} status={list(self.statuses)}>"


def build_retry(options: Retry, next_handler: Handler, name: str, ctx: BuildContext | None = None) -> Handler:
    if not options.status and options.disable_retry_on_network_error:
        raise ValueError("retry middleware requires at least HTTP status codes or retry on TCP")
    if options.attempts <= 0:
        raise ValueError(f"incorrect (or empty) value for attempt ({options.attempts})")
    try:
        statuses = parse_code_ranges(options.status)
    except ValueError as exc:
        raise ValueError(f"creating HTTP code ranges: {exc}") from None
    if options.attempts == 1:
        return next_handler
    return RetryHandler(name, next_handler, options, statuses)


FACTORIES: dict[str, MiddlewareFactory] = {"retry": build_retry}
