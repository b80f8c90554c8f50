"""An HTTP entry point that serves TLS and plain HTTP on the same port, as Traefik does.

Each accepted socket is peeked (``MSG_PEEK``, nothing consumed): a first byte ``0x16`` is a TLS
handshake, anything else plain HTTP.  For TLS the peeked ClientHello also gives the SNI, so the
option set (versions, client authentication, ALPN) and the certificate are chosen before the
handshake starts, from the :class:`~traefikpy.tls.manager.TLSManager`'s current runtime; then the
socket is handed to the loop with that context (``connect_accepted_socket``).  A refused SNI
(``sniStrict`` and no certificate) closes the connection before any handshake byte is sent.

The 421 check (:func:`misdirected_check`) compares the options of the Host header with those of
the SNI the handshake saw (:func:`~traefikpy.tls.manager.server_name_of`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import socket
import ssl
from collections.abc import Callable
from typing import Final

from traefikpy.proxy import proxyproto
from traefikpy.proxy.entrypoint import EntryPointServer, EntryPointSettings, split_address
from traefikpy.proxy.h2server import ALPNSelector, H2Connection, H2CSniffer
from traefikpy.proxy.http import Exchange, Handler, TryFast
from traefikpy.proxy.server import ConnectionSet, H1Connection, ServerConfig
from traefikpy.tls.clienthello import MAX_HELLO, NEED_MORE, Hello, read_client_hello
from traefikpy.tls.manager import ACME_TLS_ALPN, TLSManager, server_name_of

log = logging.getLogger("traefikpy.tls")

PEEK_TIMEOUT: Final = 10.0
"""How long a new connection may take to send its first bytes (or a whole ClientHello)."""

MISDIRECTED: Final = b"Misdirected Request\n"

def misdirected_check(manager: TLSManager, entrypoint: str, next_handler: Handler) -> Handler:
    """Traefik's SNI check: a TLS request whose Host maps to other TLS options than its SNI gets
    ``421 Misdirected Request`` (the handshake was made with the wrong option set)."""

    def misdirected(ex: Exchange) -> bool:
        if ex.tls is not None:
            sni = server_name_of(ex.tls)
            if ex.host != sni:
                return manager.current.misdirected(entrypoint, ex.host, sni)
        return False

    async def check(ex: Exchange) -> None:
        if misdirected(ex):
            await ex.respond(421, MISDIRECTED)
            return
        await next_handler(ex)

    next_try: TryFast | None = getattr(next_handler, "try_fast", None)
    if next_try is not None:

        def try_fast(ex: Exchange) -> bool:
            if ex.tls is None:  # plain HTTP on this port: nothing to check (one call saved per request)
                return next_try(ex)
            return not misdirected(ex) and next_try(ex)

        check.try_fast = try_fast  # type: ignore[attr-defined]
    check.plain = next_handler  # type: ignore[attr-defined]  # what plain HTTP connections run
    return check


class _Listener:
    """The listening sockets, shaped like the part of ``asyncio.Server`` the base class uses."""

    def __init__(self, sockets: list[socket.socket], loop: asyncio.AbstractEventLoop) -> None:
        self.sockets = sockets
        self._loop = loop
        self._closed = asyncio.Event()

    def close(self) -> None:
        sockets, self.sockets = self.sockets, []  # like asyncio.Server: no sockets once closed
        for sock in sockets:
            self._loop.remove_reader(sock.fileno())
            sock.close()
        self._closed.set()

    async def wait_closed(self) -> None:
        await self._closed.wait()


class _ProxiedConnection(H1Connection):
    """A TLS connection whose PROXY header was read before the handshake: its client address
    comes from that header (when the peer is trusted), not from the socket."""

    def __init__(self, app: Handler, config: ServerConfig, conns: ConnectionSet, client: tuple[str, int] | None) -> None:
        super().__init__(app, config, conns)
        self._client = client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if self._client is not None:
            self._set_client(*self._client)


class TLSEntryPoint(EntryPointServer):
    """An entry point answering TLS (certificates and options from ``manager``) and plain HTTP."""

    def __init__(self, settings: EntryPointSettings, app: Handler, manager: TLSManager) -> None:
        super().__init__(settings, app)
        self.manager = manager
        self.tls_config = dataclasses.replace(self.config, scheme="https")
        self.proxied_tls_config = dataclasses.replace(self.tls_config, proxy_protocol=None)
        self._pending: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        host, port = split_address(self.settings.address)
        sockets = _listen(host, port, self.settings.backlog, self.settings.reuse_port)
        listener = _Listener(sockets, loop)
        for sock in sockets:
            loop.add_reader(sock.fileno(), self._accept, sock)
        self._server = listener  # type: ignore[assignment]
        cfg = self.config
        self.connections.start_sweeper((cfg.read_timeout, cfg.write_timeout, cfg.idle_timeout))

    def _accept(self, listening: socket.socket) -> None:
        for _ in range(64):  # bounded per wake-up; the reader fires again if more are queued
            try:
                conn, _addr = listening.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # EMFILE and friends: log, keep listening
                log.warning("entry point %s: accept failed: %s", self.settings.name, exc)
                return
            conn.setblocking(False)
            if conn.family in (socket.AF_INET, socket.AF_INET6):
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            task = asyncio.get_running_loop().create_task(self._serve(conn), name=f"tls-accept:{self.settings.name}")
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _serve(self, conn: socket.socket) -> None:
        try:
            await self._hand_over(conn)
        except asyncio.CancelledError:  # stop() while peeking or handshaking
            conn.close()
            raise
        except (ssl.SSLError, OSError, TimeoutError, proxyproto.ProxyProtocolError) as exc:
            log.debug("entry point %s: connection dropped before serving: %s", self.settings.name, exc)
            conn.close()

    async def _hand_over(self, conn: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        policy = self.config.proxy_protocol
        async with asyncio.timeout(PEEK_TIMEOUT):
            hello, header = await _peek(loop, conn, policy is not None)
        if not hello.tls:
            # Plain HTTP; a PROXY header is still unread and the connection parses it itself.
            await loop.connect_accepted_socket(self._protocol, conn)
            return
        factory: Callable[[], H1Connection] = self._tls_protocol
        h2_factory = functools.partial(H2Connection, self.app, self.tls_config, self.connections)
        if header is not None:
            # TLS after a PROXY header: drop the header from the socket, keep its address.
            _consume(conn, header.consumed)
            peer = conn.getpeername()
            trusted = policy is not None and isinstance(peer, tuple) and policy.trusts(str(peer[0]))
            client = (header.src_ip, header.src_port) if trusted and not header.local else None
            factory = functools.partial(_ProxiedConnection, self.app, self.proxied_tls_config, self.connections, client)
            h2_factory = functools.partial(H2Connection, self.app, self.proxied_tls_config, self.connections, client)
        local = conn.getsockname()
        local_ip = str(local[0]).split("%", 1)[0] if isinstance(local, tuple) else ""
        ctx = self.manager.acme_tls_context(hello.server_name) if ACME_TLS_ALPN in hello.alpn else None
        if ctx is None:
            ctx = self.manager.current.context_for(self.settings.name, hello.server_name, local_ip)
        if ctx is None:
            log.debug("entry point %s: handshake for %r refused (sniStrict or broken TLS options)",
                      self.settings.name, hello.server_name)
            conn.close()
            return
        # ALPN decides once the handshake is done: h2 -> H2Connection, else HTTP/1.1.
        await loop.connect_accepted_socket(functools.partial(ALPNSelector, factory, h2_factory), conn, ssl=ctx,
                                           ssl_handshake_timeout=PEEK_TIMEOUT)

    def _protocol(self) -> H1Connection:
        # A plain HTTP connection has nothing for the 421 check to do: it runs the unchecked root.
        return H2CSniffer(getattr(self.app, "plain", self.app), self.config, self.connections)

    def _tls_protocol(self) -> H1Connection:
        return H1Connection(self.app, self.tls_config, self.connections)

    async def stop(self, grace: float | None = None) -> None:
        for task in list(self._pending):
            task.cancel()
        await super().stop(grace)


async def _peek(loop: asyncio.AbstractEventLoop, conn: socket.socket,
                proxy_protocol: bool) -> tuple[Hello, proxyproto.ProxyHeader | None]:
    """The ClientHello (or not) at the start of ``conn``, after a PROXY header when enabled.
    A malformed PROXY header raises ``ProxyProtocolError`` (a ``ValueError``)."""
    delay = 0.002
    while True:
        try:  # the first bytes often came with the handshake's last ACK: no wait then
            data = conn.recv(MAX_HELLO + 536, socket.MSG_PEEK)  # room for a PROXY header
        except (BlockingIOError, InterruptedError):
            await _readable(loop, conn)
            continue
        if not data:
            raise ConnectionResetError("closed before the first byte")
        header = None
        hello = NEED_MORE
        parsed = proxyproto.parse(data) if proxy_protocol else proxyproto.ABSENT
        if isinstance(parsed, proxyproto.ProxyHeader):
            header = parsed
            hello = read_client_hello(data[parsed.consumed:])
        elif parsed is proxyproto.ABSENT:
            hello = read_client_hello(data)
        if hello.complete:
            return hello, header
        # Part of a ClientHello: the socket stays readable (nothing was consumed), so wait a
        # little for the rest instead of spinning on readiness.
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)


def _consume(conn: socket.socket, size: int) -> None:
    """Read exactly ``size`` bytes that a peek already saw (they are in the socket buffer)."""
    while size > 0:
        got = conn.recv(size)
        if not got:
            raise ConnectionResetError("closed in the PROXY header")
        size -= len(got)


async def _readable(loop: asyncio.AbstractEventLoop, conn: socket.socket) -> None:
    fut: asyncio.Future[None] = loop.create_future()

    def ready() -> None:
        if not fut.done():
            fut.set_result(None)

    loop.add_reader(conn.fileno(), ready)
    try:
        await fut
    finally:
        loop.remove_reader(conn.fileno())


def _listen(host: str | None, port: int, backlog: int, reuse_port: bool) -> list[socket.socket]:
    """Listening sockets like ``loop.create_server``: every interface (dual stack) without host."""
    if host is None and socket.has_dualstack_ipv6():
        sock = socket.create_server(("", port), family=socket.AF_INET6, backlog=backlog,
                                    reuse_port=reuse_port, dualstack_ipv6=True)
    elif host is None:
        sock = socket.create_server(("", port), backlog=backlog, reuse_port=reuse_port)
    else:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.create_server((host, port), family=family, backlog=backlog, reuse_port=reuse_port)
    sock.setblocking(False)
    return [sock]
