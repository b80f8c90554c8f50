"""The ``grpcWeb`` middleware: gRPC-Web requests from browsers become gRPC requests for the
service, and gRPC responses go back as gRPC-Web (Traefik v3 ``pkg/middlewares/grpcweb`` on
improbable-eng's ``grpcweb.WrapHandler`` with ``rs/cors``).

Request (``POST`` with ``Content-Type: application/grpc-web...``): the content type becomes
``application/grpc...`` (``application/grpc-web+proto`` -> ``application/grpc+proto``), the
Content-Length header is removed, and a ``application/grpc-web-text`` body is base64-decoded on
the fly (several padded parts allowed).

Response: the content type goes back to ``application/grpc-web...`` (``-text`` for text
requests, whose body is then base64-encoded chunk by chunk), ``Trailer`` announcements and the
Content-Length are dropped, and the gRPC trailers (``grpc-status``, ``grpc-message``...) are
appended to the body as a trailer frame: byte ``0x80``, a 4-byte big-endian length, then
``name: value\\r\\n`` lines with lower-cased names sorted by name.  ``Access-Control-Expose-Headers``
lists every response header so browsers can read them.

CORS (``allowOrigins``; ``*`` allows any origin): a preflight ``OPTIONS`` that announces
``x-grpc-web`` in ``Access-Control-Request-Headers`` is answered here with 200 (rs/cors 1.7:
origin echoed, method, requested headers, credentials, max-age 600); actual requests from an
allowed origin get ``Access-Control-Allow-Origin`` and ``...-Allow-Credentials``.  Anything else
passes through untouched.

The translation is pure and table-tested.  Until HTTP/2 upstreams exist, the translated request
is forwarded like any other (HTTP/1.1 with chunked body and trailers), which is enough for a
backend that speaks gRPC's framing over HTTP/1.1 but not for a real gRPC server.
"""

from __future__ import annotations

import base64
import binascii
import struct
from collections.abc import Sequence
from typing import Final

from middlewares.interceptor import Interceptor, scope
from traefikpy.config.middleware_options import GrpcWeb
from traefikpy.proxy.errors import RequestBodyError
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

GRPC: Final = b"application/grpc"
GRPC_WEB: Final = b"application/grpc-web"
GRPC_WEB_TEXT: Final = b"application/grpc-web-text"
_ALLOWED_METHODS: Final = frozenset({b"GET", b"POST", b"HEAD", b"OPTIONS"})
_MAX_AGE: Final = b"600"
_DROP_RESPONSE: Final = frozenset({b"trailer", b"content-length"})
_TOKEN_CHARS: Final = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def translate_request_type(content_type: bytes) -> tuple[bytes, bool]:
    """The gRPC content type for a gRPC-Web one, and whether the body is base64 text."""
    text = content_type.startswith(GRPC_WEB_TEXT)
    return content_type.replace(GRPC_WEB_TEXT if text else GRPC_WEB, GRPC, 1), text


def translate_response_type(content_type: bytes, text: bool) -> bytes:
    return content_type.replace(GRPC, GRPC_WEB_TEXT if text else GRPC_WEB, 1)


def canonical(name: bytes) -> bytes:
    """Go's ``http.CanonicalHeaderKey`` (names with non-token bytes are returned unchanged)."""
    if not name or any(byte not in _TOKEN_CHARS for byte in name):
        return name
    return b"-".join(part[:1].upper() + part[1:].lower() for part in name.split(b"-"))


def trailer_frame(trailers: Headers | None) -> bytes:
    """The gRPC-Web trailer frame for ``trailers``."""
    grouped: dict[bytes, list[bytes]] = {}
    for name, value in trailers or ():
        grouped.setdefault(name.lower(), []).append(value)
    lines = []
    for name in sorted(grouped):
        for value in grouped[name]:
            clean = value.replace(b"\r", b" ").replace(b"\n", b" ").strip()
            lines.append(name + b": " + clean + b"\r\n")
    payload = b"".join(lines)
    return struct.pack(">BI", 0x80, len(payload)) + payload


def expose_headers(headers: Headers) -> bytes:
    """``Access-Control-Expose-Headers``: every header name of the response, canonical, once."""
    seen: list[bytes] = []
    for name, _ in headers:
        key = canonical(name)
        if key not in seen:
            seen.append(key)
    return b", ".join(seen)


def origin_allowed(origin: bytes, allow: Sequence[bytes]) -> bool:
    return any(item == b"*" or item == origin for item in allow)


def preflight_headers(origin: bytes, allow: Sequence[bytes], method: bytes, requested: bytes) -> Headers:
    """The answer to a CORS preflight (rs/cors 1.7 with every header allowed)."""
    headers: Headers = [
        (b"Vary", b"Origin"), (b"Vary", b"Access-Control-Request-Method"), (b"Vary", b"Access-Control-Request-Headers"),
    ]
    if not origin or not origin_allowed(origin, allow) or method.strip().upper() not in _ALLOWED_METHODS:
        return headers
    headers.append((b"Access-Control-Allow-Origin", origin))
    headers.append((b"Access-Control-Allow-Methods", method.strip().upper()))
    names = [canonical(part.strip()) for part in requested.split(b",") if part.strip()]
    if names:
        headers.append((b"Access-Control-Allow-Headers", b", ".join(names)))
    headers.append((b"Access-Control-Allow-Credentials", b"true"))
    headers.append((b"Access-Control-Max-Age", _MAX_AGE))
    return headers


