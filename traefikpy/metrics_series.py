"""Cheap request series for Prometheus: one plain record per request kind, exported per level.

prometheus-client's ``Counter``/``Histogram`` children take a lock and check their state on every
call (about 1 µs each, eight calls per request with two label levels).  The data plane runs on
one event loop thread, so a request adds to one plain :class:`Stats` record, kept per full key
``(entrypoint, router, service, status, method, protocol[, header values...])`` by
:class:`traefikpy.metrics.PrometheusMetrics`.  Each :class:`Level` (entry point, router,
service) projects the keys onto its own labels and sums the records when Prometheus scrapes,
giving the four families Traefik exports:

``traefik_<level>_requests_total``, ``traefik_<level>_request_duration_seconds`` (histogram),
``traefik_<level>_requests_bytes_total`` and ``traefik_<level>_responses_bytes_total``.

With ``headerLabels`` the projection ends with the header values; only ``requests_total``
carries the header labels (as in Traefik), the other families are summed over them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

Key = tuple[Any, ...]
Project = Callable[[Key], "tuple[str, ...] | None"]
"""A record key -> the level's label values (header values last), or None: not on this level."""


class Stats:
    """The counters of one record.  ``buckets[i]`` counts durations in ``(bound[i-1], bound[i]]``
    (the last one is ``+Inf``), found with ``bisect_left(bounds, duration)``; they are made
    cumulative at scrape time."""

    __slots__ = ("count", "total", "buckets", "request_bytes", "response_bytes")

    def __init__(self, bucket_count: int) -> None:
        self.count = 0
        self.total = 0.0
        self.buckets = [0] * bucket_count
        self.request_bytes = 0
        self.response_bytes = 0

    def add(self, other: Stats) -> None:
        self.count += other.count
        self.total += other.total
        self.buckets = [a + b for a, b in zip(self.buckets, other.buckets, strict=True)]
        self.request_bytes += other.request_bytes
        self.response_bytes += other.response_bytes


def summed(records: Iterable[tuple[Key, Stats]], project: Callable[[Key], Key | None],
           bucket_count: int) -> dict[Key, Stats]:
    """The records summed by ``project(key)`` (records it maps to None are left out)."""
    out: dict[Key, Stats] = {}
    for key, stats in records:
        values = project(key)
        if values is None:
            continue
        total = out.get(values)
        if total is None:
            total = out[values] = Stats(bucket_count)
        total.add(stats)
    return out


class Level(Collector):
    """The families of one level, summed from ``records`` through ``project`` at scrape time."""

    def __init__(self, level: str, labels: list[str], bounds: list[float], records: Mapping[Key, Stats],
                 project: Project, header_labels: list[str] | None = None) -> None:
        self.level = level
        self.labels = labels
        self.header_labels = list(header_labels or ())
        self.bucket_count = len(bounds) + 1
        self.les = [floatToGoString(b) for b in bounds] + ["+Inf"]  # type: ignore[no-untyped-call]
        self.records = records
        self.project = project

    def describe(self) -> Iterable[Metric]:
        return self._families()

    def collect(self) -> Iterable[Metric]:
        families = self._families()
        requests, duration, req_bytes, resp_bytes = families
        series = summed(list(self.records.items()), self.project, self.bucket_count)
        for values, stats in series.items():
            requests.add_metric(list(values), stats.count)
        if self.header_labels:
            width = len(self.labels)
            series = summed(series.items(), lambda values: values[:width], self.bucket_count)
        for values, stats in series.items():
            labels = list(values)
            cumulative = 0
            buckets = []
            for le, n in zip(self.les, stats.buckets, strict=True):
                cumulative += n
                buckets.append((le, cumulative))
            duration.add_metric(labels, buckets, stats.total)
            req_bytes.add_metric(labels, stats.request_bytes)
            resp_bytes.add_metric(labels, stats.response_bytes)
        return families

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


__all__ = ["Key", "Level", "Stats", "summed"]
