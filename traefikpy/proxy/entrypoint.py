"""An HTTP entry point: the listening socket(s), its connections, graceful shutdown.

``EntryPointServer(settings, app)`` listens on ``settings.address`` (``":80"`` = every
interface, ``"127.0.0.1:0"`` = a free loopback port) and serves each connection with
:class:`~traefikpy.proxy.server.H1Connection`, calling ``app`` (the root handler; usually the
switch that reads the current graph) for every request.  ``stop()`` is Traefik's graceful
shutdown: keep accepting for ``requestAcceptGraceTimeout``, stop listening, close idle keep-alive
connections at once, let in-flight requests finish within ``graceTimeOut`` (their responses say
``Connection: close``), then close whatever is left.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from traefikpy.config.static_entrypoints import parse_address
from traefikpy.proxy.forwarded import ForwardedPolicy
from traefikpy.proxy.h2server import H2Connection, H2CSniffer
from traefikpy.proxy.http import Handler
from traefikpy.proxy.ipcheck import IPChecker
from traefikpy.proxy.server import ConnectionSet, H1Connection, ProxyProtocolPolicy, ServerConfig

log = logging.getLogger("traefikpy.proxy")

ENCODED_CHARACTERS: Final = {
    "allow_encoded_slash": b"%2F",
    "allow_encoded_back_slash": b"%5C",
    "allow_encoded_null_character": b"%00",
    "allow_encoded_semicolon": b"%3B",
    "allow_encoded_percent": b"%25",
    "allow_encoded_question_mark": b"%3F",
    "allow_encoded_hash": b"%23",
}
"""``http.encodedCharacters`` options and the escape each one allows."""


@dataclass(frozen=True, slots=True)
class EntryPointSettings:
    """What the app fills from ``entryPoints.<name>`` (defaults are Traefik v3's)."""

    name: str = "web"
    address: str = ":80"
    reuse_port: bool = False
    backlog: int = 1024
    read_timeout: float = 60.0
    write_timeout: float = 0.0
    idle_timeout: float = 180.0
    grace_timeout: float = 10.0
    request_accept_grace_timeout: float = 0.0
    max_header_bytes: int = 1 << 20
    keep_alive_max_requests: int = 0
    keep_alive_max_time: float = 0.0
    forwarded_insecure: bool = False
    forwarded_trusted_ips: tuple[str, ...] = ()
    forwarded_connection: tuple[str, ...] = ()
    proxy_protocol: bool = False
    proxy_protocol_insecure: bool = False
    proxy_protocol_trusted_ips: tuple[str, ...] = ()
    sanitize_path: bool = True
    encode_query_semicolons: bool = False
    denied_encodings: frozenset[bytes] = field(default_factory=frozenset)
    ssl_context: ssl.SSLContext | None = None  # TLS termination (the TLS layer sets it)
    hostname: str | None = None  # X-Forwarded-Server; default: this machine's name
    max_concurrent_streams: int = 250  # http2.maxConcurrentStreams

    def server_config(self) -> ServerConfig:
        pp = None
        if self.proxy_protocol:
            pp = ProxyProtocolPolicy(
                insecure=self.proxy_protocol_insecure, checker=IPChecker(self.proxy_protocol_trusted_ips)
            )
        return ServerConfig(
            entrypoint=self.name,
            scheme="https" if self.ssl_context is not None else "http",
            read_timeout=self.read_timeout,
            write_timeout=self.write_timeout,
            idle_timeout=self.idle_timeout,
            max_header_bytes=self.max_header_bytes,
            keep_alive_max_requests=self.keep_alive_max_requests,
            keep_alive_max_time=self.keep_alive_max_time,
            forwarded=ForwardedPolicy(
                insecure=self.forwarded_insecure,
                trusted_ips=self.forwarded_trusted_ips,
                connection=self.forwarded_connection,
                hostname=self.hostname,
            ),
            proxy_protocol=pp,
            sanitize_path=self.sanitize_path,
            encode_query_semicolons=self.encode_query_semicolons,
            denied_encodings=self.denied_encodings,
            max_concurrent_streams=self.max_concurrent_streams,
        )


def split_address(address: str) -> tuple[str | None, int]:
    """``":80"`` -> ``(None, 80)`` (all interfaces); ``"[::1]:0"`` -> ``("::1", 0)``: the
    configuration's :func:`~traefikpy.config.static_entrypoints.parse_address`, as the socket API wants it."""
    listen = parse_address(address)
    return (listen.host or None), listen.port


class EntryPointServer:
    """One HTTP entry point; ``await start()``, then ``await stop()``."""

    def __init__(self, settings: EntryPointSettings, app: Handler) -> None:
        self.settings = settings
        self.app = app
        self.config = settings.server_config()
        self.connections = ConnectionSet()
        self._server: asyncio.Server | None = None
        self._stopping = False

    def set_app(self, app: Handler) -> None:
        """Replace the root handler, for open connections too (their next request uses it)."""
        self.app = app
        for conn in self.connections.conns:
            if isinstance(conn, (H1Connection, H2Connection)):
                conn.app = app

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        host, port = split_address(self.settings.address)
        self._server = await loop.create_server(
            self._protocol,
            host=host,
            port=port,
            backlog=self.settings.backlog,
            reuse_port=self.settings.reuse_port or None,
            ssl=self.settings.ssl_context,
        )
        cfg = self.config
        self.connections.start_sweeper((cfg.read_timeout, cfg.write_timeout, cfg.idle_timeout))
        log.debug("entry point %s listening on %s", self.settings.name, self.addresses)

    def _protocol(self) -> H1Connection:
        # Plain HTTP/1.1, or h2c when the client opens with the HTTP/2 preface (as Traefik).
        if self.settings.ssl_context is not None:
            return H1Connection(self.app, self.config, self.connections)
        return H2CSniffer(self.app, self.config, self.connections)

    @property
    def sockets(self) -> Sequence[socket.socket]:
        return self._server.sockets if self._server is not None else ()

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return [(str(s.getsockname()[0]), int(s.getsockname()[1])) for s in self.sockets]

    @property
    def port(self) -> int:
        """The bound port (useful with ``:0``)."""
        return int(self.sockets[0].getsockname()[1]) if self.sockets else 0

    @property
    def open_connections(self) -> int:
        return len(self.connections)

    async def stop(self, grace: float | None = None) -> None:
        """Graceful shutdown (see the module docstring); ``grace`` overrides ``graceTimeOut``."""
        if self._stopping:
            return
        self._stopping = True
        if self.settings.request_accept_grace_timeout > 0:
            await asyncio.sleep(self.settings.request_accept_grace_timeout)
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections.conns):
            conn.shutdown()
        timeout = self.settings.grace_timeout if grace is None else grace
        if not await self.connections.wait_empty(timeout):
            log.debug("entry point %s: closing %d connections after grace", self.settings.name, len(self.connections))
            for conn in list(self.connections.conns):
                conn.abort()
            await self.connections.wait_empty(1.0)
        self.connections.stop_sweeper()
        if self._server is not None:
            try:
                async with asyncio.timeout(1.0):
                    await self._server.wait_closed()
            except TimeoutError:
                pass

    def __repr__(self) -> str:
        return f"<EntryPointServer {self.settings.name} {self.settings.address} conns={self.open_connections}>"
