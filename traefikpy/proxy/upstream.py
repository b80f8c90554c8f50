"""Upstream connection pools that outlive configuration graphs.

The compiler fills a :class:`Transport` per ``serversTransport`` (Traefik's defaults otherwise)
and hands the set to :meth:`Upstreams.configure` on every snapshot; services ask
:meth:`Upstreams.pool` for the pool of a (transport name, origin) key.  An unchanged transport
keeps its pools, so a reload keeps the warm keep-alive connections; a changed or removed one has
its idle connections closed (busy ones close when returned).

Pool decisions are synchronous (pick an idle connection, keep or close a returned one); only
dialing awaits.  Idle connections are reused most-recent first (like Go's transport), at most
``maxIdleConnsPerHost`` are kept, and a sweeper closes those idle longer than
``idleConnTimeout``.  ``stats()`` counts opened and reused connections for tests and metrics.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Protocol
from urllib.parse import urlsplit

from traefikpy.proxy.errors import UpstreamConnectError, UpstreamConnectTimeout
from traefikpy.proxy.h1client import IDLE, UpstreamConnection

DEFAULT_TRANSPORT: Final = "default@internal"


@dataclass(frozen=True, slots=True)
class ClientCertificate:
    """A client certificate for mutual TLS: file paths or PEM contents."""

    cert_file: str
    key_file: str


@dataclass(frozen=True, slots=True)
class Transport:
    """A ``serversTransport`` as the data plane needs it (defaults are Traefik's)."""

    name: str = DEFAULT_TRANSPORT
    server_name: str = ""
    insecure_skip_verify: bool = False
    root_cas: tuple[str, ...] = ()  # file paths or PEM contents; empty = system trust store
    certificates: tuple[ClientCertificate, ...] = ()
    max_idle_conns_per_host: int = 200
    dial_timeout: float = 30.0
    response_header_timeout: float = 0.0
    idle_conn_timeout: float = 90.0
    disable_http2: bool = False  # https servers: never offer h2 in ALPN (HTTP/2 client in h2client.py)
    read_idle_timeout: float = 0.0  # HTTP/2: PING after this long without a frame (0: never)
    ping_timeout: float = 15.0  # HTTP/2: close the connection when a PING is not answered in time


Origin = tuple[str, str, int]
"""``(scheme, host, port)`` of an upstream server."""


class ServerURL:
    """A parsed server URL (``http://10.0.0.1:8080/prefix``) with what forwarding precomputes."""

    __slots__ = ("url", "scheme", "host", "port", "raw_path", "authority", "origin")

    def __init__(self, url: str) -> None:
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https", "h2c"):
            raise ValueError(f"unsupported server URL scheme in {url!r} (http, https and h2c are served)")
        if not parts.hostname:
            raise ValueError(f"server URL {url!r} has no host")
        self.url = url
        self.scheme = scheme
        self.host = parts.hostname
        try:
            port = parts.port
        except ValueError:
            raise ValueError(f"invalid port in server URL {url!r}") from None
        self.port = port if port is not None else (443 if scheme == "https" else 80)  # h2c: 80
        self.raw_path = (parts.path or "").encode("latin-1")
        netloc = parts.netloc.rpartition("@")[2]
        self.authority = netloc.encode("latin-1")  # Host sent when passHostHeader is false
        self.origin: Origin = (scheme, self.host, self.port)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ServerURL) and other.url == self.url

    def __hash__(self) -> int:
        return hash(self.url)

    def __repr__(self) -> str:
        return f"ServerURL({self.url!r})"


@dataclass(slots=True)
class UpstreamStats:
    opened: int = 0
    reused: int = 0
    closed: int = 0
    failed: int = 0  # dials that failed


