"""``inFlightReq``: at most ``amount`` requests in progress per source; the excess gets 429.

A request counts from the moment it enters the middleware until the rest of the chain returned
(its response fully sent, or its WebSocket closed).  Sources come from ``sourceCriterion``
(:mod:`middlewares.sourcecriterion`); with none set, requests are grouped by their Host header as
in Traefik.  The rejection is Traefik's (oxy ``connlimit``): ``429`` with the body
``max connections reached: <amount>``.  With ``amount`` 0 every request is rejected, as in
Traefik.  Counters live in one dict per middleware instance; a source's entry is dropped when its
count returns to zero, so the dict only holds sources with requests in flight.
"""

from __future__ import annotations

from middlewares.sourcecriterion import source_extractor
from traefikpy.config.middleware_options import InFlightReq
from traefikpy.proxy.http import BuildContext, Exchange, Handler, MiddlewareFactory


class InFlightCounter:
    """Requests in progress per source, bounded by ``limit``."""

    __slots__ = ("limit", "counts")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.counts: dict[str, int] = {}

    def acquire(self, source: str) -> bool:
        count = self.counts.get(source, 0)
        if count >= self.limit:
            return False
        self.counts[source] = count + 1
        return True

    def release(self, source: str) -> None:
        count = self.counts[source] - 1
        if count:
            self.counts[source] = count
        else:
            del self.counts[source]

    def __repr__(self) -> str:
        return f"<InFlightCounter limit={self.limit} sources={len(self.counts)} total={sum(self.counts.values())}>"


def build_in_flight_req(options: InFlightReq, next: Handler, name: str, ctx: BuildContext) -> Handler:
    try:
        source_of = source_extractor(options.source_criterion, default="host")
    except ValueError as exc:
        raise ValueError(f"error creating requests limiter: {exc}") from None
    counter = InFlightCounter(options.amount)
    body = b"max connections reached: %d" % options.amount
    acquire, release = counter.acquire, counter.release

    async def in_flight_req(ex: Exchange) -> None:
        source = source_of(ex)
        if not acquire(source):
            await ex.respond(429, body)
            return
        try:
            await next(ex)
        finally:
            release(source)

    in_flight_req.counter = counter  # type: ignore[attr-defined]  # for tests and debugging
    return in_flight_req


FACTORIES: dict[str, MiddlewareFactory] = {"inFlightReq": build_in_flight_req}