def actual_cors_headers(origin: bytes, allow: Sequence[bytes], method: bytes) -> Headers:
    """CORS headers of an actual (non-preflight) request."""
    headers: Headers = [(b"Vary", b"Origin")]
    if origin and origin_allowed(origin, allow) and method.upper() in _ALLOWED_METHODS:
        headers.append((b"Access-Control-Allow-Origin", origin))
        headers.append((b"Access-Control-Allow-Credentials", b"true"))
    return headers


class Base64Decoder:
    """Streaming base64 decoding: whole 4-character groups as they arrive, line breaks ignored,
    padded parts may follow each other."""

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, data: bytes) -> bytes:
        data = self._pending + data.replace(b"\r", b"").replace(b"\n", b"")
        usable = len(data) - len(data) % 4
        self._pending = data[usable:]
        return _decode(data[:usable])

    def finish(self) -> bytes:
        if self._pending:
            raise ValueError("truncated base64 data")
        return b""


def _decode(data: bytes) -> bytes:
    out = []
    start = 0
    for end in range(4, len(data) + 1, 4):
        if data[end - 1 : end] == b"=" or end == len(data):
            try:
                out.append(base64.b64decode(data[start:end], validate=True))
            except binascii.Error as exc:
                raise ValueError(f"invalid base64 data: {exc}") from None
            start = end
    return b"".join(out)


class _TextBody:
    """The decoded body of a ``grpc-web-text`` request (length unknown: chunked upstream)."""

    __slots__ = ("_inner", "_decoder", "length", "trailers")

    def __init__(self, inner: Body) -> None:
        self._inner = inner
        self._decoder = Base64Decoder()
        self.length: int | None = None
        self.trailers: Headers | None = None

    async def read(self) -> bytes:
        try:
            while chunk := await self._inner.read():
                decoded = self._decoder.feed(chunk)
                if decoded:
                    return decoded
            self.trailers = self._inner.trailers
            return self._decoder.finish()
        except ValueError as exc:
            raise RequestBodyError(f"grpc-web-text request body: {exc}") from None

    async def read_all(self, limit: int | None = None) -> bytes:
        return await read_all(self, limit)


class _WebWriter(Interceptor):
    """Turns the service's gRPC response into gRPC-Web."""

    __slots__ = ("text", "cors", "head_sent")

    def __init__(self, inner: ResponseWriter, ex: Exchange, outer: list[ResponseHook] | None, text: bool,
                 cors: Headers) -> None:
        super().__init__(inner, ex, outer)
        self.text = text
        self.cors = cors
        self.head_sent = False

    async def send_head(self, status: int, headers: Headers, reason: bytes | None = None) -> None:
        if status < 200:
            await self.emit_head(status, headers, reason)
            return
        out = list(self.cors)
        for name, value in headers:
            lname = name.lower()
            if lname in _DROP_RESPONSE:
                continue
            if lname == b"content-type":
                value = translate_response_type(value, self.text)
            out.append((name, value))
        out.append((b"Access-Control-Expose-Headers", expose_headers(out)))
        self.head_sent = True
        await self.emit_head(status, out, reason)

    async def send_body(self, data: bytes) -> None:
        if data:
            await self.inner.send_body(base64.b64encode(data) if self.text else data)

    async def end(self, trailers: Headers | None = None) -> None:
        if not self.head_sent:
            await self.send_head(200, [])
        frame = trailer_frame(trailers)
        await self.inner.send_body(base64.b64encode(frame) if self.text else frame)
        await self.inner.end(None)


class GrpcWebHandler:
    __slots__ = ("name", "next", "allow")

    def __init__(self, name: str, next_handler: Handler, allow: Sequence[bytes]) -> None:
        self.name = name
        self.next = next_handler
        self.allow = tuple(allow)

    async def __call__(self, ex: Exchange) -> None:
        method = ex.method
        if method == b"OPTIONS" and b"x-grpc-web" in (ex.header(b"access-control-request-headers") or b"").lower():
            requested_method = ex.header(b"access-control-request-method")
            if requested_method:
                headers = preflight_headers(
                    ex.header(b"origin") or b"", self.allow, requested_method,
                    ex.header(b"access-control-request-headers") or b"",
                )
                await ex.respond(200, b"", headers, content_type=None)
                return
        elif method != b"POST" or not (ex.header(b"content-type") or b"").startswith(GRPC_WEB):
            await self.next(ex)
            return
        cors = actual_cors_headers(ex.header(b"origin") or b"", self.allow, method)
        content_type, text = translate_request_type(ex.header(b"content-type") or b"")
        ex.set_header(b"Content-Type", content_type)
        ex.del_header(b"content-length")
        if text:
            ex.body = _TextBody(ex.body)
        writer = ex.writer
        outer = scope(ex)
        web = _WebWriter(writer, ex, outer, text, cors)
        ex.writer = web
        try:
            await self.next(ex)
        finally:
            ex.writer = writer
            ex.response_hooks = outer

    def __repr__(self) -> str:
        return f"<GrpcWeb {self.name} allowOrigins={[o.decode() for o in self.allow]}>"


def build_grpc_web(options: GrpcWeb, next_handler: Handler, name: str, ctx: BuildContext | None = None) -> Handler:
    return GrpcWebHandler(name, next_handler, [origin.encode("latin-1") for origin in options.allow_origins])


FACTORIES: dict[str, MiddlewareFactory] = {"grpcWeb": build_grpc_web}