class Pool:
    """Keep-alive connections to one origin through one transport."""

    def __init__(self, key: tuple[str, Origin], transport: Transport, owner: Upstreams) -> None:
        self.key = key
        self.transport = transport
        self.owner = owner
        self.idle: list[UpstreamConnection] = []
        self.busy = 0
        self.retired = False

    @property
    def origin(self) -> Origin:
        return self.key[1]

    def take_idle(self) -> UpstreamConnection | None:
        """The most recently used idle connection, or None (synchronous: no dial)."""
        idle = self.idle
        while idle:
            conn = idle.pop()
            if conn.state == IDLE and not conn.transport.is_closing():
                conn.reused = True
                self.busy += 1
                self.owner.counters.reused += 1
                return conn
        return None

    async def acquire(self) -> UpstreamConnection:
        """An idle connection (most recent first) or a new one."""
        conn = self.take_idle()
        if conn is None:
            conn = await self._dial()
            self.busy += 1
        return conn

    async def _dial(self) -> UpstreamConnection:
        loop = asyncio.get_running_loop()
        scheme, host, port = self.origin
        t = self.transport
        ctx = self.owner.ssl_context(t) if scheme == "https" else None
        server_hostname = (t.server_name or host) if ctx is not None else None
        try:
            async with asyncio.timeout(t.dial_timeout if t.dial_timeout > 0 else None):
                _, conn = await loop.create_connection(
                    lambda: UpstreamConnection(self), host, port, ssl=ctx, server_hostname=server_hostname
                )
        except TimeoutError:
            self.owner.counters.failed += 1
            raise UpstreamConnectTimeout(f"dial {host}:{port}: timeout after {t.dial_timeout}s") from None
        except (OSError, ssl.SSLError) as exc:
            self.owner.counters.failed += 1
            raise UpstreamConnectError(f"dial {host}:{port}: {exc}") from exc
        self.owner.counters.opened += 1
        return conn

    def release(self, conn: UpstreamConnection) -> None:
        """Give a connection back after a complete, reusable exchange."""
        self.busy -= 1
        if (
            self.retired
            or not conn.reusable
            or len(self.idle) >= self.transport.max_idle_conns_per_host
            or conn.transport.is_closing()
        ):
            conn.close()
            return
        conn.state = IDLE
        conn.idle_since = conn.loop.time()
        self.idle.append(conn)

    def discard(self, conn: UpstreamConnection) -> None:
        """Close a borrowed connection that cannot be reused."""
        self.busy -= 1
        conn.close()

    def detach(self, conn: UpstreamConnection) -> tuple[asyncio.Transport, bytes]:
        """Take a borrowed connection out of the pool for a byte pipe (after a 101)."""
        self.busy -= 1
        return conn.detach()

    def forget(self, conn: UpstreamConnection) -> None:
        """Called by a connection that died, closed or left for a pipe; idempotent."""
        if conn.forgotten:
            return
        conn.forgotten = True
        if conn in self.idle:
            self.idle.remove(conn)
        self.owner.counters.closed += 1

    def expire(self, now: float) -> None:
        limit = self.transport.idle_conn_timeout
        if limit <= 0 or not self.idle:
            return
        for conn in [c for c in self.idle if now - c.idle_since >= limit]:
            conn.close()

    def retire(self) -> None:
        """The transport changed or went away: close idle connections, refuse returns."""
        self.retired = True
        for conn in list(self.idle):
            conn.close()

    def __repr__(self) -> str:
        scheme, host, port = self.origin
        return f"<Pool {self.key[0]} {scheme}://{host}:{port} idle={len(self.idle)} busy={self.busy}>"


class Companion(Protocol):
    """Pools of another protocol that live beside an :class:`Upstreams` (same transports)."""

    def configure(self, transports: Mapping[str, Transport]) -> None: ...

    async def close(self) -> None: ...


