"""A connection that sends the same bodyless head again (a poller, a health checker, wrk) gets
it answered from the facts of the first parse (``h1request.HeadFacts``), without llhttp.

The shortcut must be invisible: each repeat is a fresh request (its own headers, forwarded
headers, middleware edits), and bytes that equal the remembered head but are not a new request
(a body, the rest of a partial head, two requests in one packet) are parsed as what they are.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from tests.harness import RunningApp, lb, running_app, until
from tests.proxy.backends import Backend
from tests.proxy.client import RawClient
from traefikpy.proxy import h1reader

HOST = "repeat.test"
HEAD = b"GET /echo?poll HTTP/1.1\r\nHost: repeat.test\r\nUser-Agent: poller\r\n\r\n"


@pytest.fixture
async def app(backend: Backend) -> AsyncIterator[RunningApp]:
    config = {"http": {
        "routers": {"r": {"rule": f"Host(`{HOST}`)", "service": "s", "middlewares": ["add"]}},
        "middlewares": {"add": {"headers": {"customRequestHeaders": {"X-Added": "yes"}}}},
        "services": {"s": lb(backend.url)},
    }}
    async with running_app(config) as rt:
        yield rt


async def repeat(c: RawClient, count: int) -> None:
    for _ in range(count):
        await c.send(HEAD)
        resp = await c.response()
        assert resp.status == 200
        assert json.loads(resp.body)["target"] == "/echo?poll"


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One item per request head that went through llhttp and the head checks."""
    calls: list[int] = []
    build = h1reader.build_request
    monkeypatch.setattr(h1reader, "build_request", lambda conn: calls.append(1) or build(conn))
    return calls


async def test_repeated_head_is_a_fresh_request_each_time(app: RunningApp, backend: Backend, parsed: list[int]) -> None:
    c = await RawClient.connect(app.app.port("web"))
    await repeat(c, 6)
    await c.close()
    assert len(backend.requests) == 6
    for seen in backend.requests:
        assert seen.header_values("X-Added") == ["yes"]  # the middleware's edit never accumulates
        assert seen.header_values("X-Forwarded-For") == ["127.0.0.1"]
        assert seen.header("X-Forwarded-Host") == HOST
        assert seen.header("User-Agent") == "poller"
    assert len(parsed) == 1  # the five repeats skipped the parser


async def test_body_bytes_equal_to_the_head_stay_a_body(app: RunningApp, backend: Backend) -> None:
    c = await RawClient.connect(app.app.port("web"))
    await repeat(c, 2)
    await c.send(b"POST /echo?upload HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n" % (HOST.encode(), len(HEAD)))
    await asyncio.sleep(0.1)  # the head is read alone: the proxy now waits for the body
    await c.send(HEAD)
    resp = await c.response()
    assert resp.status == 200
    got = json.loads(resp.body)
    assert got["method"] == "POST" and got["target"] == "/echo?upload"
    assert backend.requests[-1].body == HEAD
    assert len(backend.requests) == 3
    await repeat(c, 1)  # and the remembered head still works afterwards
    assert len(backend.requests) == 4
    await c.close()


async def test_head_bytes_that_finish_a_partial_head_are_part_of_it(app: RunningApp, backend: Backend) -> None:
    c = await RawClient.connect(app.app.port("web"))
    await repeat(c, 2)
    await c.send(b"GET /echo?other HTTP/1.1\r\nX-Pad: a")
    await asyncio.sleep(0.1)
    await c.send(HEAD)  # ends the X-Pad value, then Host and User-Agent, then the blank line
    resp = await c.response()
    assert resp.status == 200
    assert json.loads(resp.body)["target"] == "/echo?other"
    assert backend.requests[-1].header("X-Pad") == "aGET /echo?poll HTTP/1.1"
    assert len(backend.requests) == 3
    await c.close()


async def test_two_heads_in_one_packet_are_two_requests_and_not_remembered(
    app: RunningApp, backend: Backend, parsed: list[int]
) -> None:
    c = await RawClient.connect(app.app.port("web"))
    for _ in range(3):
        await c.send(HEAD + HEAD)
        for _ in range(2):
            resp = await c.response()
            assert resp.status == 200
    await until(lambda: len(backend.requests) == 6)
    assert len(parsed) == 6  # a double packet is never taken for one request
    await c.close()


async def test_a_closing_or_bodied_head_is_not_remembered(app: RunningApp, backend: Backend) -> None:
    c = await RawClient.connect(app.app.port("web"))
    post = b"POST /echo?p HTTP/1.1\r\nHost: %s\r\nContent-Length: 2\r\n\r\nhi" % HOST.encode()
    for _ in range(3):
        await c.send(post)
        resp = await c.response()
        assert json.loads(resp.body)["body"] == "hi"
    await c.send(b"GET /echo?last HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % HOST.encode())
    resp = await c.response()
    assert resp.header("Connection") == "close"
    assert await c.closed()
    assert [s.body for s in backend.requests] == [b"hi", b"hi", b"hi", b""]


async def test_hop_by_hop_options_apply_to_every_repeat(app: RunningApp, backend: Backend, parsed: list[int]) -> None:
    # ab -k style: HTTP/1.0 keep-alive, and a Connection header naming a header to drop.
    head = (b"GET /echo?ab HTTP/1.0\r\nHost: %s\r\nConnection: Keep-Alive, X-Secret\r\n"
            b"X-Secret: 1\r\nX-Kept: 2\r\n\r\n" % HOST.encode())
    c = await RawClient.connect(app.app.port("web"))
    for _ in range(4):
        await c.send(head)
        resp = await c.response()
        assert resp.status == 200
        assert resp.header("Connection") == "keep-alive"
    await c.close()
    assert len(backend.requests) == 4
    for seen in backend.requests:
        assert seen.header("X-Secret") is None
        assert seen.header("X-Kept") == "2"
        assert seen.header("Connection") is None
    assert len(parsed) == 1
