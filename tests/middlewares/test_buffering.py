"""buffering: the spool (memory then temporary file), the retry expression, request and response
limits and retries through the real router."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from middlewares.buffering import FACTORIES, Spool, _Attempt, compile_retry
from tests.conftest import free_port
from tests.harness import lb, running_app
from tests.middlewares.m3_servers import ScriptServer, flaky
from tests.proxy.backends import Backend, echo_json
from traefikpy.config.middleware_options import Buffering

SPOOL_CASES: list[dict[str, Any]] = [
    {"desc": "fits in memory", "mem": 100, "writes": [b"abc", b"def"], "spilled": False},
    {"desc": "spills the excess", "mem": 4, "writes": [b"abc", b"defgh", b"ij"], "spilled": True},
    {"desc": "exactly the memory limit", "mem": 6, "writes": [b"abc", b"def"], "spilled": False},
    {"desc": "zero memory goes to disk", "mem": 0, "writes": [b"abc"], "spilled": True},
    {"desc": "large pieces", "mem": 70000, "writes": [b"x" * 100000, b"y" * 50000], "spilled": True},
    {"desc": "nothing", "mem": 10, "writes": [], "spilled": False},
]


@pytest.mark.parametrize("case", SPOOL_CASES, ids=[c["desc"] for c in SPOOL_CASES])
def test_spool(case: dict[str, Any]) -> None:
    spool = Spool(case["mem"])
    for data in case["writes"]:
        spool.write(data)
    expected = b"".join(case["writes"])
    assert spool.size == len(expected)
    assert spool.spilled is case["spilled"]
    assert b"".join(spool.chunks()) == expected
    assert b"".join(spool.chunks()) == expected  # readable again (a retry)
    assert all(len(c) <= 65536 for c in spool.chunks())
    spool.close()


RETRY_CASES: list[dict[str, Any]] = [
    {"desc": "network error first attempt", "expr": "IsNetworkError() && Attempts() < 2", "attempt": (1, 502, "GET"), "want": True},
    {"desc": "gateway timeout is a network error", "expr": "IsNetworkError()", "attempt": (1, 504, "GET"), "want": True},
    {"desc": "500 is not a network error", "expr": "IsNetworkError()", "attempt": (1, 500, "GET"), "want": False},
    {"desc": "attempts count the first", "expr": "IsNetworkError() && Attempts() < 2", "attempt": (2, 502, "GET"), "want": False},
    {"desc": "response code", "expr": "ResponseCode() == 503 && Attempts() <= 2", "attempt": (2, 503, "GET"), "want": True},
    {"desc": "request method", "expr": 'RequestMethod() == "GET" && ResponseCode() >= 500', "attempt": (1, 500, "POST"), "want": False},
]


@pytest.mark.parametrize("case", RETRY_CASES, ids=[c["desc"] for c in RETRY_CASES])
def test_retry_expression(case: dict[str, Any]) -> None:
    assert compile_retry(case["expr"])(_Attempt(*case["attempt"])) is case["want"]


async def _noop(ex: Any) -> None:
    return None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"maxRequestBodyBytes": -1}, "maxRequestBodyBytes"),
        ({"memResponseBodyBytes": -5}, "memResponseBodyBytes"),
        ({"retryExpression": "Attempts() < 2 &&"}, "invalid expression"),
        ({"retryExpression": "NetworkErrorRatio() > 0.5"}, "unsupported function"),
    ],
    ids=["negative max", "negative mem", "broken expression", "circuit breaker function"],
)
def test_build_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FACTORIES["buffering"](Buffering.model_validate(options), _noop, "b@file", None)  # type: ignore[arg-type]


def _config(service: dict[str, Any], **buffering: Any) -> dict[str, Any]:
    return {"http": {
        "routers": {"r": {"rule": "Host(`a.test`)", "service": "s", "middlewares": ["buf"]}},
        "middlewares": {"buf": {"buffering": buffering}},
        "services": {"s": service},
    }}


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.fixture
async def backend() -> AsyncIterator[Backend]:
    server = await Backend.start()
    yield server
    await server.stop()


async def test_request_limits(backend: Backend) -> None:
    async with running_app(_config(lb(backend.url), maxRequestBodyBytes=10), middlewares=FACTORIES) as rt:
        too_long = await rt.request("POST", "/echo", host="a.test", data=b"x" * 11)
        assert too_long.status == 413
        assert await too_long.text() == "Request Entity Too Large"
        chunked = await rt.request("POST", "/echo", host="a.test", data=_chunks(b"x" * 6, b"y" * 6))
        assert chunked.status == 413
        assert backend.requests == []
        exact = await rt.request("POST", "/echo", host="a.test", data=b"z" * 10)
        assert exact.status == 200
        assert echo_json(await exact.read())["body"] == "z" * 10


async def test_chunked_upload_becomes_length_delimited(backend: Backend) -> None:
    async with running_app(_config(lb(backend.url)), middlewares=FACTORIES) as rt:
        resp = await rt.request("POST", "/echo", host="a.test", data=_chunks(b"hello ", b"world"))
        seen = echo_json(await resp.read())
        assert seen["body"] == "hello world"
        names = {k.lower(): v for k, v in seen["headers"]}
        assert names["content-length"] == "11"
        assert "transfer-encoding" not in names


async def test_large_bodies_spill_to_disk(backend: Backend) -> None:
    payload = bytes(range(256)) * 800  # 200 KiB
    config = _config(lb(backend.url), memRequestBodyBytes=1000, memResponseBodyBytes=1000)
    async with running_app(config, middlewares=FACTORIES) as rt:
        resp = await rt.request("POST", "/upload", host="a.test", data=payload)
        assert json.loads(await resp.read()) == {"size": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}
        big = await rt.get("/bytes?size=300000", host="a.test")
        assert big.status == 200
        assert len(await big.read()) == 300000


async def test_response_limit(backend: Backend) -> None:
    async with running_app(_config(lb(backend.url), maxResponseBodyBytes=1000), middlewares=FACTORIES) as rt:
        too_big = await rt.get("/bytes?size=1001", host="a.test")
        assert too_big.status == 500
        assert await too_big.text() == "Internal Server Error"
        fits = await rt.get("/bytes?size=1000", host="a.test")
        assert (fits.status, len(await fits.read())) == (200, 1000)


async def test_buffered_chunked_response_gets_a_length(backend: Backend) -> None:
    async with running_app(_config(lb(backend.url)), middlewares=FACTORIES) as rt:
        resp = await rt.get("/chunked?n=3&size=4", host="a.test")
        assert await resp.read() == b"aaaabbbbcccc"
        assert resp.headers["Content-Length"] == "12"
        assert "Transfer-Encoding" not in resp.headers


async def test_retry_expression_on_connection_failures(backend: Backend) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    config = _config(lb(dead, backend.url), retryExpression="IsNetworkError() && Attempts() < 2")
    async with running_app(config, middlewares=FACTORIES) as rt:
        for i in range(4):
            resp = await rt.request("POST", "/echo", host="a.test", data=b"body %d" % i)
            assert resp.status == 200
            assert echo_json(await resp.read())["body"] == f"body {i}"


async def test_retry_expression_on_status_replays_the_body() -> None:
    server = await ScriptServer.start(flaky(2, 502))
    try:
        config = _config(lb(server.url), retryExpression="IsNetworkError() && Attempts() <= 2")
        async with running_app(config, middlewares=FACTORIES) as rt:
            resp = await rt.request("POST", "/x", host="a.test", data=b"payload")
            assert resp.status == 200
            assert await resp.text() == "ok:payload"
            assert [r.body for r in server.requests] == [b"payload"] * 3
    finally:
        await server.stop()


async def test_without_retry_failures_pass_unchanged() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with running_app(_config(lb(dead)), middlewares=FACTORIES) as rt:
        assert (await rt.get("/", host="a.test")).status == 502