class Upstreams:
    """All upstream pools, keyed by (serversTransport name, origin); lives as long as the app."""

    def __init__(self, transports: Iterable[Transport] = ()) -> None:
        self.transports: dict[str, Transport] = {DEFAULT_TRANSPORT: Transport()}
        self.pools: dict[tuple[str, Origin], Pool] = {}
        self.counters = UpstreamStats()
        self._ssl: dict[Transport, ssl.SSLContext] = {}
        self._sweeper: asyncio.TimerHandle | None = None
        # Pools of other protocols kept beside these (HTTP/2: traefikpy.proxy.h2client.H2Upstreams),
        # told about transport changes and shutdown.
        self.companions: list[Companion] = []
        if transports:
            self.configure({t.name: t for t in transports})

    def configure(self, transports: Mapping[str, Transport]) -> None:
        """Install the transports of a new snapshot; keeps pools of unchanged ones."""
        wanted = dict(transports)
        wanted.setdefault(DEFAULT_TRANSPORT, self.transports.get(DEFAULT_TRANSPORT, Transport()))
        for key, pool in list(self.pools.items()):
            if wanted.get(key[0]) != pool.transport:
                pool.retire()
                del self.pools[key]
        self.transports = wanted
        self._ssl = {t: c for t, c in self._ssl.items() if wanted.get(t.name) == t}
        for companion in self.companions:
            companion.configure(wanted)

    def pool(self, server: ServerURL | str, transport: str = DEFAULT_TRANSPORT) -> Pool:
        """The pool for ``server`` through the named transport (created on first use)."""
        url = server if isinstance(server, ServerURL) else ServerURL(server)
        key = (transport, url.origin)
        pool = self.pools.get(key)
        if pool is None:
            settings = self.transports.get(transport)
            if settings is None:
                raise KeyError(f"unknown serversTransport {transport!r}")
            pool = self.pools[key] = Pool(key, settings, self)
            self._ensure_sweeper()
        return pool

    def ssl_context(self, transport: Transport) -> ssl.SSLContext:
        ctx = self._ssl.get(transport)
        if ctx is None:
            ctx = self._ssl[transport] = build_ssl_context(transport)
        return ctx

    def stats(self) -> dict[str, int]:
        """Connection counters: opened, reused, closed, failed dials, idle and busy now."""
        c = self.counters
        return {
            "opened": c.opened,
            "reused": c.reused,
            "closed": c.closed,
            "failed": c.failed,
            "idle": sum(len(p.idle) for p in self.pools.values()),
            "busy": sum(p.busy for p in self.pools.values()),
        }

    def _ensure_sweeper(self) -> None:
        if self._sweeper is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            self._sweeper = loop.call_later(self._interval(), self._sweep, loop)

    def _interval(self) -> float:
        limits = [t.idle_conn_timeout for t in self.transports.values() if t.idle_conn_timeout > 0]
        return min(1.0, max(0.05, min(limits) / 4)) if limits else 1.0

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for pool in list(self.pools.values()):
            pool.expire(now)
        self._sweeper = loop.call_later(self._interval(), self._sweep, loop)

    async def close(self) -> None:
        """Close every pooled connection (application shutdown)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for pool in self.pools.values():
            pool.retire()
        self.pools.clear()
        for companion in self.companions:
            await companion.close()

    def __repr__(self) -> str:
        return f"<Upstreams pools={len(self.pools)} {self.stats()}>"


def build_ssl_context(t: Transport) -> ssl.SSLContext:
    """One client SSLContext per transport: rootCAs (replace the system store), client
    certificates, ``insecureSkipVerify``; ALPN offers only http/1.1."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if t.insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif t.root_cas:
        for ca in t.root_cas:
            if "-----BEGIN" in ca:
                ctx.load_verify_locations(cadata=ca)
            else:
                ctx.load_verify_locations(cafile=ca)
    else:
        ctx.load_default_certs()
    for cert in t.certificates:
        _load_client_cert(ctx, cert)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def _load_client_cert(ctx: ssl.SSLContext, cert: ClientCertificate) -> None:
    if "-----BEGIN" not in cert.cert_file and "-----BEGIN" not in cert.key_file:
        ctx.load_cert_chain(cert.cert_file, cert.key_file)
        return
    # ssl only loads chains from files: spill PEM contents to private temporary files.
    paths: list[str] = []
    try:
        for content in (cert.cert_file, cert.key_file):
            if "-----BEGIN" in content:
                fd, path = tempfile.mkstemp(suffix=".pem")
                with os.fdopen(fd, "w") as fh:
                    fh.write(content)
                paths.append(path)
            else:
                paths.append(content)
        ctx.load_cert_chain(paths[0], paths[1])
    finally:
        for path, content in zip(paths, (cert.cert_file, cert.key_file), strict=False):
            if "-----BEGIN" in content:
                os.unlink(path)
