"""The task-free fast path (``http.fast_of``) through the real App: same answers as the async path.

A bodyless request on an HTTP/1.1 connection to a router whose chain is custom-headers-only
Headers middlewares over a wrr loadBalancer runs without a task; everything that has to wait
(dialing, streamed or failed responses, retries) continues in a task.  These tests check what a
client sees in each of those cases, and that the plain case really runs without a task.
"""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import AsyncIterator

import pytest

from tests.harness import RunningApp, lb, running_app, until
from tests.proxy.backends import Backend
from tests.proxy.client import RawClient
from traefikpy.proxy.server import H1Connection

HOST = "fast.test"


def routed(url: str, **router: object) -> dict[str, object]:
    return {"http": {"routers": {"r": {"rule": f"Host(`{HOST}`)", "service": "s", **router}},
                     "services": {"s": lb(url)}}}


@pytest.fixture
async def app(backend: Backend) -> AsyncIterator[RunningApp]:
    async with running_app(routed(backend.url)) as rt:
        yield rt


async def client(rt: RunningApp) -> RawClient:
    return await RawClient.connect(rt.app.port("web"))


async def test_keep_alive_gets_reuse_one_upstream_connection_without_tasks(
    app: RunningApp, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    tasks = {"serve": 0, "detached": 0}
    serve, detached = H1Connection._serve, H1Connection.run_detached

    def counting_serve(self: H1Connection) -> object:
        tasks["serve"] += 1
        return serve(self)

    def counting_detached(self: H1Connection, writer: object, work: object) -> None:
        tasks["detached"] += 1
        detached(self, writer, work)  # type: ignore[arg-type]

    monkeypatch.setattr(H1Connection, "_serve", counting_serve)
    monkeypatch.setattr(H1Connection, "run_detached", counting_detached)
    c = await client(app)
    for i in range(20):
        resp = await c.request("GET", f"/echo?i={i}", host=HOST)  # Content-Length changes at 10
        assert resp.status == 200
        assert f'"target": "/echo?i={i}"' in resp.body.decode()
    await c.close()
    assert backend.connections == 1
    # The first request dials the upstream (a task); the 19 others ran without one.
    assert tasks == {"serve": 0, "detached": 1}


async def test_pipelined_requests_answered_in_order(app: RunningApp) -> None:
    c = await client(app)
    await c.request("GET", "/echo?warm", host=HOST)
    batch = b"".join(b"GET /echo?n=%d HTTP/1.1\r\nHost: %s\r\n\r\n" % (i, HOST.encode()) for i in range(5))
    await c.send(batch)
    for i in range(5):
        resp = await c.response()
        assert resp.status == 200
        assert f'"target": "/echo?n={i}"' in resp.body.decode()
    await c.close()


async def test_stale_pooled_connection_is_retried(app: RunningApp, backend: Backend) -> None:
    c = await client(app)
    assert (await c.request("GET", "/stale-next", host=HOST)).status == 200
    # The pooled connection dies as this request arrives: one retry on a fresh one.
    resp = await c.request("GET", "/echo?after-stale", host=HOST)
    assert resp.status == 200
    assert backend.stale_closes == 1
    await c.close()


@pytest.mark.parametrize(
    ("path", "check"),
    [
        ("/chunked?n=4&size=3", lambda r: r.body == b"aaabbbcccddd"),
        ("/trailers", lambda r: r.body == b"hello trailer world" and dict(r.trailers).get(b"X-Count") == b"3"),
        ("/bytes?size=300000", lambda r: r.body == b"x" * 300000),
        ("/nolength", lambda r: r.body == b"until the end"),
        ("/interim", lambda r: r.body == b"final\n"),
        ("/status/204", lambda r: r.body == b""),
    ],
)
async def test_streamed_and_special_responses(app: RunningApp, path: str, check: object) -> None:
    c = await client(app)
    await c.request("GET", "/echo?warm", host=HOST)  # a pooled connection: the fast path is taken
    resp = await c.request("GET", path, host=HOST)
    assert resp.status in (200, 204)
    assert check(resp)  # type: ignore[operator]
    if path != "/nolength":
        assert (await c.request("GET", "/echo", host=HOST)).status == 200
    await c.close()


async def test_head_request(app: RunningApp) -> None:
    c = await client(app)
    await c.request("GET", "/echo?warm", host=HOST)
    resp = await c.request("HEAD", "/bytes?size=1234", host=HOST)
    assert resp.status == 200
    assert resp.header("Content-Length") == "1234"
    assert resp.body == b""
    assert (await c.request("GET", "/echo", host=HOST)).status == 200
    await c.close()


async def test_upstream_failures_answer_like_traefik(app: RunningApp, backend: Backend) -> None:
    c = await client(app)
    await c.request("GET", "/echo?warm", host=HOST)
    resp = await c.request("GET", "/reset", host=HOST)
    assert resp.status == 502
    assert (await c.request("GET", "/echo", host=HOST)).status == 200
    await c.close()
    await backend.stop()
    c = await client(app)
    assert (await c.request("GET", "/echo", host=HOST)).status == 502
    await c.close()


async def test_no_healthy_server_is_503() -> None:
    config = {"http": {"routers": {"r": {"rule": f"Host(`{HOST}`)", "service": "s"}},
                       "services": {"s": {"loadBalancer": {"servers": []}}}}}
    async with running_app(config) as rt:
        c = await client(rt)
        resp = await c.request("GET", "/", host=HOST)
        assert resp.status == 503
        assert resp.body == b"no available server\n"
        await c.close()


async def test_response_header_timeout_is_504(backend: Backend) -> None:
    config = routed(backend.url)
    config["http"]["serversTransports"] = {"t": {"forwardingTimeouts": {"responseHeaderTimeout": "200ms"}}}  # type: ignore[index]
    config["http"]["services"]["s"]["loadBalancer"]["serversTransport"] = "t"  # type: ignore[index]
    async with running_app(config) as rt:
        c = await client(rt)
        assert (await c.request("GET", "/echo?warm", host=HOST)).status == 200
        resp = await c.request("GET", "/delay?ms=1000", host=HOST)
        assert resp.status == 504
        assert (await c.request("GET", "/echo", host=HOST)).status == 200
        await c.close()


async def test_client_gone_before_the_answer_keeps_the_router_serving(app: RunningApp, backend: Backend) -> None:
    c = await client(app)
    await c.request("GET", "/echo?warm", host=HOST)
    await c.send(b"GET /delay?ms=200 HTTP/1.1\r\nHost: %s\r\n\r\n" % HOST.encode())
    await asyncio.sleep(0.05)
    await c.close()
    await asyncio.sleep(0.3)
    c = await client(app)
    for _ in range(3):
        assert (await c.request("GET", "/echo", host=HOST)).status == 200
    await c.close()
    pools = app.app.upstreams.pools.values()
    await until(lambda: all(p.busy == 0 for p in pools))


async def test_headers_middlewares_on_the_fast_path(backend: Backend) -> None:
    config = routed(backend.url, middlewares=["a", "b"])
    config["http"]["middlewares"] = {  # type: ignore[index]
        "a": {"headers": {"customRequestHeaders": {"X-A": "1"}, "customResponseHeaders": {"X-Out": "a"}}},
        "b": {"headers": {"customRequestHeaders": {"X-B": "2"}, "customResponseHeaders": {"X-Out": "b"}}},
    }
    async with running_app(config) as rt:
        c = await client(rt)
        for _ in range(3):  # the first dials, the others run without a task
            resp = await c.request("GET", "/echo", host=HOST)
            assert resp.status == 200
            body = resp.body.decode()
            assert '["X-A", "1"]' in body and '["X-B", "2"]' in body
            assert resp.header("X-Out") == "a"  # the outer middleware has the last word
        await c.close()


async def test_unknown_host_is_404_and_post_takes_the_async_path(app: RunningApp) -> None:
    c = await client(app)
    resp = await c.request("GET", "/", host="other.test")
    assert resp.status == 404
    assert resp.body == b"404 page not found\n"
    resp = await c.request("POST", "/upload", host=HOST, body=b"payload")
    assert resp.status == 200
    assert b'"size": 7' in resp.body
    await c.close()


@pytest.mark.parametrize("path", ["/bytes?size=300000", "/chunked?n=40&size=10000"])
async def test_client_gone_just_before_the_continuation_starts(
    app: RunningApp, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """The client's close is already queued when a fast-path request continues in a task (a
    response not complete in its first packet, on a pooled connection): the continuation still
    runs its cleanup, so the upstream connection is not left busy and no coroutine is dropped."""
    c = await client(app)
    assert (await c.request("GET", "/echo", host=HOST)).status == 200  # one idle pooled connection
    detached = H1Connection.run_detached
    started: list[bool] = []

    def client_gone_first(self: H1Connection, writer: object, work: object) -> None:
        self.transport.abort()  # queues connection_lost before the task's first step
        detached(self, writer, work)  # type: ignore[arg-type]
        started.append(True)

    monkeypatch.setattr(H1Connection, "run_detached", client_gone_first)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await c.send(b"GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path.encode(), HOST.encode()))
        await until(lambda: bool(started))
        pools = app.app.upstreams.pools.values()
        await until(lambda: all(p.busy == 0 for p in pools))
        gc.collect()
    assert not [w for w in caught if "never awaited" in str(w.message)]
    monkeypatch.undo()
    c = await client(app)
    assert (await c.request("GET", "/echo", host=HOST)).status == 200
    await c.close()
