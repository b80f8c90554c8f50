"""Per-entry-point settings of the HTTP/1.1 server and the set of its open connections.

:class:`ServerConfig` is everything a connection needs from ``entryPoints.<name>``, computed
once.  :class:`ConnectionSet` tracks the open connections of a listener: the count (metrics,
shutdown), graceful shutdown waits, and the timeout sweeper, which checks every connection's
deadlines a few times per shortest timeout instead of arming timers per request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from traefikpy.proxy.forwarded import ForwardedPolicy
from traefikpy.proxy.ipcheck import IPChecker


class Tracked(Protocol):
    """What the set needs from a connection."""

    def check_timeouts(self, now: float) -> None: ...

    def shutdown(self) -> None: ...

    def abort(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ProxyProtocolPolicy:
    """``entryPoints.<ep>.proxyProtocol``: whose PROXY headers are believed."""

    insecure: bool = False
    checker: IPChecker = field(default_factory=lambda: IPChecker(()))

    def trusts(self, peer_ip: str) -> bool:
        return self.insecure or self.checker.contains(peer_ip)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Everything an HTTP/1.1 connection needs from its entry point, precomputed once."""

    entrypoint: str = "web"
    scheme: str = "http"
    read_timeout: float = 60.0
    write_timeout: float = 0.0
    idle_timeout: float = 180.0
    max_header_bytes: int = 1 << 20
    keep_alive_max_requests: int = 0
    keep_alive_max_time: float = 0.0
    forwarded: ForwardedPolicy = field(default_factory=ForwardedPolicy)
    proxy_protocol: ProxyProtocolPolicy | None = None
    sanitize_path: bool = True
    encode_query_semicolons: bool = False
    denied_encodings: frozenset[bytes] = frozenset()
    max_concurrent_streams: int = 250  # HTTP/2 (http2.maxConcurrentStreams)


class ConnectionSet:
    """The open connections of one listener: count, shutdown and the timeout sweeper."""

    def __init__(self) -> None:
        self.conns: set[Tracked] = set()
        self._empty: asyncio.Event | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self._interval = 1.0

    def __len__(self) -> int:
        return len(self.conns)

    def add(self, conn: Tracked) -> None:
        self.conns.add(conn)

    def discard(self, conn: Tracked) -> None:
        self.conns.discard(conn)
        if not self.conns and self._empty is not None:
            self._empty.set()

    def start_sweeper(self, timeouts: Iterable[float]) -> None:
        """Check deadlines every quarter of the shortest timeout (between 50 ms and 1 s)."""
        positive = [t for t in timeouts if t > 0]
        self._interval = min(1.0, max(0.05, min(positive) / 4)) if positive else 1.0
        self._schedule()

    def _schedule(self) -> None:
        loop = asyncio.get_running_loop()
        self._sweeper = loop.call_later(self._interval, self._sweep, loop)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for conn in list(self.conns):
            conn.check_timeouts(now)
        self._sweeper = loop.call_later(self._interval, self._sweep, loop)

    def stop_sweeper(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    async def wait_empty(self, timeout: float) -> bool:
        if not self.conns:
            return True
        self._empty = asyncio.Event()
        try:
            async with asyncio.timeout(timeout if timeout > 0 else None):
                await self._empty.wait()
            return True
        except TimeoutError:
            return False
