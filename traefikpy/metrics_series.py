"""Cheap request series for Prometheus: plain accumulators, exported as ``traefik_*`` families.

prometheus-client's ``Counter``/``Histogram`` children take a lock and check their state on every
call (about 1 µs each, eight calls per request with two label levels).  The data plane runs on
one event loop thread, so :class:`Stats` keeps plain numbers instead, and :class:`Level` (one per
label level: entry point, router, service) turns them into the four families Traefik exports
when Prometheus scrapes:

``traefik_<level>_requests_total``, ``traefik_<level>_request_duration_seconds`` (histogram),
``traefik_<level>_requests_bytes_total`` and ``traefik_<level>_responses_bytes_total``.

With ``headerLabels`` the series are keyed by the level's label values followed by the header
values; only ``requests_total`` carries the header labels (as in Traefik), the other families
are summed over them when scraped.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString


class Stats:
    """The counters of one label set.  ``buckets[i]`` counts durations in ``(bound[i-1], bound[i]]``
    (the last one is ``+Inf``); they are made cumulative at scrape time."""

    __slots__ = ("bounds", "count", "total", "buckets", "request_bytes", "response_bytes")

    def __init__(self, bounds: list[float]) -> None:
        self.bounds = bounds
        self.count = 0
        self.total = 0.0
        self.buckets = [0] * (len(bounds) + 1)
        self.request_bytes = 0
        self.response_bytes = 0

    def observe(self, duration: float, request_bytes: int, response_bytes: int) -> None:
        self.count += 1
        self.total += duration
        self.buckets[bisect_left(self.bounds, duration)] += 1
        self.request_bytes += request_bytes
        self.response_bytes += response_bytes


class Level(Collector):
    """The series of one level, keyed by their label values (in ``labels`` order)."""

    def __init__(self, level: str, labels: list[str], bounds: list[float], header_labels: list[str] | None = None) -> None:
        self.level = level
        self.labels = labels
        self.header_labels = list(header_labels or ())
        self.bounds = bounds
        self.les = [floatToGoString(b) for b in bounds] + ["+Inf"]  # type: ignore[no-untyped-call]
        self.series: dict[tuple[str, ...], Stats] = {}

    def get(self, values: tuple[str, ...]) -> Stats:
        stats = self.series.get(values)
        if stats is None:
            stats = self.series[values] = Stats(self.bounds)
        return stats

    def remove_where(self, gone: Callable[[tuple[str, ...]], bool]) -> None:
        for values in [v for v in self.series if gone(v)]:
            del self.series[values]

    def describe(self) -> Iterable[Metric]:
        return self._families()

    def collect(self) -> Iterable[Metric]:
        families = self._families()
        requests, duration, req_bytes, resp_bytes = families
        series = list(self.series.items())
        if self.header_labels:
            for values, stats in series:
                requests.add_metric(list(values), stats.count)
            series = self._merged(series)
        for values, stats in series:
            labels = list(values)
            if not self.header_labels:
                requests.add_metric(labels, stats.count)
            cumulative = 0
            buckets = []
            for le, n in zip(self.les, stats.buckets, strict=True):
                cumulative += n
                buckets.append((le, cumulative))
            duration.add_metric(labels, buckets, stats.total)
            req_bytes.add_metric(labels, stats.request_bytes)
            resp_bytes.add_metric(labels, stats.response_bytes)
        return families

    def _merged(self, series: list[tuple[tuple[str, ...], Stats]]) -> list[tuple[tuple[str, ...], Stats]]:
        """The stats summed over the header values (for the families without header labels)."""
        width = len(self.labels)
        merged: dict[tuple[str, ...], Stats] = {}
        for values, stats in series:
            key = values[:width]
            total = merged.get(key)
            if total is None:
                total = merged[key] = Stats(self.bounds)
            total.count += stats.count
            total.total += stats.total
            total.buckets = [a + b for a, b in zip(total.buckets, stats.buckets, strict=True)]
            total.request_bytes += stats.request_bytes
            total.response_bytes += stats.response_bytes
        return list(merged.items())

    def _families(self) -> tuple[CounterMetricFamily, HistogramMetricFamily, CounterMetricFamily,
                                 CounterMetricFamily]:
        prefix, level, labels = f"traefik_{self.level}", self.level, self.labels
        return (
            CounterMetricFamily(f"{prefix}_requests", f"How many HTTP requests processed on a {level}, by status "
                                "code, protocol and method.", labels=labels + self.header_labels),
            HistogramMetricFamily(f"{prefix}_request_duration_seconds", f"How long it took to process the request "
                                  f"on a {level}, by status code, protocol and method.", labels=labels),
            CounterMetricFamily(f"{prefix}_requests_bytes", f"The total size of requests in bytes handled by a "
                                f"{level}, by status code, protocol and method.", labels=labels),
            CounterMetricFamily(f"{prefix}_responses_bytes", f"The total size of responses in bytes handled by a "
                                f"{level}, by status code, protocol and method.", labels=labels),
        )


__all__ = ["Level", "Stats"]
