"""The ``circuitBreaker`` middleware: stop calling a failing service while an expression over its
recent metrics holds (Traefik's ``pkg/middlewares/circuitbreaker`` on oxy's ``cbreaker``).

Theory of operation
-------------------
Three states.  **Standby** (closed): every request goes on and is recorded in rolling metrics
(status, latency); after a response, at most once per ``checkPeriod``, the expression is
evaluated and, if it holds, the breaker **trips**: for ``fallbackDuration`` every request gets
``responseCode`` (503) without reaching the service, and the metrics are reset.  Then it is
**recovering** for ``recoveryDuration``: a growing share of requests goes on (the allowed share
rises linearly from 0 to 50 % over the duration, oxy's ratio controller) while the expression is
still checked after each response; if it holds again the breaker trips again, else it returns
to standby once the recovery time is over.

Metrics (oxy ``memmetrics``): request, network-error (502/504) and per-status counters over a
rolling 10 s window (1 s buckets); latencies in a rolling histogram over 60 s (6 x 10 s) with
1 % precision.  Expression functions: ``NetworkErrorRatio()``, ``ResponseCodeRatio(from, to,
dividedByFrom, dividedByTo)`` (``from`` inclusive, ``to`` exclusive; 0 when the divisor is 0) and
``LatencyAtQuantileMS(quantile)`` (quantile in percent, e.g. ``50.0``).

The breaker only sees what happens after its position in the chain, and each router gets its
own instance (its own state), as in Traefik.  :class:`Breaker` and :class:`Metrics` are pure
(clock injected) and table-tested.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Final

from middlewares.expr import Function, Predicate, compile_expression
from traefikpy.config.middleware_options import CircuitBreaker
from traefikpy.proxy.errors import ProxyError
from traefikpy.proxy.http import REASONS, BuildContext, Exchange, Handler, MiddlewareFactory

Clock = Callable[[], float]

STANDBY: Final = "standby"
TRIPPED: Final = "tripped"
RECOVERING: Final = "recovering"

_COUNTER_BUCKETS: Final = 10  # x 1 s
_HIST_BUCKETS: Final = 6
_HIST_PERIOD: Final = 10.0  # seconds per histogram bucket
_DEFAULT_CHECK: Final = 0.1
_DEFAULT_FALLBACK: Final = 10.0
_DEFAULT_RECOVERY: Final = 10.0


class RollingCounter:
    """Events over the last ``buckets`` seconds (one bucket per second)."""

    __slots__ = ("_clock", "_counts", "_second")

    def __init__(self, clock: Clock, buckets: int = _COUNTER_BUCKETS) -> None:
        self._clock = clock
        self._counts = [0] * buckets
        self._second = int(clock())

    def _advance(self) -> int:
        now = int(self._clock())
        last = self._second
        if now != last:
            counts = self._counts
            size = len(counts)
            if now - last >= size or now < last:
                counts[:] = [0] * size
            else:
                for second in range(last + 1, now + 1):
                    counts[second % size] = 0
            self._second = now
        return now

    def inc(self, value: int = 1) -> None:
        now = self._advance()
        self._counts[now % len(self._counts)] += value

    def count(self) -> int:
        self._advance()
        return sum(self._counts)


def _bucket(micros: int) -> int:
    """The highest value equivalent to ``micros`` at ~1 % precision (an HDR-like bucket key)."""
    if micros < 256:
        return micros
    shift = micros.bit_length() - 8
    return ((micros >> shift) << shift) | ((1 << shift) - 1)


class LatencyHistogram:
    """Latencies (microseconds) over ``buckets`` x ``period`` seconds, bucketed at ~1 %."""

    __slots__ = ("_clock", "_period", "_slots", "_epoch")

    def __init__(self, clock: Clock, buckets: int = _HIST_BUCKETS, period: float = _HIST_PERIOD) -> None:
        self._clock = clock
        self._period = period
        self._slots: list[dict[int, int]] = [{} for _ in range(buckets)]
        self._epoch = int(clock() // period)

    def _advance(self) -> int:
        epoch = int(self._clock() // self._period)
        last = self._epoch
        if epoch != last:
            slots = self._slots
            size = len(slots)
            if epoch - last >= size or epoch < last:
                for slot in slots:
                    slot.clear()
            else:
                for e in range(last + 1, epoch + 1):
                    slots[e % size].clear()
            self._epoch = epoch
        return epoch

    def record(self, seconds: float) -> None:
        epoch = self._advance()
        slot = self._slots[epoch % len(self._slots)]
        key = _bucket(max(1, int(seconds * 1_000_000)))
        slot[key] = slot.get(key, 0) + 1

    def quantile_ms(self, quantile: float) -> int:
        """Latency in whole milliseconds at ``quantile`` percent (0 when empty)."""
        self._advance()
        merged: dict[int, int] = {}
        for slot in self._slots:
            for key, count in slot.items():
                merged[key] = merged.get(key, 0) + count
        total = sum(merged.values())
        if total == 0:
            return 0
        quantile = min(max(quantile, 0.0), 100.0)
        wanted = max(1, int(quantile / 100.0 * total + 0.5))
        seen = 0
        for key in sorted(merged):
            seen += merged[key]
            if seen >= wanted:
                return key // 1000
        return max(merged) // 1000

    def reset(self) -> None:
        for slot in self._slots:
            slot.clear()


class Metrics:
    """oxy's ``RTMetrics``: what the expression functions read."""

    __slots__ = ("_clock", "total", "net_errors", "codes", "latency")

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.total = RollingCounter(clock)
        self.net_errors = RollingCounter(clock)
        self.codes: dict[int, RollingCounter] = {}
        self.latency = LatencyHistogram(clock)

    def record(self, status: int, seconds: float) -> None:
        self.total.inc()
        if status == 502 or status == 504:
            self.net_errors.inc()
        counter = self.codes.get(status)
        if counter is None:
            counter = self.codes[status] = RollingCounter(self._clock)
        counter.inc()
        self.latency.record(seconds)

    def network_error_ratio(self) -> float:
        total = self.total.count()
        return self.net_errors.count() / total if total else 0.0

    def response_code_ratio(self, start_a: int, end_a: int, start_b: int, end_b: int) -> float:
        a = b = 0
        for code, counter in self.codes.items():
            count = counter.count()
            if start_a <= code < end_a:
                a += count
            if start_b <= code < end_b:
                b += count
        return a / b if b else 0.0

    def reset(self) -> None:
        self.total = RollingCounter(self._clock)
        self.net_errors = RollingCounter(self._clock)
        self.codes = {}
        self.latency.reset()


