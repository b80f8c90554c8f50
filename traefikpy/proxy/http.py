"""The data plane's contract: :class:`Exchange` (one request/response) and ``Handler``.

Everything on the request path is a ``Handler``: an async callable taking an :class:`Exchange`.
Middlewares are built once per graph as ``build(cfg, next, name) -> Handler`` and wrap the next
handler; service handlers (balancers) end the chain by forwarding to an upstream server.

Theory of operation
-------------------
The server protocol (HTTP/1.1 in ``server.py``, HTTP/2 later) parses a request head, creates an
Exchange with the raw head (``headers`` stay ``list[tuple[bytes, bytes]]`` with the client's
casing), a :class:`Body` to stream the request body and a :class:`ResponseWriter` bound to the
connection, then awaits the root handler.

* Request side: middlewares may change ``method``, ``path``/``raw_path``/``query``, ``headers``
  and ``host`` in place before calling ``next``.  The forwarder rebuilds the upstream head from
  these fields.
* Response side: a handler answers through ``send_head`` / ``send_body`` / ``end`` (or the
  ``respond`` shortcut).  Middlewares that only touch the response head register a hook with
  :meth:`Exchange.on_response` (cheap: no wrapper object).  Middlewares that transform bodies
  (compress, errors, cache, buffering) replace ``exchange.writer`` with a wrapping writer.
* Fast path: when no hook is registered and the writer is the connection's own
  (``traefikpy.proxy.h1writer.H1Writer``), the forwarder hands the upstream's raw response head
  bytes to the writer (``write_raw``) instead of rebuilding them.
* Hop-by-hop request headers (``Connection`` and the headers it lists, ``Keep-Alive``,
  ``Proxy-Connection``, ``Transfer-Encoding``, ``TE``, ``Trailer``, ``Upgrade``, ``Expect``) are
  consumed by the server and never appear in ``headers``; an upgrade request (WebSocket) has
  its protocol in ``upgrade`` instead.  The forwarder still drops hop-by-hop names a middleware
  might have added.
* Upgrades: after a 101 the forwarder calls ``writer.hijack()`` (writers that wrap another one
  should delegate it) to take the client socket for a byte pipe.

Exactly one response is sent per exchange; ``status`` is 0 until the head is sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from traefikpy.proxy.target import decode_path
from traefikpy.rules.request import QueryAndAddress

Headers = list[tuple[bytes, bytes]]
"""A header block as received: ``(name, value)`` byte pairs, names in their original case."""

ResponseHook = Callable[[int, Headers], int]
"""Called with ``(status, headers)`` just before the head is written; mutates ``headers`` in place
and returns the (possibly changed) status."""

Handler = Callable[["Exchange"], Awaitable[None]]

Done = Callable[["Exchange"], None]
"""Called once when an exchange taken by a fast path has finished (the root's observer)."""

FastHandler = Callable[["Exchange", "Done | None"], None]
"""The synchronous entry of a handler that can run without a task (see :func:`fast_of`)."""


def fast_of(handler: Any) -> FastHandler | None:
    """The fast entry of ``handler``, if it has one.

    Fast path: for a request without a body on an HTTP/1.1 connection, a router whose chain
    supports it (custom-headers-only Headers middlewares over a ``loadBalancer`` of plain
    HTTP/1.1 servers) runs without an asyncio task: the chain's ``fast(ex, done)`` entries are
    plain calls down to the forwarder, which writes the upstream request and finishes the
    response from the upstream connection's ``data_received``.  Whatever has to wait (no idle
    upstream connection, a streamed or failed response) continues in a task from that point
    (:func:`traefikpy.proxy.settle.continue_async`), with the same outcome as the ``async``
    path.  A fast entry always takes the exchange: eligibility is decided before it is called.
    """
    fast: FastHandler | None = getattr(handler, "fast", None)
    return fast


TryFast = Callable[["Exchange"], bool]
"""A root handler's fast attempt (its ``try_fast`` attribute, called by the HTTP/1.1 server):
True when it took the exchange, False (before any side effect) when the server must await the
root as usual."""


def set_fast(handler: Handler, fast: FastHandler) -> Handler:
    """Attach the fast entry ``fast`` to ``handler`` (a function); returns ``handler``."""
    handler.fast = fast  # type: ignore[attr-defined]
    return handler


class BuildContext(Protocol):
    """What a middleware factory may ask the compiler while it builds (once per graph)."""

    def service(self, name: str) -> Handler:
        """The handler of service ``name`` (qualified relative to the middleware's provider unless
        it has an ``@``).  Raises ``ValueError`` when it is missing or disabled."""
        ...

    def spawn(self, coro: Any, name: str) -> Any:
        """Run a background task owned by the application (cancelled at shutdown)."""
        ...


MiddlewareFactory = Callable[[Any, Handler, str, BuildContext], Handler]
"""``build(options, next, qualified name, ctx) -> Handler``; registered by config key."""


class Body(Protocol):
    """The request body stream.  ``read`` returns the next chunk, ``b""`` once at the end."""

    length: int | None  # Content-Length when known, None for chunked / HTTP/2 without length
    trailers: Headers | None  # request trailers, available after the last chunk was read

    async def read(self) -> bytes: ...

    async def read_all(self, limit: int | None = None) -> bytes:
        """The whole body; raises ``BodyTooLarge`` when it exceeds ``limit`` bytes."""
        ...


class ResponseWriter(Protocol):
    """Writes one response to the client connection (HTTP/1.1 or HTTP/2)."""

    async def send_head(self, status: int, headers: Headers, reason: bytes | None = None) -> None: ...

    async def send_body(self, data: bytes) -> None: ...

    async def end(self, trailers: Headers | None = None) -> None: ...


class BodyTooLarge(Exception):
    """A request or response body exceeded a configured size limit."""


async def read_all(body: Body, limit: int | None = None) -> bytes:
    """Every remaining chunk of ``body`` joined; ``BodyTooLarge`` past ``limit`` bytes.  The one
    implementation behind every ``Body.read_all``."""
    parts = []
    size = 0
    while chunk := await body.read():
        size += len(chunk)
        if limit is not None and size > limit:
            raise BodyTooLarge(f"request body larger than {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


_EMPTY_BODY_HEADERS: Headers = []
_new_object = object.__new__


class Exchange(QueryAndAddress):
    """One request and its response as it crosses the router.  Hot-path object: ``__slots__``."""

    __slots__ = (
        "method", "raw_path", "path", "query", "version", "headers", "host", "scheme",
        "client_ip", "client_port", "entrypoint", "tls", "body", "writer", "status",
        "response_hooks", "router", "service", "started", "extras", "upgrade", "route", "__weakref__",
    )

    def __init__(
        self,
        *,
        method: bytes,
        raw_path: bytes,
        query: bytes,
        version: bytes,
        headers: Headers,
        host: str,
        scheme: str,
        client_ip: str,
        client_port: int,
        entrypoint: str,
        body: Body,
        writer: ResponseWriter,
        path: str | None = None,
        tls: Any = None,
        started: float = 0.0,
        upgrade: bytes = b"",
    ) -> None:
        self.method = method  # b"GET"
        self.raw_path = raw_path  # path as on the wire, without the query: b"/a%2Fb"
        # The routing path: escapes decoded except reserved ones (%2F stays), see target.decode_path
        self.path = path if path is not None else decode_path(raw_path)
        self.query = query  # raw query string without "?" (b"" when absent)
        self.version = version  # b"1.1", b"1.0" or b"2"
        self.headers = headers
        self.host = host  # Host without port, lower-cased, trailing dot removed
        self.scheme = scheme  # "http" or "https" as seen by the client
        self.client_ip = client_ip  # socket peer (after PROXY protocol), never X-Forwarded-For
        self.client_port = client_port
        self.entrypoint = entrypoint
        self.tls = tls  # ssl.SSLObject of a TLS connection, else None
        self.body = body
        self.writer = writer
        self.status = 0
        self.response_hooks: list[ResponseHook] | None = None
        self.router = ""  # qualified name of the matched router (metrics, access log)
        self.service = ""  # qualified name of the service that answered
        self.started = started  # time.perf_counter() when the head was complete
        self.extras: dict[str, Any] | None = None  # per-request state of middlewares
        self.upgrade = upgrade  # protocol asked for with Connection: Upgrade (b"websocket"), else b""
        self.route: Any = None  # the matched router's Target once routed (graph.py)

    # -- what routing reads (rules.request.Routable; query_pairs and client_addr inherited) -------
    @property
    def routing_path(self) -> str:
        return self.path  # already the routing path (escapes of unreserved characters decoded)

    @classmethod
    def from_parts(
        cls,
        method: bytes,
        raw_path: bytes,
        path: str,
        query: bytes,
        version: bytes,
        headers: Headers,
        host: str,
        scheme: str,
        client_ip: str,
        client_port: int,
        entrypoint: str,
        body: Body,
        writer: ResponseWriter,
        tls: Any,
        started: float,
        upgrade: bytes,
    ) -> Exchange:
        """Positional constructor for protocol servers: same result as ``__init__`` (keep the
        two in sync), without the cost of sixteen keyword arguments on every request."""
        ex = _new_object(cls)
        ex.method = method
        ex.raw_path = raw_path
        ex.path = path
        ex.query = query
        ex.version = version
        ex.headers = headers
        ex.host = host
        ex.scheme = scheme
        ex.client_ip = client_ip
        ex.client_port = client_port
        ex.entrypoint = entrypoint
        ex.tls = tls
        ex.body = body
        ex.writer = writer
        ex.status = 0
        ex.response_hooks = None
        ex.router = ""
        ex.service = ""
        ex.started = started
        ex.extras = None
        ex.upgrade = upgrade
        ex.route = None
        return ex

    # -- request helpers -------------------------------------------------------------------
    def header(self, name: bytes) -> bytes | None:
        """First value of request header ``name`` (lower-case bytes), or None."""
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    def header_values(self, name: bytes) -> list[bytes]:
        return [value for key, value in self.headers if key.lower() == name]

    def set_header(self, name: bytes, value: bytes) -> None:
        """Replace every request header ``name`` (case-insensitive) with one ``value``."""
        self.del_header(name)
        self.headers.append((name, value))

    def del_header(self, name: bytes) -> None:
        lname = name.lower()
        self.headers[:] = [(k, v) for k, v in self.headers if k.lower() != lname]

    @property
    def target(self) -> bytes:
        """The request-target to send upstream: ``raw_path`` plus ``?query`` when present."""
        return self.raw_path + b"?" + self.query if self.query else self.raw_path

    # -- response helpers ------------------------------------------------------------------
    def on_response(self, hook: ResponseHook) -> None:
        """Register a hook that may edit the response head before it is written."""
        if self.response_hooks is None:
            self.response_hooks = [hook]
        else:
            self.response_hooks.append(hook)

    def apply_hooks(self, status: int, headers: Headers) -> int:
        """Run the response hooks (last registered = outermost middleware runs last)."""
        hooks = self.response_hooks
        if hooks:
            for hook in reversed(hooks):
                status = hook(status, headers)
        return status

    async def send_head(self, status: int, headers: Headers, reason: bytes | None = None) -> None:
        if self.response_hooks:
            status = self.apply_hooks(status, headers)
        self.status = status
        await self.writer.send_head(status, headers, reason)

    async def send_body(self, data: bytes) -> None:
        await self.writer.send_body(data)

    async def end(self, trailers: Headers | None = None) -> None:
        await self.writer.end(trailers)

    async def respond(
        self,
        status: int,
        body: bytes = b"",
        headers: Headers | None = None,
        content_type: bytes | None = b"text/plain; charset=utf-8",
    ) -> None:
        """Send a complete local response (used for errors, redirects, auth challenges)."""
        head: Headers = list(headers) if headers else []
        if content_type is not None and body and not any(k.lower() == b"content-type" for k, _ in head):
            head.append((b"Content-Type", content_type))
        head.append((b"Content-Length", str(len(body)).encode()))
        await self.send_head(status, head)
        if body and self.method != b"HEAD":
            await self.writer.send_body(body)
        await self.writer.end(None)

    def __repr__(self) -> str:
        return (
            f"<Exchange {self.method.decode()} {self.scheme}://{self.host}{self.target.decode('latin-1')} "
            f"ep={self.entrypoint} status={self.status}>"
        )


REASONS: dict[int, bytes] = {
    100: b"Continue", 101: b"Switching Protocols", 200: b"OK", 201: b"Created", 202: b"Accepted",
    204: b"No Content", 206: b"Partial Content", 301: b"Moved Permanently", 302: b"Found",
    303: b"See Other", 304: b"Not Modified", 307: b"Temporary Redirect", 308: b"Permanent Redirect",
    400: b"Bad Request", 401: b"Unauthorized", 403: b"Forbidden", 404: b"Not Found",
    405: b"Method Not Allowed", 408: b"Request Timeout", 411: b"Length Required",
    413: b"Request Entity Too Large", 414: b"URI Too Long", 415: b"Unsupported Media Type",
    417: b"Expectation Failed", 421: b"Misdirected Request", 429: b"Too Many Requests",
    431: b"Request Header Fields Too Large", 500: b"Internal Server Error", 501: b"Not Implemented",
    502: b"Bad Gateway", 503: b"Service Unavailable", 504: b"Gateway Timeout",
    505: b"HTTP Version Not Supported",
}
