"""The ``buffering`` middleware: read whole requests (and responses) before passing them on, with
size limits (Traefik's ``pkg/middlewares/buffering`` on oxy's ``buffer``).

* Request: a body announced (Content-Length) or found larger than ``maxRequestBodyBytes`` gets
  ``413 Request Entity Too Large`` without reaching the service (0: no limit).  The body is kept
  in memory up to ``memRequestBodyBytes`` (default 1 MiB), the rest in an anonymous temporary
  file, and sent on with a Content-Length (a chunked upload becomes length-delimited; request
  trailers are dropped).
* Response: the whole response is collected the same way (``memResponseBodyBytes``) before the
  client sees anything; one larger than ``maxResponseBodyBytes`` is replaced by ``500 Internal
  Server Error``.  A response without Content-Length gets one (no trailers).  Interim (1xx)
  responses are dropped.
* ``retryExpression``: after each attempt the expression decides whether to send the request
  again (at most 10 retries), with ``Attempts()`` (the first counts), ``ResponseCode()``,
  ``IsNetworkError()`` (status 502 or 504, including connection failures) and
  ``RequestMethod()``.  Only the last attempt's response reaches the client.

Upgrade requests (WebSocket) are passed through unbuffered.  Temporary files are written with
plain (blocking) file I/O: local, page-cached writes of at most 64 KiB at a time.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import IO, Final

from middlewares.expr import Function, Predicate, compile_expression
from middlewares.interceptor import Interceptor, header_value, scope
from traefikpy.config.middleware_options import Buffering
from traefikpy.proxy.errors import ClientClosed, ProxyError
from traefikpy.proxy.h1body import EmptyBody
from traefikpy.proxy.http import (
    BodyTooLarge,
    BuildContext,
    Exchange,
    Handler,
    Headers,
    MiddlewareFactory,
    ResponseHook,
    ResponseWriter,
)

MAX_RETRIES: Final = 10  # oxy's DefaultMaxRetryAttempts: the 11th attempt is the last
_CHUNK: Final = 64 * 1024
_TOO_LARGE: Final = b"Request Entity Too Large"
_INTERNAL: Final = b"Internal Server Error"


class Spool:
    """Bytes kept in memory up to ``mem_limit``, the rest in an anonymous temporary file."""

    __slots__ = ("mem_limit", "size", "_mem", "_file")

    def __init__(self, mem_limit: int) -> None:
        self.mem_limit = mem_limit
        self.size = 0
        self._mem = bytearray()
        self._file: IO[bytes] | None = None

    @property
    def spilled(self) -> bool:
        return self._file is not None

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self._file is None:
            room = self.mem_limit - len(self._mem)
            if len(data) <= room:
                self._mem += data
                return
            if room > 0:
                self._mem += data[:room]
                data = data[room:]
            # Closed by close(), which the middleware calls in a finally.
            self._file = tempfile.TemporaryFile(prefix="traefikpy-buffer-")  # noqa: SIM115
        self._file.write(data)

    def chunks(self) -> Iterator[bytes]:
        """The bytes from the start, in pieces of at most 64 KiB (memory first, then the file)."""
        mem = self._mem
        for start in range(0, len(mem), _CHUNK):
            yield bytes(mem[start : start + _CHUNK])
        file = self._file
        if file is not None:
            file.flush()
            file.seek(0)
            while piece := file.read(_CHUNK):
                yield piece

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._mem = bytearray()

    def __repr__(self) -> str:
        return f"<Spool {self.size} bytes mem={len(self._mem)} spilled={self.spilled}>"


class SpoolBody:
    """A :class:`~traefikpy.proxy.http.Body` reading a :class:`Spool` from the start."""

    __slots__ = ("length", "trailers", "_chunks")

    def __init__(self, spool: Spool) -> None:
        self.length: int | None = spool.size
        self.trailers: Headers | None = None
        self._chunks = spool.chunks()

    async def read(self) -> bytes:
        return next(self._chunks, b"")

    async def read_all(self, limit: int | None = None) -> bytes:
        if limit is not None and self.length is not None and self.length > limit:
            raise BodyTooLarge(f"request body of {self.length} bytes exceeds {limit}")
        return b"".join(self._chunks)


class _Attempt:
    """What ``retryExpression`` sees."""

    __slots__ = ("attempts", "code", "method")

    def __init__(self, attempts: int, code: int, method: str) -> None:
        self.attempts = attempts
        self.code = code
        self.method = method


FUNCTIONS: Final[dict[str, Function]] = {
    "Attempts": Function((), "int", lambda: lambda a: a.attempts),
    "ResponseCode": Function((), "int", lambda: lambda a: a.code),
    "IsNetworkError": Function((), "bool", lambda: lambda a: a.code in (502, 504)),
    "RequestMethod": Function((), "string", lambda: lambda a: a.method),
}


def compile_retry(expression: str) -> Predicate:
    """The retry predicate over an attempt; raises ValueError."""
    return compile_expression(expression, FUNCTIONS)


class _BufferWriter(Interceptor):
    """Collects one response (head, body up to the limit, trailers) instead of sending it."""

    __slots__ = ("status", "headers", "reason", "body", "max_bytes", "overflow", "trailers", "ended")

    def __init__(
        self, inner: ResponseWriter, ex: Exchange, outer: list[ResponseHook] | None, mem: int, max_bytes: int
    ) -> None:
        super().__init__(inner, ex, outer)
        self.status = 0
        self.headers: Headers = []
        self.reason: bytes | None = None
        self.body = Spool(mem)
        self.max_bytes = max_bytes
        self.overflow = False
        self.trailers: Headers | None = None
        self.ended = False

    async def send_head(self, status: int, headers: Headers, reason: bytes | None = None) -> None:
        if status < 200 or self.status:
            return  # interim responses are dropped; a second head is a handler bug
        self.status = status
        self.headers = list(headers)
        self.reason = reason

    async def send_body(self, data: bytes) -> None:
        if self.overflow or not data:
            return
        if self.max_bytes > 0 and self.body.size + len(data) > self.max_bytes:
            self.overflow = True
            self.body.close()
            return
        self.body.write(data)

    async def end(self, trailers: Headers | None = None) -> None:
        self.trailers = trailers
        self.ended = True

    async def flush(self, method: bytes) -> None:
        """Send the collected response to the client (outer hooks applied)."""
        status = self.status or 200
        headers = self.headers
        bodiless = status in (204, 304) or method == b"HEAD"
        if not bodiless and not self.trailers and header_value(headers, b"content-length") is None:
            headers.append((b"Content-Length", b"%d" % self.body.size))
        await self.emit_head(status, headers, self.reason)
        inner = self.inner
        if not bodiless:
            for chunk in self.body.chunks():
                await inner.send_body(chunk)
        await inner.end(self.trailers)


class BufferingHandler:
    __slots__ = ("name", "next", "max_request", "mem_request", "max_response", "mem_response", "retry")

    def __init__(self, name: str, next_handler: Handler, options: Buffering, retry: Predicate | None) -> None:
        self.name = name
        self.next = next_handler
        self.max_request = options.max_request_body_bytes
        self.mem_request = options.mem_request_body_bytes
        self.max_response = options.max_response_body_bytes
        self.mem_response = options.mem_response_body_bytes
        self.retry = retry

    async def __call__(self, ex: Exchange) -> None:
        body = ex.body
        limit = self.max_request
        if limit > 0 and body.length is not None and body.length > limit:
            await ex.respond(413, _TOO_LARGE)
            return
        if ex.upgrade:
            await self.next(ex)
            return
        spool: Spool | None = None
        try:
            if type(body) is not EmptyBody:
                spool = Spool(self.mem_request)
                while chunk := await body.read():
                    spool.write(chunk)
                    if 0 < limit < spool.size:
                        await ex.respond(413, _TOO_LARGE)
                        return
            await self._serve(ex, spool)
        finally:
            if spool is not None:
                spool.close()

    async def _serve(self, ex: Exchange, spool: Spool | None) -> None:
        writer = ex.writer
        method = ex.method.decode("latin-1")
        attempt = 1
        while True:
            if spool is not None:
                ex.body = SpoolBody(spool) if spool.size else EmptyBody(0)
            outer = scope(ex)
            collector = _BufferWriter(writer, ex, outer, self.mem_response, self.max_response)
            ex.writer = collector
            failure: ProxyError | None = None
            try:
                await self.next(ex)
            except ClientClosed:
                raise
            except ProxyError as exc:
                if collector.status:
                    raise
                failure = exc
            finally:
                ex.writer = writer
                ex.response_hooks = outer
            code = collector.status or (failure.status if failure is not None else 200)
            retry = self.retry
            if retry is not None and attempt <= MAX_RETRIES and retry(_Attempt(attempt, code, method)):
                collector.body.close()
                ex.status = 0
                attempt += 1
                continue
            ex.status = 0
            try:
                if failure is not None:
                    raise failure
                if collector.overflow:
                    await ex.respond(500, _INTERNAL)
                    return
                await collector.flush(ex.method)
            finally:
                collector.body.close()
            return

    def __repr__(self) -> str:
        return f"<Buffering {self.name} maxRequest={self.max_request} maxResponse={self.max_response}>"


def build_buffering(options: Buffering, next_handler: Handler, name: str, ctx: BuildContext | None = None) -> Handler:
    for key, value in (
        ("maxRequestBodyBytes", options.max_request_body_bytes),
        ("memRequestBodyBytes", options.mem_request_body_bytes),
        ("maxResponseBodyBytes", options.max_response_body_bytes),
        ("memResponseBodyBytes", options.mem_response_body_bytes),
    ):
        if value < 0:
            raise ValueError(f"{key} should be >= 0, got {value}")
    retry = compile_retry(options.retry_expression) if options.retry_expression else None
    return BufferingHandler(name, next_handler, options, retry)


FACTORIES: dict[str, MiddlewareFactory] = {"buffering": build_buffering}