FUNCTIONS: Final[dict[str, Function]] = {
    "NetworkErrorRatio": Function((), "float", lambda: Metrics.network_error_ratio),
    "ResponseCodeRatio": Function(
        ("int", "int", "int", "int"), "float",
        lambda a, b, c, d: lambda m: m.response_code_ratio(a, b, c, d),
    ),
    "LatencyAtQuantileMS": Function(("float",), "int", lambda q: lambda m: m.latency.quantile_ms(q)),
}


def compile_condition(expression: str) -> Predicate:
    """The trip condition, evaluated against a :class:`Metrics`; raises ValueError."""
    return compile_expression(expression, FUNCTIONS)


class _Recovery:
    """oxy's ratio controller: lets ``0.5 * elapsed / duration`` of the requests through."""

    __slots__ = ("start", "duration", "allowed", "denied")

    def __init__(self, start: float, duration: float) -> None:
        self.start = start
        self.duration = duration
        self.allowed = 0
        self.denied = 0

    def allow(self, now: float) -> bool:
        target = 0.5 * (now - self.start) / self.duration if self.duration > 0 else 1.0
        if (self.allowed + 1) / (self.allowed + 1 + self.denied) < target:
            self.allowed += 1
            return True
        self.denied += 1
        return False


class Breaker:
    """The state machine (pure; ``clock`` gives seconds).  ``allow()`` before a request, and
    ``observe(status, seconds)`` after one that went on."""

    __slots__ = (
        "clock", "condition", "check_period", "fallback", "recovery", "metrics", "state", "until",
        "next_check", "_ramp",
    )

    def __init__(
        self,
        condition: Predicate,
        clock: Clock,
        *,
        check_period: float = _DEFAULT_CHECK,
        fallback: float = _DEFAULT_FALLBACK,
        recovery: float = _DEFAULT_RECOVERY,
    ) -> None:
        self.clock = clock
        self.condition = condition
        self.check_period = check_period
        self.fallback = fallback
        self.recovery = recovery
        self.metrics = Metrics(clock)
        self.state = STANDBY
        self.until = 0.0
        self.next_check = float("-inf")  # the first response is checked
        self._ramp: _Recovery | None = None

    def allow(self) -> bool:
        """False: answer with the fallback instead of calling the service."""
        if self.state == STANDBY:
            return True
        now = self.clock()
        if self.state == TRIPPED:
            if now < self.until:
                return False
            self.state = RECOVERING
            self.until = now + self.recovery
            self._ramp = _Recovery(now, self.recovery)
        if now > self.until:
            self.state = STANDBY
            self._ramp = None
            return True
        ramp = self._ramp
        return ramp is None or ramp.allow(now)

    def observe(self, status: int, seconds: float) -> None:
        self.metrics.record(status, seconds)
        now = self.clock()
        if now <= self.next_check:
            return
        self.next_check = now + self.check_period
        if self.state == TRIPPED:
            return
        if self.condition(self.metrics):
            self.state = TRIPPED
            self.until = now + self.fallback
            self._ramp = None
            self.metrics.reset()

    def __repr__(self) -> str:
        return f"<Breaker {self.state} until={self.until:.3f}>"


