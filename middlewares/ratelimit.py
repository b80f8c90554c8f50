"""``rateLimit``: a token bucket per source, as Traefik does it with ``golang.org/x/time/rate``.

The bucket of a source refills at ``rate = average / period`` tokens per second (``period``
defaults to 1s; ``average`` 0 means no limit) and holds at most ``burst`` tokens (at least 1); a
new source starts full.  Each request takes a token:

* a token is there: the request goes on at once;
* the bucket is short, but the missing token arrives within ``maxDelay``: the request waits for it
  and goes on.  ``maxDelay`` is Traefik's: ``1s / (2 * int(rate))``, or 500 ms below 1 req/s;
* otherwise the token is given back and the answer is ``429 Too Many Requests`` with
  ``Retry-After`` (the wait in whole seconds, rounded up) and ``X-Retry-In`` (the exact wait in
  Go's duration syntax, e.g. ``333.333333ms``).

Sources come from ``sourceCriterion`` (default: the client IP, see
:mod:`middlewares.sourcecriterion`).  In memory, buckets are forgotten after ``ttl`` seconds
without requests (2 s from 1 req/s up, ``1 + 1/rate`` below) and at most 65,536 are kept (the
least recently used go first).  With ``redis`` the buckets live in Redis
(:mod:`middlewares.ratelimit_redis`) under ``rate:<middleware>:<source>`` and every instance
sharing that Redis shares the limit; a Redis failure answers ``500`` unless ``denyOnError`` is
false, in which case the request passes unlimited.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Final

from middlewares.sourcecriterion import source_extractor
from traefikpy.config.middleware_options import RateLimit
from traefikpy.proxy.http import BuildContext, Exchange, Handler, MiddlewareFactory

log = logging.getLogger("traefikpy.middlewares.ratelimit")

MAX_SOURCES: Final = 65536
SECOND: Final = 1_000_000_000
TOO_MANY: Final = b"Too Many Requests"
BUCKET_ERROR: Final = b"Could not insert/update bucket\n"


def go_duration(ns: int) -> str:
    """Go's ``time.Duration.String`` (``1.5s``, ``333.333333ms``, ``1m0.5s``, ``0s``)."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    u = abs(ns)
    if u < SECOND:
        if u < 1000:
            return f"{sign}{u}ns"
        prec, unit = (3, "µs") if u < 1_000_000 else (6, "ms")
        return sign + _frac(u, prec) + unit
    whole, rem = divmod(u, SECOND)
    digits = str(rem).rjust(9, "0").rstrip("0")
    out = f"{whole % 60}" + (f".{digits}" if digits else "") + "s"
    minutes = whole // 60
    if minutes:
        out = f"{minutes % 60}m{out}"
        if minutes // 60:
            out = f"{minutes // 60}h{out}"
    return sign + out


def _frac(value: int, prec: int) -> str:
    whole, rem = divmod(value, 10**prec)
    digits = str(rem).rjust(prec, "0").rstrip("0")
    return f"{whole}.{digits}" if digits else f"{whole}"


class Limits:
    """The numbers Traefik derives from the options (rate in tokens/s, delays in ns)."""

    __slots__ = ("rate", "burst", "max_delay", "ttl")

    def __init__(self, average: int, period: float, burst: int) -> None:
        if period < 0:
            raise ValueError(f"negative value not valid for period: {period}s")
        period_ns = round(period * SECOND) or SECOND
        self.burst = max(burst, 1)
        self.rate = math.inf
        self.max_delay = 0
        if average > 0:
            self.rate = average * SECOND / period_ns
            self.max_delay = SECOND // 2 if self.rate < 1 else SECOND // (int(self.rate) * 2)
        self.ttl = 2 if self.rate >= 1 else 1 + int(1 / self.rate)

    def __repr__(self) -> str:
        return f"Limits(rate={self.rate}/s burst={self.burst} maxDelay={go_duration(self.max_delay)} ttl={self.ttl}s)"


