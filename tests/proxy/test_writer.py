"""Responses written by handlers (framing, keep-alive, hooks) as a client sees them."""

from __future__ import annotations

import pytest

from tests.proxy.backends import Backend
from tests.proxy.client import RawClient, build
from tests.proxy.conftest import StartProxy, forwarding_app
from traefikpy.proxy.forward import Forwarder
from traefikpy.proxy.http import BodyTooLarge, Exchange, Headers
from traefikpy.proxy.upstream import Upstreams


async def app(ex: Exchange) -> None:
    path = ex.path
    if path == "/length":
        await ex.respond(201, b"created", [(b"X-A", b"1")])
    elif path == "/stream":
        await ex.send_head(200, [(b"Content-Type", b"text/plain")])
        for part in (b"one ", b"two ", b"three"):
            await ex.send_body(part)
        await ex.end([(b"X-Trailer", b"t")])
    elif path == "/nocontent":
        await ex.send_head(204, [(b"X-B", b"2")])
        await ex.send_body(b"ignored")
        await ex.end()
    elif path == "/notmodified":
        await ex.send_head(304, [(b"ETag", b'"x"')])
        await ex.end()
    elif path == "/short":
        await ex.send_head(200, [(b"Content-Length", b"10")])
        await ex.send_body(b"12345")
        await ex.end()
    elif path == "/long":
        await ex.send_head(200, [(b"Content-Length", b"3")])
        await ex.send_body(b"123456")
    elif path == "/twice":
        await ex.send_head(200, [(b"Content-Length", b"0")])
        try:
            await ex.send_head(500, [])
        except RuntimeError:
            await ex.end()
    elif path == "/hop":
        await ex.respond(200, b"x", [(b"Connection", b"X-Y"), (b"Transfer-Encoding", b"gzip"), (b"X-Ok", b"1")])
    elif path == "/injection":
        await ex.respond(200, b"x", [(b"X-Evil", b"a\r\nSet-Cookie: pwned=1")])
    elif path == "/hints":
        await ex.send_head(103, [(b"Link", b"</a.css>; rel=preload")])
        await ex.respond(200, b"after hints")
    elif path == "/limit":
        try:
            await ex.body.read_all(limit=4)
        except BodyTooLarge:
            await ex.respond(413, b"too large")
    else:
        await ex.respond(404, b"")


@pytest.fixture
async def client(start_proxy: StartProxy) -> RawClient:
    proxy = await start_proxy(app=app)
    return await RawClient.connect(proxy.port)


async def test_content_length_response(client: RawClient) -> None:
    resp = await client.request("GET", "/length")
    assert (resp.status, resp.body) == (201, b"created")
    assert resp.header("content-length") == "7"
    assert resp.header("x-a") == "1"
    assert resp.header("date") is not None
    assert resp.header("content-type") == "text/plain; charset=utf-8"


async def test_streamed_response_is_chunked_with_trailers(client: RawClient) -> None:
    resp = await client.request("GET", "/stream")
    assert resp.header("transfer-encoding") == "chunked"
    assert resp.body == b"one two three"
    assert resp.trailers == [(b"X-Trailer", b"t")]


async def test_streamed_response_to_http10_is_close_delimited(client: RawClient) -> None:
    await client.send(build("GET", "/stream", [("Connection", "keep-alive")], version="HTTP/1.0"))
    resp = await client.response()
    assert resp.header("transfer-encoding") is None
    assert resp.header("connection") == "close"
    assert resp.body == b"one two three"


@pytest.mark.parametrize(("path", "status"), [("/nocontent", 204), ("/notmodified", 304)])
async def test_bodiless_statuses(client: RawClient, path: str, status: int) -> None:
    resp = await client.request("GET", path)
    assert resp.status == status
    assert resp.header("transfer-encoding") is None
    follow = await client.request("GET", "/length")  # nothing leaked into the stream
    assert follow.body == b"created"


async def test_head_keeps_length_without_body(client: RawClient) -> None:
    resp = await client.request("HEAD", "/length")
    assert resp.header("content-length") == "7"
    follow = await client.request("GET", "/length")
    assert follow.body == b"created"


async def test_short_body_closes_connection(client: RawClient) -> None:
    await client.send(build("GET", "/short"))
    head = await client.reader.readuntil(b"\r\n\r\n")
    assert b"Content-Length: 10" in head
    assert await client.reader.read() == b"12345"


async def test_long_body_aborts(client: RawClient) -> None:
    await client.send(build("GET", "/long"))
    await client.reader.readuntil(b"\r\n\r\n")
    assert len(await client.reader.read()) <= 3


async def test_second_head_is_refused(client: RawClient) -> None:
    resp = await client.request("GET", "/twice")
    assert resp.status == 200


async def test_handler_hop_by_hop_headers_dropped(client: RawClient) -> None:
    resp = await client.request("GET", "/hop")
    assert resp.header("connection") is None
    assert resp.header("transfer-encoding") is None
    assert resp.header("x-ok") == "1"
    assert resp.body == b"x"


async def test_header_injection_neutralised(client: RawClient) -> None:
    resp = await client.request("GET", "/injection")
    assert resp.header("set-cookie") is None
    assert resp.header("x-evil") == "a  Set-Cookie: pwned=1"


async def test_interim_response_from_handler(client: RawClient) -> None:
    await client.send(build("GET", "/hints"))
    responses = await client.interim_and_final()
    assert [r.status for r in responses] == [103, 200]
    assert responses[0].header("link") == "</a.css>; rel=preload"
    assert responses[1].body == b"after hints"


async def test_read_all_limit(client: RawClient) -> None:
    resp = await client.request("POST", "/limit", body=b"0123456789")
    assert resp.status == 413


async def test_response_hooks_on_forwarded_responses(
    start_proxy: StartProxy, backend: Backend, upstreams: Upstreams
) -> None:
    inner = forwarding_app(Forwarder.create(upstreams, backend.url))

    def hook(status: int, headers: Headers) -> int:
        headers.append((b"X-Hooked", b"yes"))
        return 299 if status == 200 else status

    async def hooked(ex: Exchange) -> None:
        ex.on_response(hook)
        await inner(ex)

    proxy = await start_proxy(app=hooked)
    client = await RawClient.connect(proxy.port)
    resp = await client.request("GET", "/echo")
    assert resp.status == 299 and resp.header("x-hooked") == "yes"
    resp = await client.request("GET", "/trailers")
    assert resp.header("x-hooked") == "yes"
    assert resp.body == b"hello trailer world"
    assert dict(resp.trailers)[b"X-Count"] == b"3"
    resp = await client.request("GET", "/hop")
    assert resp.header("keep-alive") is None and resp.header("x-hop") is None
    await client.close()


def test_from_parts_matches_init() -> None:
    args = dict(
        method=b"GET", raw_path=b"/a%20b", path="/a b", query=b"q", version=b"1.1", headers=[(b"H", b"v")],
        host="h", scheme="https", client_ip="1.2.3.4", client_port=5, entrypoint="web", body=None, writer=None,
        tls=None, started=1.5, upgrade=b"websocket",
    )
    slow = Exchange(**args)  # type: ignore[arg-type]
    fast = Exchange.from_parts(*args.values())  # type: ignore[arg-type]
    for slot in Exchange.__slots__:
        if slot != "__weakref__":
            assert getattr(slow, slot) == getattr(fast, slot), slot
