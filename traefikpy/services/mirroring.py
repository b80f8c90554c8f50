"""The ``mirroring`` service: the main service answers; mirrors get copies and are ignored.

Which requests a mirror gets follows Traefik's counter: on request number ``n`` (all requests
counted) a mirror with ``percent`` p that has received ``c`` copies gets one more when
``c * 100 < n * p``, so exactly ``p``% of requests are mirrored, evenly spread.

With ``mirrorBody`` (default true) the body is read once, up to ``maxBodySize`` bytes (-1:
unlimited), and replayed to the main service and each mirror; a larger body is passed on to the
main service untouched (what was read, then the rest of the stream) and not mirrored.  Without
``mirrorBody`` the main service streams the body and mirrors get an empty one.

Mirrors never slow down or fail the main response: they start after the main service is done, as
background tasks with their own timeout, at most ``max_pending`` at once (beyond that copies are
dropped and counted); their responses are discarded and their errors only counted.  Upgrade
requests (WebSocket) are not mirrored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from traefikpy.aio import TaskGroup
from traefikpy.proxy.http import Exchange, Handler, Headers
from traefikpy.services.replay import (
    DiscardWriter,
    ReplayBody,
    copy_exchange,
    read_limited,
    without_body_headers,
)
from traefikpy.services.server import ServiceBuildError
from traefikpy.services.status import StatusNode, StatusReporter, StatusUpdater, watch_child

log = logging.getLogger("traefikpy.mirroring")


class Mirror:
    """One mirror of a mirroring service and its share of the traffic."""

    __slots__ = ("name", "handler", "percent", "count")

    def __init__(self, name: str, handler: Handler, percent: int) -> None:
        if not 0 <= percent <= 100:
            raise ServiceBuildError("percent must be between 0 and 100")
        self.name = name
        self.handler = handler
        self.percent = percent
        self.count = 0


class Mirroring(StatusNode):
    """A ``mirroring`` service handler."""

    __slots__ = (
        "name", "main", "mirrors", "mirror_body", "max_body_size", "max_pending", "timeout", "sent",
        "failed", "dropped", "_total", "_tasks",
    )
    kind = "mirroring"

    def __init__(
        self,
        name: str,
        main: Handler,
        mirrors: Sequence[Mirror],
        *,
        mirror_body: bool = True,
        max_body_size: int = -1,
        wants_health_check: bool = False,
        tasks: TaskGroup | None = None,
        max_pending: int = 1024,
        timeout: float = 30.0,
    ) -> None:
        super().__init__(wants_health_check)
        self.name = name
        self.main = main
        self.mirrors = list(mirrors)
        self.mirror_body = mirror_body
        self.max_body_size = max_body_size
        self.max_pending = max_pending
        self.timeout = timeout
        self.sent = 0  # mirror copies that completed
        self.failed = 0  # mirror copies that raised or timed out
        self.dropped = 0  # copies skipped because max_pending were already running
        self._total = 0
        self._tasks = tasks if tasks is not None else TaskGroup(f"mirroring:{name}")

    @property
    def up(self) -> bool:
        main = self.main
        return main.up if isinstance(main, StatusReporter) else True

    def register_status_updater(self, fn: StatusUpdater) -> None:
        # The status of a mirroring service is its main service's, so parents watch that one.
        if not self.wants_health_check:
            raise ServiceBuildError(f"healthCheck not enabled in config for this {self.kind} service")
        watch_child(self.name, "main service", self.main, fn)

    def _select(self) -> list[Mirror]:
        self._total += 1
        total = self._total
        chosen = []
        for mirror in self.mirrors:
            if mirror.count * 100 < total * mirror.percent:
                mirror.count += 1
                chosen.append(mirror)
        return chosen

    async def __call__(self, ex: Exchange) -> None:
        # An upgrade (WebSocket) takes over the client connection: a copy could not follow it.
        chosen = self._select() if not getattr(ex, "upgrade", b"") else []
        if not chosen:
            await self.main(ex)
            return
        body = b""
        original = ex.body
        if self.mirror_body:
            body, complete = await read_limited(original, self.max_body_size)
            if not complete:
                ex.body = ReplayBody(body, length=original.length, rest=original)
                log.debug("%s: not mirrored, request body larger than %d bytes", self.name, self.max_body_size)
                await self.main(ex)
                return
            ex.body = ReplayBody(body, length=original.length, trailers=original.trailers)
            headers = list(ex.headers)
        else:
            headers = without_body_headers(ex.headers)
        # The copy is taken before the main service runs: it may edit the request in place.
        snapshot = copy_exchange(ex, ReplayBody(b"", length=0), DiscardWriter(), headers)
        length = original.length if self.mirror_body else 0
        try:
            await self.main(ex)
        except asyncio.CancelledError:
            raise  # the client went away: no mirroring, as in Traefik
        except BaseException:
            self._dispatch(snapshot, body, length, original.trailers if self.mirror_body else None, chosen)
            raise
        self._dispatch(snapshot, body, length, original.trailers if self.mirror_body else None, chosen)

    def _dispatch(
        self, snapshot: Exchange, body: bytes, length: int | None, trailers: Headers | None, chosen: list[Mirror]
    ) -> None:
        if len(self._tasks) >= self.max_pending:
            self.dropped += len(chosen)
            return
        self._tasks.spawn(self._mirror(snapshot, body, length, trailers, chosen), "mirror")

    async def _mirror(self, snapshot: Exchange, body: bytes, length: int | None, trailers: Headers | None, chosen: list[Mirror]) -> None:
        await asyncio.gather(*(self._one(mirror, snapshot, body, length, trailers) for mirror in chosen))

    async def _one(self, mirror: Mirror, snapshot: Exchange, body: bytes, length: int | None, trailers: Headers | None) -> None:
        copy = copy_exchange(snapshot, ReplayBody(body, length=length, trailers=trailers), DiscardWriter())
        try:
            await asyncio.wait_for(mirror.handler(copy), self.timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a mirror's failure is never the client's problem
            self.failed += 1
            log.debug("%s: mirror %s failed: %r", self.name, mirror.name, exc)
        else:
            self.sent += 1

    async def close(self) -> None:
        """Cancel the mirror copies still running (graph retired)."""
        await self._tasks.close()

    def __repr__(self) -> str:
        mirrors = " ".join(f"{m.name}:{m.percent}%" for m in self.mirrors)
        return (
            f"<Mirroring {self.name} main={getattr(self.main, 'name', '?')} [{mirrors}] "
            f"body={self.mirror_body} max={self.max_body_size} pending={len(self._tasks)}>"
        )


def build_mirroring(
    name: str,
    main: Handler,
    mirrors: Sequence[tuple[str, Handler, int]],
    *,
    mirror_body: bool = True,
    max_body_size: int = -1,
    health_check: bool = False,
    tasks: TaskGroup | None = None,
    max_pending: int = 1024,
    timeout: float = 30.0,
) -> Mirroring:
    """A ``mirroring`` service: ``main`` answers, ``(name, handler, percent)`` mirrors get copies.
    ``tasks`` owns the background mirror copies (default: one group per service)."""
    service = Mirroring(
        name,
        main,
        [Mirror(mirror_name, handler, percent) for mirror_name, handler, percent in mirrors],
        mirror_body=mirror_body,
        max_body_size=max_body_size,
        wants_health_check=health_check,
        tasks=tasks,
        max_pending=max_pending,
        timeout=timeout,
    )
    if health_check and not isinstance(main, StatusReporter):
        raise ServiceBuildError(f"service of mirroring {name} not a status reporter ({type(main).__name__})")
    return service
