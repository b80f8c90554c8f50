"""End to end through real sockets: client -> EntryPointServer -> Forwarder -> Backend."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from tests.proxy.backends import Backend, echo_json
from tests.proxy.client import RawClient, build, chunked
from tests.proxy.conftest import StartProxy
from traefikpy.proxy.upstream import Upstreams


async def test_forwards_request_and_response(start_proxy: StartProxy, backend: Backend) -> None:
    proxy = await start_proxy()
    client = await RawClient.connect(proxy.port)
    resp = await client.request("GET", "/echo/a%20b?x=1;y=2", headers=[("X-Custom", "v")], host="Example.com:81")
    assert resp.status == 200
    seen = echo_json(resp.body)
    assert seen["method"] == "GET"
    assert seen["target"] == "/echo/a%20b?x=1&y=2"  # Traefik turns ';' into '&' in the query
    got = backend.requests[-1]
    assert got.header("host") == "Example.com:81"  # passHostHeader (default)
    assert got.header("x-custom") == "v"
    assert got.header("x-forwarded-for") == "127.0.0.1"
    assert got.header("x-real-ip") == "127.0.0.1"
    assert got.header("x-forwarded-proto") == "http"
    assert got.header("x-forwarded-host") == "Example.com:81"
    assert got.header("x-forwarded-port") == "81"
    assert got.header("x-forwarded-server") == "proxy-host"
    assert resp.header("date") is not None  # the backend sends none; Go's server adds one
    await client.close()


async def test_pass_host_header_false_sends_server_host(start_proxy: StartProxy, backend: Backend) -> None:
    proxy = await start_proxy(pass_host_header=False)
    client = await RawClient.connect(proxy.port)
    await client.request("GET", "/echo", host="public.example")
    assert backend.requests[-1].header("host") == f"127.0.0.1:{backend.port}"
    assert backend.requests[-1].header("x-forwarded-host") == "public.example"
    await client.close()


async def test_keep_alive_reuses_client_and_upstream_connections(
    start_proxy: StartProxy, backend: Backend, upstreams: Upstreams
) -> None:
    proxy = await start_proxy()
    client = await RawClient.connect(proxy.port)
    for i in range(5):
        resp = await client.request("GET", f"/echo/{i}")
        assert resp.status == 200
        assert echo_json(resp.body)["target"] == f"/echo/{i}"
        assert resp.header("connection") in (None, "keep-alive")
    assert backend.connections == 1
    stats = upstreams.stats()
    assert (stats["opened"], stats["reused"]) == (1, 4)
    assert proxy.open_connections == 1
    await client.close()


async def test_pipelined_requests_answered_in_order(start_proxy: StartProxy, backend: Backend) -> None:
    proxy = await start_proxy()
    client = await RawClient.connect(proxy.port)
    # The first one is slow: the others must still come back after it, in order.
    await client.send(
        build("GET", "/delay?ms=150")
        + build("POST", "/echo/2", body=b"two")
        + build("GET", "/echo/3")
        + build("HEAD", "/echo/4")
        + build("GET", "/echo/5")
    )
    first = await client.response()
    assert echo_json(first.body)["target"] == "/delay?ms=150"
    second = await client.response()
    assert echo_json(second.body)["body"] == "two"
    assert echo_json((await client.response()).body)["target"] == "/echo/3"
    head = await client.response(head_only=True)
    assert head.status == 200 and int(head.header("content-length") or 0) > 0
    assert echo_json((await client.response()).body)["target"] == "/echo/5"
    await client.close()


async def test_head_response_has_no_body(start_proxy: StartProxy) -> None:
    proxy = await start_proxy()
    client = await RawClient.connect(proxy.port)
    head = await client.request("HEAD", "/bytes?size=5000")
    assert head.status == 200
    assert head.header("content-length") == "5000"
    # Same connection still in sync: the next response is complete and correct.
    follow = await client.request("GET", "/echo/after-head")
    assert echo_json(follow.body)["target"] == "/echo/after-head"
    head = await client.request("HEAD", "/chunked")
    assert head.status == 200
    follow = await client.request("GET", "/echo/after-chunked-head")
    assert echo_json(follow.body)["target"] == "/echo/after-chunked-head"
    await client.close()


async def test_chunked_response_and_trailers(start_proxy: StartProxy) -> None:
    proxy = await start_proxy()
    client = await RawClient.connect(proxy.port)
    resp = await client.request("GET", "/chunked?n=4&size=3")
    assert resp.header("transfer-encoding") == "chunked"
    assert resp.header("date") is not None
    assert resp.body == b"aaabbbcccddd"
    resp = await client.request("GET", "/trailers")
    assert resp.body == b"hello trailer world"
    trailers = {k.decode(): v.decode() for k, v in resp.trailers}
    assert trailers["X-Checksum"] == hashlib.sha256(b"hello trailer world").hexdigest()
    assert trailers["X-Count"] == "3"
    await client.close()


async def test_chunked_request_body_and_trailers(start_proxy: StartProxy, backend: Backend) -> None:
    proxy = await start_proxy()
    client = await RawClient.connect(proxy.port)
    body = chunked(b"hello ", b"chunked ", b"world", trailers=[("X-Sum", "42")])
    resp = await client.request("POST", "/echo", headers=[("Transfer-Encoding", "chunked")], body=body)
    seen = echo_json(resp.body)
    assert seen["body"] == "hello chunked world"
    assert ["X-Sum", "42"] in seen["trailers"]
    assert backend.requests[-1].header("transfer-encoding") == "chunked"
    await client.close()


async def test_http10_client(start_proxy: StartProxy) -> None:
    proxy = await start_proxy()
    # No keep-alive by default: the connection closes after the response.
    client = await RawClient.connect(proxy.port)
    resp = await client.request("GET", "/echo", version="HTTP/1.0", host=None)
    assert resp.status == 200
    assert await client.closed()
    # Keep-alive when asked, and an unknown length is delimited by closing.
    client = await RawClient.connect(proxy.port)
    resp = await client.request("GET", "/echo/1", headers=[("Connection", "keep-alive")], version="HTTP/1.0")
    assert resp.header("connection") == "keep-alive"
    await client.send(build("GET", "/chunked?n=2&size=4", [("Connection", "keep-alive")], version="HTTP/1.0"))
    resp = await client.response()
    assert resp.header("transfer-encoding") is None
    assert resp.header("connection") == "close"
    assert resp.body == b"aaaabbbb"
    await client.close()


async def test_expect_continue(start_proxy: StartProxy, backend: Backend) -> None:
    proxy = await start_proxy()
    client = await RawClient.connect(proxy.port)
    await client.send(
        b"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n"
    )
    interim = await client.reader.readuntil(b"\r\n\r\n")
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    await client.send(b"hello world")
    resp = await client.response()
    assert echo_json(resp.body)["size"] == 11
    assert backend.requests[-1].header("expect") is None
    await client.close()


async def test_expect_continue_not_sent_when_handler_answers_first(start_proxy: StartProxy) -> None:
    async def deny(ex):  # type: ignore[no-untyped-def]
        await ex.respond(401, b"no\n")

    proxy = await start_proxy(app=deny)
    client = await RawClient.connect(proxy.port)
    await client.send(b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
    resp = await client.response()
    assert resp.status == 401
    assert resp.header("connection") == "close"  # the unsent body makes the connection unusable
    assert await client.closed()


async def test_unknown_expectation_is_417(start_proxy: StartProxy, backend: Backend) -> None:
    proxy = await start_proxy()
    client = await RawClient.connect(proxy.port)
    resp = await client.request("POST", "/echo", headers=[("Expect", "magic")], body=b"x")
    assert resp.status == 417
    assert backend.requests == []


@pytest.mark.timeout(60)
async def test_large_bodies_stream_with_bounded_memory(start_proxy: StartProxy, upstreams: Upstreams) -> None:
    import resource

    proxy = await start_proxy()
    size = 50 * 1024 * 1024
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    client = await RawClient.connect(proxy.port)
    # Download 50 MB, reading slowly at first so the proxy must pause the upstream.
    await client.send(build("GET", f"/bytes?size={size}"))
    head = await client.reader.readuntil(b"\r\n\r\n")
    assert b"Content-Length: %d" % size in head
    await asyncio.sleep(0.3)
    got = 0
    while got < size:
        got += len(await client.reader.read(1 << 20))
    assert got == size
    # Upload 50 MB (chunked: unknown length) and let the backend hash it.
    piece = b"y" * (1 << 20)
    await client.send(b"POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
    for _ in range(50):
        await client.send(b"%x\r\n%s\r\n" % (len(piece), piece))
    await client.send(b"0\r\n\r\n")
    resp = await client.response(timeout=30)
    result = echo_json(resp.body)
    expected = hashlib.sha256()
    for _ in range(50):
        expected.update(piece)
    assert result["size"] == size
    assert result["sha256"] == expected.hexdigest()
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    # Backend, client and proxy share this process; without flow control one direction
    # alone would hold 50 MB.
    assert grown_kib < 40 * 1024, f"max RSS grew by {grown_kib} KiB"
    await client.close()


async def test_response_hop_by_hop_headers_removed(start_proxy: StartProxy) -> None:
    proxy = await start_proxy()
    client = await RawClient.connect(proxy.port)
    resp = await client.request("GET", "/hop")
    assert resp.body == b"ok"
    assert resp.header("keep-alive") is None
    assert resp.header("x-hop") is None  # listed in Connection
    assert resp.header("proxy-authenticate") is None
    assert resp.header("x-kept") == "yes"
    assert resp.header("connection") is None
    await client.close()


async def test_request_hop_by_hop_headers_removed(start_proxy: StartProxy, backend: Backend) -> None:
    proxy = await start_proxy()
    client = await RawClient.connect(proxy.port)
    await client.request(
        "GET",
        "/echo",
        headers=[
            ("Connection", "keep-alive, X-Secret"),
            ("X-Secret", "drop me"),
            ("Keep-Alive", "300"),
            ("Proxy-Authorization", "Basic Zm9vOmJhcg=="),
            ("TE", "trailers"),
            ("X-Kept", "1"),
        ],
    )
    got = backend.requests[-1]
    for name in ("connection", "x-secret", "keep-alive", "proxy-authorization", "te"):
        assert got.header(name) is None, name
    assert got.header("x-kept") == "1"
    await client.close()


async def test_interim_early_hints_forwarded(start_proxy: StartProxy) -> None:
    proxy = await start_proxy()
    client = await RawClient.connect(proxy.port)
    await client.send(build("GET", "/interim"))
    final = await client.response()
    assert final.status == 200 and final.body == b"final\n"
    await client.close()


async def test_truncated_upstream_body_closes_client(start_proxy: StartProxy) -> None:
    proxy = await start_proxy()
    client = await RawClient.connect(proxy.port)
    await client.send(build("GET", "/partial"))
    head = await client.reader.readuntil(b"\r\n\r\n")
    assert b"Content-Length: 100" in head
    rest = await client.reader.read()  # the proxy aborts: never a complete, reusable response
    assert len(rest) < 100


async def test_close_delimited_upstream_response_rechunked(start_proxy: StartProxy) -> None:
    proxy = await start_proxy()
    client = await RawClient.connect(proxy.port)
    resp = await client.request("GET", "/nolength")
    assert resp.body == b"until the end"
    assert resp.header("transfer-encoding") == "chunked"
    # The client connection stays usable.
    again = await client.request("GET", "/echo/next")
    assert again.status == 200
    await client.close()


async def test_early_response_before_upload_finished(start_proxy: StartProxy) -> None:
    proxy = await start_proxy()
    client = await RawClient.connect(proxy.port)
    await client.send(b"POST /early HTTP/1.1\r\nHost: h\r\nContent-Length: 1000000\r\n\r\n" + b"z" * 1000)
    resp = await client.response()
    assert resp.status == 413
    assert resp.header("connection") == "close"
    await client.close()


async def test_repeated_headers_with_a_different_method(start_proxy: StartProxy, backend: Backend) -> None:
    """The forwarder reuses the previous header block only when it would render the same."""
    proxy = await start_proxy()
    client = await RawClient.connect(proxy.port)
    await client.request("GET", "/echo", headers=[("X-Same", "1")])
    assert backend.requests[-1].header("content-length") is None
    await client.request("POST", "/echo", headers=[("X-Same", "1"), ("Content-Length", "0")])
    assert backend.requests[-1].header("content-length") == "0"
    await client.request("POST", "/echo", headers=[("X-Same", "1")], body=b"abc")
    assert backend.requests[-1].header("content-length") == "3"
    assert backend.requests[-1].body == b"abc"
    await client.close()