def status_text(status: int) -> bytes:
    """Go's ``http.StatusText``, the fallback response's body."""
    if status == 418:
        return b"I'm a teapot"
    text = REASONS.get(status)
    if text is None:
        try:
            text = HTTPStatus(status).phrase.encode()
        except ValueError:
            text = b""
    return text


class CircuitBreakerHandler:
    __slots__ = ("name", "next", "breaker", "status", "body")

    def __init__(self, name: str, next_handler: Handler, breaker: Breaker, status: int) -> None:
        self.name = name
        self.next = next_handler
        self.breaker = breaker
        self.status = status
        self.body = status_text(status)

    async def __call__(self, ex: Exchange) -> None:
        breaker = self.breaker
        if not breaker.allow():
            await ex.respond(self.status, self.body)
            return
        start = time.monotonic()
        try:
            await self.next(ex)
        except ProxyError as exc:
            # Traefik's proxy would have answered with the error's status: record it as such.
            breaker.observe(ex.status or exc.status, time.monotonic() - start)
            raise
        breaker.observe(ex.status or 200, time.monotonic() - start)

    def __repr__(self) -> str:
        return f"<CircuitBreaker {self.name} {self.breaker!r}>"


def build_circuit_breaker(
    options: CircuitBreaker, next_handler: Handler, name: str, ctx: BuildContext | None = None,
    *, clock: Clock = time.monotonic,
) -> Handler:
    condition = compile_condition(options.expression)
    breaker = Breaker(
        condition,
        clock,
        check_period=options.check_period if options.check_period > 0 else _DEFAULT_CHECK,
        fallback=options.fallback_duration if options.fallback_duration > 0 else _DEFAULT_FALLBACK,
        recovery=options.recovery_duration if options.recovery_duration > 0 else _DEFAULT_RECOVERY,
    )
    status = options.response_code
    if not 100 <= status <= 999:
        raise ValueError(f"invalid responseCode {status}")
    return CircuitBreakerHandler(name, next_handler, breaker, status)


FACTORIES: dict[str, MiddlewareFactory] = {"circuitBreaker": build_circuit_breaker}
