"""The ``compress`` middleware: gzip, Brotli or Zstandard responses by the request's
``Accept-Encoding`` (Traefik v3 ``pkg/middlewares/compress``).

When a response is compressed (all must hold):

* the request is not ``HEAD`` and its own Content-Type is not excluded (``application/grpc``
  always is), and ``Accept-Encoding`` picks one of ``encodings`` (see
  :func:`~middlewares.compress_rules.choose_encoding`; no header: ``defaultEncoding`` if set);
* the response has no ``Content-Encoding``, may have a body (not 204/304), its Content-Type is
  parseable and allowed by ``includedContentTypes`` / ``excludedContentTypes``;
* its Content-Length is at least ``minResponseBodyBytes`` (default 1024).  A response without
  Content-Length (streamed, chunked) is compressed as soon as it has data, each chunk flushed at
  once, as Traefik does because its proxy flushes those responses.

Nothing is buffered beyond one chunk: the head waits for the first body bytes only when the
decision needs them (no Content-Length, or no Content-Type: then the type is sniffed from them
and set).  A compressed response loses Content-Length and Accept-Ranges and gains
``Content-Encoding``; every response that went through an encoder choice gets
``Vary: Accept-Encoding``.  Levels follow Traefik's libraries: gzip 6, Brotli quality 6,
Zstandard level 3 (the ``brotli`` and ``zstandard`` packages).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any, Final, Protocol

import brotli
import zstandard

from middlewares.compress_rules import (
    DEFAULT_ENCODINGS,
    SUPPORTED,
    MediaType,
    allowed,
    choose_encoding,
    parse_media_type,
    priorities,
)
from middlewares.content import detect_content_type as sniff
from middlewares.interceptor import Interceptor, drop_headers, header_value, scope
from traefikpy.config.middleware_options import Compress
from traefikpy.proxy.http import (
    BuildContext,
    Exchange,
    Handler,
    Headers,
    MiddlewareFactory,
    ResponseHook,
    ResponseWriter,
)

_DEFAULT_MIN: Final = 1024
_GRPC: Final[MediaType] = ("application/grpc", {})
_DROP_WHEN_COMPRESSED: Final = frozenset({b"content-length", b"accept-ranges", b"content-encoding"})

_PASS: Final = 0
_PENDING: Final = 1
_COMPRESS: Final = 2


class Encoder(Protocol):
    def compress(self, data: bytes, flush: bool) -> bytes: ...

    def finish(self) -> bytes: ...


class GzipEncoder:
    __slots__ = ("_z",)

    def __init__(self) -> None:
        self._z = zlib.compressobj(6, zlib.DEFLATED, 31)

    def compress(self, data: bytes, flush: bool) -> bytes:
        out = self._z.compress(data)
        return out + self._z.flush(zlib.Z_SYNC_FLUSH) if flush else out

    def finish(self) -> bytes:
        return self._z.flush(zlib.Z_FINISH)


class BrotliEncoder:
    __slots__ = ("_c",)

    def __init__(self) -> None:
        self._c: Any = brotli.Compressor(quality=6)

    def compress(self, data: bytes, flush: bool) -> bytes:
        out: bytes = self._c.process(data)
        if flush:
            out += self._c.flush()
        return out

    def finish(self) -> bytes:
        out: bytes = self._c.finish()
        return out


class ZstdEncoder:
    __slots__ = ("_c",)

    _compressor: Final = zstandard.ZstdCompressor(level=3)

    def __init__(self) -> None:
        self._c = self._compressor.compressobj()

    def compress(self, data: bytes, flush: bool) -> bytes:
        out = self._c.compress(data)
        if flush:
            out += self._c.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)
        return out

    def finish(self) -> bytes:
        return self._c.flush()


ENCODERS: Final[dict[str, type[GzipEncoder] | type[BrotliEncoder] | type[ZstdEncoder]]] = {
    "gzip": GzipEncoder, "br": BrotliEncoder, "zstd": ZstdEncoder,
}


class _CompressWriter(Interceptor):
    __slots__ = ("encoding", "rules", "mode", "head", "encoder", "flush_each")

    def __init__(
        self, inner: ResponseWriter, ex: Exchange, outer: list[ResponseHook] | None, encoding: str,
        rules: CompressHandler,
    ) -> None:
        super().__init__(inner, ex, outer)
        self.encoding = encoding
        self.rules = rules
        self.mode = _PASS
        self.head: tuple[int, Headers, bytes | None] | None = None
        self.encoder: Encoder | None = None
        self.flush_each = False

    async def send_head(self, status: int, headers: Headers, reason: bytes | None = None) -> None:
        if status < 200:
            await self.emit_head(status, headers, reason)  # interim (and 101) responses pass
            return
        if not any(k.lower() == b"vary" and b"accept-encoding" in v.lower() for k, v in headers):
            headers.append((b"Vary", b"Accept-Encoding"))
        length = header_value(headers, b"content-length")
        if status in (204, 304) or header_value(headers, b"content-encoding") or not self.rules.type_allowed(headers):
            await self.emit_head(status, headers, reason)
            return
        if length is not None:
            try:
                small = int(length) < self.rules.min_size
            except ValueError:
                small = True
            if small:
                await self.emit_head(status, headers, reason)
                return
        self.flush_each = length is None
        self.mode = _PENDING
        self.head = (status, headers, reason)

    async def _start(self, first: bytes) -> None:
        assert self.head is not None
        status, headers, reason = self.head
        self.head = None
        if header_value(headers, b"content-type") is None:
            kind = sniff(first)
            headers.append((b"Content-Type", kind.encode("latin-1")))
            if not self.rules.type_allowed(headers):
                self.mode = _PASS
                await self.emit_head(status, headers, reason)
                await self.inner.send_body(first)
                return
        drop_headers(headers, _DROP_WHEN_COMPRESSED)
        headers.append((b"Content-Encoding", self.encoding.encode("ascii")))
        self.mode = _COMPRESS
        self.encoder = ENCODERS[self.encoding]()
        await self.emit_head(status, headers, reason)
        await self._compress(first)

    async def _compress(self, data: bytes) -> None:
        assert self.encoder is not None
        out = self.encoder.compress(data, self.flush_each)
        if out:
            await self.inner.send_body(out)

    async def send_body(self, data: bytes) -> None:
        mode = self.mode
        if mode == _COMPRESS:
            await self._compress(data)
        elif mode == _PASS:
            await self.inner.send_body(data)
        elif data:
            await self._start(data)

    async def end(self, trailers: Headers | None = None) -> None:
        if self.mode == _PENDING:
            # No body at all: nothing to compress, the head goes out as it was.
            assert self.head is not None
            status, headers, reason = self.head
            self.head = None
            self.mode = _PASS
            await self.emit_head(status, headers, reason)
        elif self.mode == _COMPRESS:
            assert self.encoder is not None
            tail = self.encoder.finish()
            self.mode = _PASS
            if tail:
                await self.inner.send_body(tail)
        await self.inner.end(trailers)

    @property
    def unfinished(self) -> bool:
        return self.mode != _PASS


class CompressHandler:
    __slots__ = ("name", "next", "encodings", "default", "order", "min_size", "includes", "excludes",
                 "request_excludes")

    def __init__(
        self, name: str, next_handler: Handler, encodings: Sequence[str], default: str, min_size: int,
        includes: Sequence[MediaType], excludes: Sequence[MediaType],
    ) -> None:
        self.name = name
        self.next = next_handler
        self.encodings = tuple(encodings)
        self.default = default
        self.order = priorities(encodings)
        self.min_size = min_size
        self.includes = tuple(includes)
        self.request_excludes = (_GRPC, *excludes)
        self.excludes = () if includes else self.request_excludes

    def type_allowed(self, headers: Headers) -> bool:
        value = header_value(headers, b"content-type")
        if not value:
            return True
        try:
            media = parse_media_type(value.decode("latin-1"))
        except ValueError:
            return False
        return allowed(media, self.includes, self.excludes)

    async def __call__(self, ex: Exchange) -> None:
        if ex.method == b"HEAD":
            await self.next(ex)
            return
        ctype = ex.header(b"content-type")
        if ctype:
            try:
                media = parse_media_type(ctype.decode("latin-1"))
            except ValueError:
                media = ("", {})
            if any(p[0] == media[0] for p in self.request_excludes):
                await self.next(ex)
                return
        values = [v.decode("latin-1").strip() for k, v in ex.headers if k.lower() == b"accept-encoding"]
        encoding = choose_encoding(values or None, self.encodings, self.default, self.order)
        if encoding is None:
            await self.next(ex)
            return
        writer = ex.writer
        outer = scope(ex)
        compressing = _CompressWriter(writer, ex, outer, encoding, self)
        ex.writer = compressing
        try:
            await self.next(ex)
        finally:
            ex.writer = writer
            ex.response_hooks = outer
        if compressing.unfinished:
            await compressing.end(None)

    def __repr__(self) -> str:
        return f"<Compress {self.name} encodings={list(self.encodings)} min={self.min_size}>"


def _media_types(values: Sequence[str], what: str) -> list[MediaType]:
    out = []
    for value in values:
        try:
            out.append(parse_media_type(value))
        except ValueError as exc:
            raise ValueError(f"parsing {what} media type: {exc}") from None
    return out


def build_compress(options: Compress, next_handler: Handler, name: str, ctx: BuildContext | None = None) -> Handler:
    if options.excluded_content_types and options.included_content_types:
        raise ValueError("excludedContentTypes and includedContentTypes options are mutually exclusive")
    excludes = _media_types(options.excluded_content_types, "excluded")
    includes = _media_types(options.included_content_types, "included")
    # Traefik's default order is zstd, br, gzip; the option model's default list differs, so an
    # unset option uses Traefik's order.
    encodings = list(options.encodings) if "encodings" in options.model_fields_set else list(DEFAULT_ENCODINGS)
    if not encodings:
        raise ValueError("at least one encoding must be specified")
    for encoding in encodings:
        if encoding not in SUPPORTED:
            raise ValueError(f"unsupported encoding: {encoding}")
    if options.default_encoding and options.default_encoding not in encodings:
        raise ValueError(f"unsupported default encoding: {options.default_encoding}")
    min_size = options.min_response_body_bytes if options.min_response_body_bytes > 0 else _DEFAULT_MIN
    return CompressHandler(name, next_handler, encodings, options.default_encoding, min_size, includes, excludes)


FACTORIES: dict[str, MiddlewareFactory] = {"compress": build_compress}
