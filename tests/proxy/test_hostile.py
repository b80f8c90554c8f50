"""Hostile and malformed requests over raw sockets.

Each case is sent in one write on a fresh connection.  It must get its refusal status (Go's
answer: mostly 400, 501 for transfer codings, 505 for HTTP/2 on an HTTP/1 socket, 414/431 for
oversized heads), the connection must close, the backend must never see anything, and the
proxy must keep serving afterwards.
"""

from __future__ import annotations

import pytest

from tests.proxy.backends import Backend
from tests.proxy.client import RawClient
from tests.proxy.conftest import StartProxy

MAX_HEADER = 4096
LONG = b"a" * (MAX_HEADER + 100)

CASES = [
    # -- framing ambiguity (request smuggling) --
    ("CL then TE", b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", {400}),
    ("TE then CL", b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", {400}),
    ("conflicting CL", b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", {400}),
    ("repeated equal CL", b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", {400}),
    ("CL list", b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\nhello", {400}),
    ("negative CL", b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", {400}),
    ("plus CL", b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\nhello", {400}),
    ("huge CL", b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n", {400}),
    ("TE chunked, identity", b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", {400, 501}),
    ("TE identity, chunked", b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n", {501}),
    ("TE xchunked", b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", {400, 501}),
    ("TE gzip", b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\nabc", {400, 501}),
    ("TE twice", b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", {400, 501}),
    ("TE on HTTP/1.0", b"POST /echo HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", {400}),
    # -- chunk framing --
    ("non-hex chunk size", b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", {400}),
    ("negative chunk size", b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n", {400}),
    ("0x chunk size", b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", {400}),
    ("overflowing chunk size", b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\nx\r\n0\r\n\r\n", {400}),
    ("chunk size with space", b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n", {400}),
    ("chunk without CRLF", b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", {400}),
    ("bare LF in chunk extension", b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;a\nb\r\nhello\r\n0\r\n\r\n", {400}),
    (
        "chunk extension abuse",
        b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"".join(b"1;" + b"e" * 2000 + b"\r\nx\r\n" for _ in range(20))
        + b"0\r\n\r\n",
        {400},
    ),
    # -- header bytes --
    ("NUL in value", b"GET /echo HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n", {400}),
    ("CR in value", b"GET /echo HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", {400}),
    ("bare LF in value", b"GET /echo HTTP/1.1\r\nHost: h\r\nX: a\nY: b\r\n\r\n", {400}),
    ("NUL in name", b"GET /echo HTTP/1.1\r\nHost: h\r\nX\x00Y: a\r\n\r\n", {400}),
    ("space in name", b"GET /echo HTTP/1.1\r\nHost: h\r\nX Y: a\r\n\r\n", {400}),
    ("space before colon", b"GET /echo HTTP/1.1\r\nHost: h\r\nX : a\r\n\r\n", {400}),
    ("obs-fold", b"GET /echo HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", {400}),
    ("empty header name", b"GET /echo HTTP/1.1\r\nHost: h\r\n: a\r\n\r\n", {400}),
    ("DEL in value", b"GET /echo HTTP/1.1\r\nHost: h\r\nX: a\x7fb\r\n\r\n", {400}),
    ("bare LF line endings", b"GET /echo HTTP/1.1\nHost: h\n\n", {400}),
    # -- request line --
    ("invalid method token", b"GE@T /echo HTTP/1.1\r\nHost: h\r\n\r\n", {400}),
    ("unknown extension method", b"FOO /echo HTTP/1.1\r\nHost: h\r\n\r\n", {400}),
    ("HTTP/2.0 on HTTP/1", b"GET /echo HTTP/2.0\r\nHost: h\r\n\r\n", {505}),
    # the h2 preface itself switches to h2c (tests/proxy/test_h2_server.py); half of it is refused
    ("h2 preface cut short", b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n", {400, 505}),
    ("HTTP/1.2", b"GET /echo HTTP/1.2\r\nHost: h\r\n\r\n", {400, 505}),
    ("HTTP/0.9", b"GET /echo HTTP/0.9\r\nHost: h\r\n\r\n", {400, 505}),
    ("no version", b"GET /echo\r\n\r\n", {400}),
    ("lower-case version", b"GET /echo http/1.1\r\nHost: h\r\n\r\n", {400}),
    ("space in target", b"GET /ec ho HTTP/1.1\r\nHost: h\r\n\r\n", {400}),
    ("tab in target", b"GET /ec\tho HTTP/1.1\r\nHost: h\r\n\r\n", {400}),
    ("non-ascii target", b"GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", {400}),
    ("fragment", b"GET /echo#frag HTTP/1.1\r\nHost: h\r\n\r\n", {400}),
    ("relative target", b"GET echo HTTP/1.1\r\nHost: h\r\n\r\n", {400}),
    ("asterisk with GET", b"GET * HTTP/1.1\r\nHost: h\r\n\r\n", {400}),
    ("bad percent escape", b"GET /a%zzb HTTP/1.1\r\nHost: h\r\n\r\n", {400}),
    ("CONNECT", b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", {405}),
    # -- absolute-form weirdness --
    ("absolute with userinfo", b"GET http://user:pw@h/echo HTTP/1.1\r\nHost: h\r\n\r\n", {400}),
    ("absolute without host", b"GET http:///echo HTTP/1.1\r\nHost: h\r\n\r\n", {400}),
    ("absolute bad port", b"GET http://h:port/echo HTTP/1.1\r\nHost: h\r\n\r\n", {400}),
    ("absolute other scheme", b"GET ftp://h/echo HTTP/1.1\r\nHost: h\r\n\r\n", {400}),
    ("absolute with fragment", b"GET http://h/echo#x HTTP/1.1\r\nHost: h\r\n\r\n", {400}),
    # -- Host --
    ("missing Host on 1.1", b"GET /echo HTTP/1.1\r\nX: y\r\n\r\n", {400}),
    ("two Host headers", b"GET /echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", {400}),
    ("Host with space", b"GET /echo HTTP/1.1\r\nHost: a b\r\n\r\n", {400}),
    ("Host with slash", b"GET /echo HTTP/1.1\r\nHost: a/b\r\n\r\n", {400}),
    ("Host with userinfo", b"GET /echo HTTP/1.1\r\nHost: u@a\r\n\r\n", {400}),
    # -- sizes --
    ("oversized header", b"GET /echo HTTP/1.1\r\nHost: h\r\nX-Big: " + LONG + b"\r\n\r\n", {431}),
    ("too many headers", b"GET /echo HTTP/1.1\r\nHost: h\r\n" + b"X-A: 0123456789\r\n" * 400 + b"\r\n", {431}),
    ("oversized target", b"GET /" + LONG + b" HTTP/1.1\r\nHost: h\r\n\r\n", {414, 431}),
    # -- semantics --
    ("upgrade with a body", b"GET /echo HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 3\r\n\r\nabc", {400}),
    ("unknown expectation", b"POST /echo HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\nx", {417}),
    ("continue on HTTP/1.0", b"POST /echo HTTP/1.0\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx", {417}),
]


@pytest.mark.parametrize(("desc", "data", "statuses"), CASES, ids=[c[0] for c in CASES])
async def test_hostile_request_refused(
    start_proxy: StartProxy, backend: Backend, desc: str, data: bytes, statuses: set[int]
) -> None:
    proxy = await start_proxy(max_header_bytes=MAX_HEADER)
    client = await RawClient.connect(proxy.port)
    await client.send(data)
    resp = await client.response()
    assert resp.status in statuses, resp.raw_head
    assert resp.header("connection") == "close"
    assert await client.closed(), "the connection must close after a refused request"
    assert backend.requests == [], f"{desc!r} reached the backend"
    # The proxy keeps serving.
    good = await RawClient.connect(proxy.port)
    ok = await good.request("GET", "/echo/after")
    assert ok.status == 200
    await good.close()


async def test_refusal_after_pipelined_good_request(start_proxy: StartProxy, backend: Backend) -> None:
    """A bad request behind a good one: the good one is answered first, then the 400."""
    proxy = await start_proxy()
    client = await RawClient.connect(proxy.port)
    await client.send(
        b"GET /delay?ms=100 HTTP/1.1\r\nHost: h\r\n\r\n"
        b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    )
    first = await client.response()
    assert first.status == 200
    second = await client.response()
    assert second.status == 400
    assert await client.closed()
    assert [r.target for r in backend.requests] == ["/delay?ms=100"]


async def test_bad_chunk_after_forwarding_started_closes_both_sides(start_proxy: StartProxy) -> None:
    """Streaming means a body error found later cannot be unsent: the exchange is aborted."""
    proxy = await start_proxy()
    client = await RawClient.connect(proxy.port)
    await client.send(b"POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
    await client.send(b"zz\r\n")
    resp = await client.response()
    assert resp.status == 400
    assert await client.closed()
