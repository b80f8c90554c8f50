"""retry: backoff schedule, option checks, and retries through the real router (connection
failures, statuses, methods, body replay, timeout)."""

from __future__ import annotations

from typing import Any

import pytest

from middlewares.retry import FACTORIES, backoff_delays
from tests.conftest import free_port
from tests.harness import lb, running_app
from tests.middlewares.m3_servers import Reply, ScriptServer, flaky
from tests.proxy.backends import Backend
from traefikpy.config.middleware_options import Retry

BACKOFF_CASES: list[dict[str, Any]] = [
    {"desc": "no interval retries at once", "initial": 0, "attempts": 3, "rand": 0.5, "want": [0.0, 0.0]},
    {"desc": "one attempt never waits", "initial": 1, "attempts": 1, "rand": 0.5, "want": []},
    {"desc": "doubles over the attempts", "initial": 0.1, "attempts": 3, "rand": 0.5, "want": [0.1, 0.1414]},
    {"desc": "last wait is about twice the first", "initial": 1, "attempts": 5, "rand": 0.5,
     "want": [1.0, 1.1892, 1.4142, 1.6818]},
    {"desc": "jitter low end is half", "initial": 0.2, "attempts": 2, "rand": 0.0, "want": [0.1]},
    {"desc": "jitter high end is one and a half", "initial": 0.2, "attempts": 2, "rand": 1.0, "want": [0.3]},
    {"desc": "capped at 60 s", "initial": 100, "attempts": 2, "rand": 0.5, "want": [100.0]},
]


@pytest.mark.parametrize("case", BACKOFF_CASES, ids=[c["desc"] for c in BACKOFF_CASES])
def test_backoff(case: dict[str, Any]) -> None:
    got = backoff_delays(case["initial"], case["attempts"], lambda: case["rand"])
    assert got == pytest.approx(case["want"], rel=1e-3)


async def _noop(ex: Any) -> None:
    return None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"attempts": 0}, "incorrect"),
        ({"attempts": 3, "disableRetryOnNetworkError": True}, "requires at least HTTP status codes"),
        ({"attempts": 3, "status": ["5xx"]}, "creating HTTP code ranges"),
        ({"attempts": 3, "status": ["600-500"]}, "creating HTTP code ranges"),
    ],
    ids=["no attempts", "nothing to retry on", "bad status", "reversed range"],
)
def test_build_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FACTORIES["retry"](Retry.model_validate(options), _noop, "r@file", None)  # type: ignore[arg-type]


def test_one_attempt_is_the_next_handler() -> None:
    assert FACTORIES["retry"](Retry(attempts=1), _noop, "r@file", None) is _noop  # type: ignore[arg-type]


def _config(service: dict[str, Any], **retry: Any) -> dict[str, Any]:
    return {"http": {
        "routers": {"r": {"rule": "Host(`a.test`)", "service": "s", "middlewares": ["retry"]}},
        "middlewares": {"retry": {"retry": retry}},
        "services": {"s": service},
    }}


async def test_connection_failures_are_retried_any_method() -> None:
    backend = await Backend.start()
    try:
        dead = f"http://127.0.0.1:{free_port()}"
        async with running_app(_config(lb(dead, backend.url), attempts=2), middlewares=FACTORIES) as rt:
            for i in range(4):
                resp = await rt.request("POST", "/upload", host="a.test", data=b"payload %d" % i)
                assert resp.status == 200, i
            assert len(backend.requests) == 4
    finally:
        await backend.stop()


async def test_connection_failure_on_every_attempt_is_502() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with running_app(_config(lb(dead), attempts=3), middlewares=FACTORIES) as rt:
        assert (await rt.get("/", host="a.test")).status == 502


async def test_a_received_request_is_not_retried_without_status() -> None:
    backend = await Backend.start()
    try:
        async with running_app(_config(lb(backend.url), attempts=3), middlewares=FACTORIES) as rt:
            assert (await rt.get("/close", host="a.test")).status == 502
            assert len(backend.requests) == 1
    finally:
        await backend.stop()


