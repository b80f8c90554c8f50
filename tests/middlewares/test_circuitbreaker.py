"""circuitBreaker: rolling metrics, the expression functions, the state machine (fake clock) and
the middleware through the real router."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from middlewares.circuitbreaker import (
    FACTORIES,
    RECOVERING,
    STANDBY,
    TRIPPED,
    Breaker,
    LatencyHistogram,
    Metrics,
    RollingCounter,
    compile_condition,
)
from tests.conftest import free_port
from tests.harness import lb, running_app
from tests.proxy.backends import Backend
from traefikpy.config.middleware_options import CircuitBreaker


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_rolling_counter_window() -> None:
    clock = FakeClock()
    counter = RollingCounter(clock)
    counter.inc()
    clock.now += 5
    counter.inc(2)
    assert counter.count() == 3
    clock.now += 5.5  # the first event is now 10.5 s old
    assert counter.count() == 2
    clock.now += 100
    assert counter.count() == 0
    counter.inc()
    assert counter.count() == 1


RATIO_CASES: list[dict[str, Any]] = [
    {"desc": "5xx among all", "codes": [200, 200, 500, 503], "args": (500, 600, 0, 600), "want": 0.5},
    {"desc": "to is exclusive", "codes": [500, 600], "args": (500, 600, 0, 601), "want": 0.5},
    {"desc": "from is inclusive", "codes": [499, 500], "args": (500, 501, 0, 600), "want": 0.5},
    {"desc": "empty divisor is 0", "codes": [500], "args": (500, 600, 200, 300), "want": 0.0},
    {"desc": "no data is 0", "codes": [], "args": (500, 600, 0, 600), "want": 0.0},
    {"desc": "ratio can exceed 1", "codes": [500, 500, 200], "args": (500, 600, 200, 300), "want": 2.0},
]


@pytest.mark.parametrize("case", RATIO_CASES, ids=[c["desc"] for c in RATIO_CASES])
def test_response_code_ratio(case: dict[str, Any]) -> None:
    metrics = Metrics(FakeClock())
    for code in case["codes"]:
        metrics.record(code, 0.001)
    assert metrics.response_code_ratio(*case["args"]) == pytest.approx(case["want"])


def test_network_error_ratio_counts_502_and_504() -> None:
    metrics = Metrics(FakeClock())
    for code in (502, 504, 500, 200):
        metrics.record(code, 0.001)
    assert metrics.network_error_ratio() == 0.5


QUANTILE_CASES: list[dict[str, Any]] = [
    {"desc": "median", "ms": [10, 20, 30, 40, 50], "q": 50.0, "want": 30},
    {"desc": "p100 is the max", "ms": [10, 20, 500], "q": 100.0, "want": 500},
    {"desc": "p0 is the min", "ms": [10, 20, 500], "q": 0.0, "want": 10},
    {"desc": "empty is 0", "ms": [], "q": 50.0, "want": 0},
    {"desc": "sub-millisecond is 0", "ms": [0.4], "q": 50.0, "want": 0},
]


@pytest.mark.parametrize("case", QUANTILE_CASES, ids=[c["desc"] for c in QUANTILE_CASES])
def test_latency_quantile(case: dict[str, Any]) -> None:
    histogram = LatencyHistogram(FakeClock())
    for ms in case["ms"]:
        histogram.record(ms / 1000)
    got = histogram.quantile_ms(case["q"])
    assert abs(got - case["want"]) <= max(1, case["want"] * 0.01)


def test_latency_window_is_60_seconds() -> None:
    clock = FakeClock()
    histogram = LatencyHistogram(clock)
    histogram.record(0.9)
    clock.now += 30
    histogram.record(0.1)
    assert histogram.quantile_ms(100.0) >= 890
    clock.now += 35  # the 900 ms sample is out of the window
    assert histogram.quantile_ms(100.0) <= 101


def test_functions_in_expressions() -> None:
    metrics = Metrics(FakeClock())
    for code, seconds in ((200, 0.2), (502, 0.2), (500, 0.2)):
        metrics.record(code, seconds)
    assert compile_condition("NetworkErrorRatio() > 0.30")(metrics)
    assert compile_condition("ResponseCodeRatio(500, 600, 0, 600) > 0.6")(metrics)
    assert compile_condition("LatencyAtQuantileMS(50.0) >= 199")(metrics)
    assert not compile_condition("LatencyAtQuantileMS(50.0) > 250 || NetworkErrorRatio() > 0.5")(metrics)


def _breaker(expr: str = "NetworkErrorRatio() > 0.5", **kw: float) -> tuple[Breaker, FakeClock]:
    clock = FakeClock()
    return Breaker(compile_condition(expr), clock, **kw), clock


# Steps: ("observe", status), ("advance", seconds), ("allow", expected), ("state", expected).
STATE_CASES: list[dict[str, Any]] = [
    {
        "desc": "trips on the first failing check and falls back",
        "steps": [("allow", True), ("observe", 502), ("state", TRIPPED), ("allow", False), ("advance", 9.9), ("allow", False)],
    },
    {
        "desc": "healthy traffic stays closed",
        "steps": [("observe", 200), ("advance", 0.2), ("observe", 200), ("state", STANDBY), ("allow", True)],
    },
    {
        "desc": "checks at most once per checkPeriod",
        "steps": [
            ("observe", 200), ("observe", 502), ("observe", 502), ("state", STANDBY),
            ("advance", 0.11), ("observe", 502), ("state", TRIPPED),
        ],
    },
    {
        "desc": "recovers, ramps up, then closes",
        "steps": [
            ("observe", 502), ("advance", 10.01), ("allow", False), ("state", RECOVERING),
            ("advance", 10.01), ("allow", True), ("state", STANDBY),
        ],
    },
    {
        "desc": "failing again while recovering trips again",
        "steps": [
            ("observe", 502), ("advance", 10.01), ("allow", False), ("state", RECOVERING),
            ("advance", 5), ("observe", 502), ("state", TRIPPED), ("allow", False),
        ],
    },
    {
        "desc": "metrics are reset when tripping",
        "steps": [("observe", 502), ("advance", 10.01), ("allow", False), ("advance", 0.2), ("observe", 200),
                  ("state", RECOVERING)],
    },
]


@pytest.mark.parametrize("case", STATE_CASES, ids=[c["desc"] for c in STATE_CASES])
def test_state_machine(case: dict[str, Any]) -> None:
    breaker, clock = _breaker()
    for op, arg in case["steps"]:
        if op == "observe":
            breaker.observe(arg, 0.001)
        elif op == "advance":
            clock.now += arg
        elif op == "allow":
            assert breaker.allow() is arg, (op, arg, breaker)
        else:
            assert breaker.state == arg, (op, arg, breaker)


def test_recovery_ramp_is_linear_up_to_half() -> None:
    breaker, clock = _breaker(recovery=10.0)
    breaker.observe(502, 0.001)
    clock.now += 10.01
    assert breaker.allow() is False  # recovering starts, nothing allowed yet
    allowed = []
    for _ in range(100):
        clock.now += 0.099  # 100 requests over the 10 s recovery
        allowed.append(breaker.allow())
    first, second = sum(allowed[:50]), sum(allowed[50:])
    assert 5 <= first <= 20 and 25 <= second <= 45 and first < second


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"expression": ""}, "empty"),
        ({"expression": "Foo() > 1"}, "unsupported function"),
        ({"expression": "NetworkErrorRatio() > 0.5", "responseCode": 0}, "responseCode"),
    ],
    ids=["empty expression", "unknown function", "bad response code"],
)
def test_build_errors(options: dict[str, Any], message: str) -> None:
    build = FACTORIES["circuitBreaker"]
    with pytest.raises(ValueError, match=message):
        build(CircuitBreaker.model_validate(options), _noop, "cb@file", None)  # type: ignore[arg-type]


async def _noop(ex: Any) -> None:
    return None


def _config(service: dict[str, Any], **cb: Any) -> dict[str, Any]:
    return {"http": {
        "routers": {"r": {"rule": "Host(`a.test`)", "service": "s", "middlewares": ["cb"]}},
        "middlewares": {"cb": {"circuitBreaker": cb}},
        "services": {"s": service},
    }}


async def test_e2e_network_errors_trip_the_breaker() -> None:
    config = _config(lb(f"http://127.0.0.1:{free_port()}"), expression="NetworkErrorRatio() > 0.5", responseCode=418)
    async with running_app(config, middlewares=FACTORIES) as rt:
        first = await rt.get("/", host="a.test")
        assert first.status == 502  # the failure went through and was recorded
        second = await rt.get("/", host="a.test")
        assert second.status == 418
        assert await second.text() == "I'm a teapot"


async def test_e2e_trips_recovers_and_closes() -> None:
    backend = await Backend.start()
    try:
        config = _config(lb(backend.url), expression="ResponseCodeRatio(500, 600, 0, 600) > 0.5",
                         fallbackDuration="150ms", recoveryDuration="150ms")
        async with running_app(config, middlewares=FACTORIES) as rt:
            assert (await rt.get("/status/500", host="a.test")).status == 500
            seen = len(backend.requests)
            tripped = await rt.get("/echo", host="a.test")
            assert tripped.status == 503
            assert await tripped.text() == "Service Unavailable"
            assert len(backend.requests) == seen  # the service was not called
            await asyncio.sleep(0.2)
            assert (await rt.get("/echo", host="a.test")).status == 503  # recovery starts: nothing allowed yet
            await asyncio.sleep(0.2)
            assert (await rt.get("/echo", host="a.test")).status == 200
            assert len(backend.requests) == seen + 1
    finally:
        await backend.stop()
