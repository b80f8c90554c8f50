"""Reading HTTP/1.1 requests off a client connection: the llhttp callbacks.

The first half of :class:`~traefikpy.proxy.server.H1Connection` (a mixin): bytes in, PROXY
protocol header first if the entry point expects one, then llhttp (``httptools``) callbacks:

``on_message_begin`` -> ``on_url``/``on_header`` (classified with one cached dict lookup by raw
name: hop-by-hop headers are consumed, ``X-Forwarded-*`` from untrusted peers dropped, sizes
counted against ``maxHeaderBytes``) -> ``on_headers_complete`` (``h1request.build_request``:
validation, path rules, forwarded headers, Exchange; the handler starts now, before the body)
-> ``on_body`` (into the request body, with pause/resume flow control) -> ``on_message_complete``.

Parse errors never reach the handler: they become a refusal (``_reject``) with Go's status.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Final

import httptools

from traefikpy.proxy import proxyproto
from traefikpy.proxy.connections import ServerConfig
from traefikpy.proxy.errors import RequestBodyError
from traefikpy.proxy.h1body import NO_BODY, RequestBody
from traefikpy.proxy.h1request import HeadFacts, RequestState, build_request, start_request
from traefikpy.proxy.h1rules import (
    H_ALIAS,
    H_CONTENT_LENGTH,
    H_HOST,
    H_PLAIN,
    Reject,
    classify_request_header,
    parser_error_status,
)
from traefikpy.proxy.h1writer import H1Writer
from traefikpy.proxy.http import Headers

log = logging.getLogger("traefikpy.proxy")

PAUSE_PIPELINE: Final = 2
_HEAD_SLACK: Final = 4096 + 256 * 1024  # raw bytes allowed past maxHeaderBytes before bailing out
_KNOWN_MAX: Final = 8192  # longest packet a connection remembers as its repeated head
_KIND_CACHE: dict[bytes, int] = {}
"""Header class by raw (as-sent) name: one dict lookup per header instead of lower() + lookup."""


class RequestReader:
    """Parsing side of an HTTP/1.1 connection (state lives on the connection object)."""

    config: ServerConfig
    parser: httptools.HttpRequestParser
    loop: asyncio.AbstractEventLoop
    client_ip: str
    trusted: bool
    read_deadline: float
    write_deadline: float
    idle_deadline: float
    url: bytes
    headers: Headers
    host: bytes | None
    content_length: bytes | None
    rs: RequestState | None
    _pp: bytes | None
    _stash: bytes | None
    _cur: H1Writer | None
    _active: H1Writer | None
    _queue: deque[H1Writer]
    _in_head: bool
    _head_raw: int
    _hsize: int
    _trailers: Headers | None
    _wire: int
    _chunks: int
    _feeding: int
    _known_head: bytes
    _known: HeadFacts | None
    candidate: HeadFacts | None
    _messages: int

    # provided by the connection
    def _reject(self, status: int, detail: str = "") -> None:
        raise NotImplementedError

    def _activate(self, writer: H1Writer) -> None:
        raise NotImplementedError

    def _pause(self, reason: int) -> None:
        raise NotImplementedError

    def _set_client(self, ip: str, port: int) -> None:
        raise NotImplementedError

    def _on_parser_upgrade(self, rest: bytes) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError

    def data_received(self, data: bytes) -> None:
        if data == self._known_head and self._cur is None and not self._in_head and self._stash is None:
            # The packet repeats the last whole-packet bodyless head (see HeadFacts): the same
            # request again, without llhttp (idle between messages) or the head checks.
            self.idle_deadline = self.read_deadline = 0.0
            self._dispatch(start_request(self, self._known, NO_BODY, b""))  # type: ignore[arg-type]
            return
        if self._pp is not None:
            data = self._proxy_header(data)
            if not data:
                return
        if self._stash is not None:
            self._stash += data
            return
        idle = self._cur is None and not self._in_head
        self._messages = 0
        self._feed(data)
        known = self.candidate
        if known is not None:
            self.candidate = None
            if (idle and self._messages == 1 and self._cur is None and not self._in_head and self._stash is None
                    and len(data) <= _KNOWN_MAX):
                self._known_head = data  # one bodyless request, start to end of the packet
                self._known = known

    def _proxy_header(self, data: bytes) -> bytes:
        assert self._pp is not None and self.config.proxy_protocol is not None
        buf = self._pp + data
        try:
            result = proxyproto.parse(buf)
        except proxyproto.ProxyProtocolError as exc:
            log.debug("closing %s: %s", self.client_ip, exc)
            self._pp = None
            self.abort()
            return b""
        if result is proxyproto.INCOMPLETE:
            self._pp = buf
            return b""
        self._pp = None
        if isinstance(result, proxyproto.ProxyHeader):
            if not result.local and self.config.proxy_protocol.trusts(self.client_ip):
                self._set_client(result.src_ip, result.src_port)
            return buf[result.consumed :]
        return buf

    def _feed(self, data: bytes) -> None:
        self._feeding = len(data)
        if self._wire >= 0:
            self._wire += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            self._on_parser_upgrade(data[exc.args[0] :])
            return
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, Reject):
                self._reject(cause.status, cause.detail)
            else:
                log.error("request parsing failed", exc_info=cause)
                self._reject(400)
            return
        except httptools.HttpParserError as exc:
            status, detail = parser_error_status(str(exc))
            if self._cur is not None:
                self._cur.body.fail(RequestBodyError(f"malformed request body: {exc}"))
            self._reject(status, detail)
            return
        if self._in_head:
            self._head_raw += len(data)
            if self._head_raw > self.config.max_header_bytes + _HEAD_SLACK:
                self._reject(431)
        elif self._wire >= 0 and self._cur is not None and self._chunk_overhead(self._cur):
            self._cur.body.fail(RequestBodyError("chunked encoding contains too much non-data"))
            self._reject(400, "chunked encoding contains too much non-data")

    def _chunk_overhead(self, cur: H1Writer) -> bool:
        """Go's chunked reader rule: at most 16 bytes + 2x the chunk size of framing per chunk,
        with 16 KiB of slack; more is an attack (tiny chunks, huge extensions), not a body.

        Wire bytes are counted from the packet holding the head (minus the head's size), so an
        abusive body inside that first packet is refused before the handler ever runs."""
        received = cur.body.received
        return self._wire - received - 16 * self._chunks - 2 * received > 16 * 1024

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._in_head = True
        self._messages += 1
        self.candidate = None
        self._head_raw = 0
        self.url = b""
        self.headers = []
        self._hsize = 0
        self.host = None
        self.content_length = None
        self.rs = None
        self.idle_deadline = 0.0
        if not self.read_deadline and self.config.read_timeout > 0:
            self.read_deadline = self.loop.time() + self.config.read_timeout

    def on_url(self, url: bytes) -> None:
        self.url += url
        if len(self.url) > self.config.max_header_bytes:
            raise Reject(414)

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._in_head:
            self._on_trailer(name, value)
            return
        self._hsize += len(name) + len(value) + 4
        if self._hsize > self.config.max_header_bytes - len(self.url):
            raise Reject(431)
        kind = _KIND_CACHE.get(name)
        if kind is None:
            kind = classify_request_header(name)
            if len(_KIND_CACHE) < 10000:
                _KIND_CACHE[name] = kind
        if kind == H_PLAIN:
            self.headers.append((name, value))
        elif kind == H_HOST:
            if self.host is not None:
                self._state().host_count += 1
            self.host = value
            self.headers.append((name, value))
        elif kind == H_CONTENT_LENGTH:
            self.content_length = value
            self.headers.append((name, value))
        elif kind == H_ALIAS:
            if self.trusted:  # an X_Forwarded_For-style alias is only kept from trusted peers
                self.headers.append((name, value))
        else:
            self._state().add(kind, name, value, self.trusted, self.headers)

    def _state(self) -> RequestState:
        rs = self.rs
        if rs is None:
            rs = self.rs = RequestState()
        return rs

    def _on_trailer(self, name: bytes, value: bytes) -> None:
        self._hsize += len(name) + len(value) + 4
        if self._hsize > self.config.max_header_bytes:
            raise Reject(431)
        if classify_request_header(name) not in (H_PLAIN, H_ALIAS):
            return  # framing, routing and hop-by-hop fields are not allowed in trailers
        if self._trailers is None:
            self._trailers = [(name, value)]
        else:
            self._trailers.append((name, value))

    def on_headers_complete(self) -> None:
        self._in_head = False
        writer = build_request(self)  # type: ignore[arg-type]  # the mixin is an H1Connection
        self._cur = writer
        if writer.body.length is None and not writer.body.complete:
            # Bytes of this packet after the head (an estimate: header whitespace may vary).
            head = len(writer.method) + len(self.url) + self._hsize + 13
            self._wire = max(0, self._feeding - head)
            self._chunks = 0
        self._hsize = 0
        self._dispatch(writer)

    def _dispatch(self, writer: H1Writer) -> None:
        """A request head is complete: answer it now or after the ones before it."""
        if self.config.write_timeout > 0:
            self.write_deadline = self.loop.time() + self.config.write_timeout
        if self._active is None and not self._queue:
            self._activate(writer)
        else:
            self._queue.append(writer)
            self._pause(PAUSE_PIPELINE)

    def on_chunk_header(self) -> None:
        self._chunks += 1

    def on_body(self, data: bytes) -> None:
        cur = self._cur
        if cur is not None and not cur.discard:
            cur.body.feed(data)  # type: ignore[union-attr]

    def on_message_complete(self) -> None:
        cur = self._cur
        if self._wire >= 0 and cur is not None and self._chunk_overhead(cur):
            raise Reject(400, "chunked encoding contains too much non-data")
        self._cur = None
        self._wire = -1
        self.read_deadline = 0.0
        if cur is not None and isinstance(cur.body, RequestBody):
            cur.body.finish(self._trailers)
        self._trailers = None