class TokenBuckets:
    """In-memory buckets keyed by source (pure: the caller passes the time in seconds)."""

    __slots__ = ("limits", "capacity", "_buckets")

    def __init__(self, limits: Limits, capacity: int = MAX_SOURCES) -> None:
        self.limits = limits
        self.capacity = capacity
        # source -> [tokens, last update]; insertion order = least recently used first.
        self._buckets: dict[str, list[float]] = {}

    def reserve(self, source: str, now: float) -> int:
        """Take a token for ``source``; returns the wait in ns before it is available.  When the
        wait exceeds the maximum delay nothing is taken (the caller answers 429)."""
        limits = self.limits
        rate = limits.rate
        if rate == math.inf:
            return 0
        buckets = self._buckets
        state = buckets.pop(source, None)
        burst = limits.burst
        tokens = float(burst) if state is None else min(state[0] + max(now - state[1], 0.0) * rate, burst)
        tokens -= 1
        delay = 0
        if tokens < 0:
            delay = int(-tokens / rate * SECOND)
            if delay > limits.max_delay:
                tokens += 1  # the reservation is cancelled: the token goes back
        buckets[source] = [tokens, now]
        self._expire(now)
        return delay

    def _expire(self, now: float) -> None:
        buckets = self._buckets
        deadline = now - self.limits.ttl
        while buckets:
            oldest = next(iter(buckets))
            if buckets[oldest][1] >= deadline and len(buckets) <= self.capacity:
                break
            del buckets[oldest]

    def __len__(self) -> int:
        return len(self._buckets)

    def __repr__(self) -> str:
        return f"<TokenBuckets {self.limits!r} sources={len(self._buckets)}>"


def retry_headers(delay_ns: int) -> list[tuple[bytes, bytes]]:
    return [
        (b"Retry-After", b"%d" % math.ceil(delay_ns / SECOND)),
        (b"X-Retry-In", go_duration(delay_ns).encode()),
    ]


def build_rate_limit(options: RateLimit, next: Handler, name: str, ctx: BuildContext) -> Handler:
    try:
        source_of = source_extractor(options.source_criterion, default="ip")
    except ValueError as exc:
        raise ValueError(f"getting source extractor: {exc}") from None
    limits = Limits(options.average, options.period, options.burst)
    max_delay = limits.max_delay
    prefix = name + ":"
    if options.redis is not None:
        from middlewares.ratelimit_redis import build_redis_limiter

        limiter = build_redis_limiter(options.redis, limits, ctx)
        deny_on_error = options.redis.deny_on_error

        async def redis_rate_limit(ex: Exchange) -> None:
            try:
                delay = await limiter.reserve(prefix + source_of(ex))
            except Exception as exc:
                log.error("rateLimit %s: could not insert/update bucket: %r", name, exc)
                if deny_on_error:
                    await ex.respond(500, BUCKET_ERROR, [(b"X-Content-Type-Options", b"nosniff")])
                    return
                delay = 0
            if delay > max_delay:
                await ex.respond(429, TOO_MANY, retry_headers(delay))
                return
            if delay > 0:
                await asyncio.sleep(delay / SECOND)
            await next(ex)

        limiter.bind(redis_rate_limit)
        return redis_rate_limit

    buckets = TokenBuckets(limits)
    reserve = buckets.reserve
    clock = time.monotonic

    async def rate_limit(ex: Exchange) -> None:
        delay = reserve(prefix + source_of(ex), clock())
        if delay:
            if delay > max_delay:
                await ex.respond(429, TOO_MANY, retry_headers(delay))
                return
            await asyncio.sleep(delay / SECOND)
        await next(ex)

    rate_limit.buckets = buckets  # type: ignore[attr-defined]  # for tests and debugging
    return rate_limit


FACTORIES: dict[str, MiddlewareFactory] = {"rateLimit": build_rate_limit}
