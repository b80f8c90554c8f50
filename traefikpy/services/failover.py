"""The ``failover`` service: the main service while it is up, else the fallback.

Health-based (Traefik): the failover watches its main service, which must report status (have
its own ``healthCheck``), and sends requests to the fallback while the main is down.  The fallback
is watched only when the failover itself has ``healthCheck`` (then the failover reports down when
both are down); otherwise it counts as up.  Both down: :class:`NoHealthyServer` (503).  As an
addition, a main service that raises :class:`NoHealthyServer` before answering (its last server
went down between two health reports) is also failed over.

Status-based (``errors``): the request body is buffered up to ``maxRequestBodyBytes`` (-1:
unlimited; larger bodies get 413) so the request can be replayed.  When the main service answers
with a status in ``errors.status`` (``"500"`` or ``"500-504"`` items), or fails before answering
with such a status (502 connection errors, 504 timeouts, 503 no server), that answer is dropped
and the request replayed on the fallback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from traefikpy.proxy.http import Exchange, Handler, Headers, ResponseWriter
from traefikpy.services.balancer import trim_hooks
from traefikpy.services.replay import ReplayBody, read_limited
from traefikpy.services.server import NoHealthyServer, ServiceBuildError
from traefikpy.services.status import StatusNode, StatusReporter, watch_child


def parse_status_ranges(items: Sequence[str | int]) -> tuple[tuple[int, int], ...]:
    """``["500", "502-504"]`` → ``((500, 500), (502, 504))``; raises ValueError when malformed."""
    ranges = []
    for item in items:
        text = str(item).strip()
        low, sep, high = text.partition("-")
        try:
            start = int(low)
            end = int(high) if sep else start
        except ValueError:
            raise ValueError(f"invalid status code range {text!r}") from None
        if not 100 <= start <= end <= 599:
            raise ValueError(f"invalid status code range {text!r}")
        ranges.append((start, end))
    return tuple(ranges)


@dataclass(frozen=True, slots=True)
class FailoverErrors:
    """Traefik's ``failover.errors``: status ranges that trigger failover, body buffer limit."""

    status: tuple[tuple[int, int], ...]
    max_request_body_bytes: int = -1

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> FailoverErrors | None:
        if data is None:
            return None
        limit = data.get("maxRequestBodyBytes")
        return cls(parse_status_ranges(data.get("status") or ()), -1 if limit is None else int(limit))

    def matches(self, status: int) -> bool:
        return any(low <= status <= high for low, high in self.status)


class _CatchingWriter:
    """Passes a response through unless its status triggers failover; then swallows it."""

    __slots__ = ("_inner", "_errors", "caught")

    def __init__(self, inner: ResponseWriter, errors: FailoverErrors) -> None:
        self._inner = inner
        self._errors = errors
        self.caught = False

    async def send_head(self, status: int, headers: Headers, reason: bytes | None = None) -> None:
        if self._errors.matches(status):
            self.caught = True
            return
        await self._inner.send_head(status, headers, reason)

    async def send_body(self, data: bytes) -> None:
        if not self.caught:
            await self._inner.send_body(data)

    async def end(self, trailers: Headers | None = None) -> None:
        if not self.caught:
            await self._inner.end(trailers)

    def __getattr__(self, name: str) -> Any:
        # Anything else a writer offers (e.g. ``hijack`` after a 101) is the inner writer's.
        return getattr(self._inner, name)


class Failover(StatusNode):
    """A ``failover`` service handler."""

    __slots__ = ("name", "main", "fallback", "errors", "main_up", "fallback_up")
    kind = "failover"

    def __init__(
        self,
        name: str,
        main: Handler,
        fallback: Handler,
        *,
        wants_health_check: bool = False,
        errors: FailoverErrors | None = None,
    ) -> None:
        super().__init__(wants_health_check)
        self.name = name
        self.main = main
        self.fallback = fallback
        self.errors = errors
        if errors is None or (isinstance(main, StatusReporter) and main.wants_health_check):
            self.main_up = watch_child(name, "main service", main, self._main_changed)
        else:
            self.main_up = True  # status-based only: the main's answers decide
        self.fallback_up = True
        if wants_health_check:
            self.fallback_up = watch_child(name, "fallback service", fallback, self._fallback_changed)
        self._set_up(self.main_up or self.fallback_up)

    def _main_changed(self, up: bool) -> None:
        self.main_up = up
        self._set_up(self.main_up or self.fallback_up)

    def _fallback_changed(self, up: bool) -> None:
        self.fallback_up = up
        self._set_up(self.main_up or self.fallback_up)

    async def __call__(self, ex: Exchange) -> None:
        if self.main_up:
            if self.errors is not None:
                if await self._try_main_with_errors(ex, self.errors):
                    return
            elif await self._try_main(ex):
                return
        if not self.fallback_up:
            raise NoHealthyServer(self.name)
        await self.fallback(ex)

    async def _try_main(self, ex: Exchange) -> bool:
        hooks = ex.response_hooks
        mark = len(hooks) if hooks else 0
        try:
            await self.main(ex)
        except NoHealthyServer:
            if ex.status != 0:
                raise
            trim_hooks(ex, mark)
            return False
        return True

    async def _try_main_with_errors(self, ex: Exchange, errors: FailoverErrors) -> bool:
        original = ex.body
        data, complete = await read_limited(original, errors.max_request_body_bytes)
        if not complete:
            await ex.respond(413, b"Request Entity Too Large")
            return True
        ex.body = ReplayBody(data, length=original.length, trailers=original.trailers)
        hooks = ex.response_hooks
        mark = len(hooks) if hooks else 0
        writer = ex.writer
        catcher = _CatchingWriter(writer, errors)
        ex.writer = catcher
        try:
            await self.main(ex)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            status = getattr(exc, "status", 502)
            if catcher.caught or ex.status != 0 or not (isinstance(status, int) and errors.matches(status)):
                raise
        finally:
            ex.writer = writer
        if not catcher.caught and ex.status != 0:
            return True
        # Replay on the fallback: forget the dropped answer and what the main attempt registered.
        trim_hooks(ex, mark)
        ex.status = 0
        ex.body = ReplayBody(data, length=original.length, trailers=original.trailers)
        return False

    def __repr__(self) -> str:
        main = "up" if self.main_up else "down"
        fallback = "up" if self.fallback_up else "down"
        errors = f" errors={list(self.errors.status)}" if self.errors is not None else ""
        return (
            f"<Failover {self.name} main={getattr(self.main, 'name', '?')}({main}) "
            f"fallback={getattr(self.fallback, 'name', '?')}({fallback}){errors}>"
        )


def build_failover(
    name: str,
    main: Handler,
    fallback: Handler,
    *,
    health_check: bool = False,
    errors: FailoverErrors | None = None,
) -> Failover:
    """A ``failover`` service.  Raises :class:`ServiceBuildError` when the main service cannot
    report its status (no ``healthCheck``) and no ``errors`` are configured, or when
    ``health_check`` is set and the fallback cannot report."""
    try:
        return Failover(name, main, fallback, wants_health_check=health_check, errors=errors)
    except ValueError as exc:
        raise ServiceBuildError(str(exc)) from None