STATUS_CASES: list[dict[str, Any]] = [
    {"desc": "GET retried until it succeeds", "method": "GET", "failures": 2, "options": {},
     "status": 200, "body": "ok:", "seen": 3},
    {"desc": "last attempt goes through", "method": "GET", "failures": 5, "options": {},
     "status": 503, "body": "failure 3\n", "seen": 3},
    {"desc": "POST not retried by default", "method": "POST", "failures": 1, "options": {},
     "status": 503, "body": "failure 1\n", "seen": 1},
    {"desc": "PATCH not retried by default", "method": "PATCH", "failures": 1, "options": {},
     "status": 503, "body": "failure 1\n", "seen": 1},
    {"desc": "POST retried when allowed, body replayed", "method": "POST", "failures": 1,
     "options": {"retryNonIdempotentMethod": True}, "status": 200, "body": "ok:payload", "seen": 2},
    {"desc": "PUT is idempotent, body replayed", "method": "PUT", "failures": 2, "options": {},
     "status": 200, "body": "ok:payload", "seen": 3},
    {"desc": "body above maxRequestBodyBytes turns status retries off", "method": "PUT", "failures": 1,
     "options": {"maxRequestBodyBytes": 4}, "status": 503, "body": "failure 1\n", "seen": 1},
    {"desc": "status outside the ranges is not retried", "method": "GET", "failures": 1,
     "options": {"status": ["500-502"]}, "status": 503, "body": "failure 1\n", "seen": 1},
]


@pytest.mark.parametrize("case", STATUS_CASES, ids=[c["desc"] for c in STATUS_CASES])
async def test_status_retries(case: dict[str, Any]) -> None:
    server = await ScriptServer.start(flaky(case["failures"], 503))
    try:
        options = {"attempts": 3, "status": ["500-599"], **case["options"]}
        async with running_app(_config(lb(server.url), **options), middlewares=FACTORIES) as rt:
            data = b"payload" if case["method"] in ("POST", "PUT", "PATCH") else None
            resp = await rt.request(case["method"], "/x", host="a.test", data=data)
            assert resp.status == case["status"]
            assert await resp.text() == case["body"]
            assert len(server.requests) == case["seen"]
            if data is not None:
                assert all(r.body == data for r in server.requests)
    finally:
        await server.stop()


async def test_dropped_attempt_headers_do_not_leak() -> None:
    def script(req: Any) -> Reply:
        if len(server.requests) == 1:
            return Reply(500, b"bad", [(b"X-Attempt", b"first")])
        return Reply(200, b"good", [(b"X-Attempt", b"second")])

    server = await ScriptServer.start(script)
    try:
        async with running_app(_config(lb(server.url), attempts=2, status=["500"]), middlewares=FACTORIES) as rt:
            resp = await rt.get("/", host="a.test")
            assert (resp.status, await resp.text()) == (200, "good")
            assert resp.headers.getall("X-Attempt") == ["second"]
    finally:
        await server.stop()


async def test_timeout_stops_retrying() -> None:
    server = await ScriptServer.start(flaky(100, 500))
    try:
        config = _config(lb(server.url), attempts=5, status=["500"], initialInterval="200ms", timeout="50ms")
        async with running_app(config, middlewares=FACTORIES) as rt:
            resp = await rt.get("/", host="a.test")
            assert resp.status == 500
            assert len(server.requests) == 2  # the second answer came after the timeout: passed on
    finally:
        await server.stop()


async def test_disable_network_retry_keeps_status_retry() -> None:
    backend = await Backend.start()
    try:
        dead = f"http://127.0.0.1:{free_port()}"
        config = _config(lb(dead, backend.url), attempts=2, status=["404"], disableRetryOnNetworkError=True)
        async with running_app(config, middlewares=FACTORIES) as rt:
            statuses = sorted([(await rt.get("/echo", host="a.test")).status for _ in range(4)])
            assert statuses == [200, 200, 502, 502]
    finally:
        await backend.stop()
