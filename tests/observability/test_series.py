"""Pure tests of the request series: histogram buckets (cumulative at scrape), sums by level, host:port."""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

import pytest

from traefikpy.accesslog import _split_host_port
from traefikpy.metrics_series import Level, Stats

BUCKET_CASES: list[dict[str, Any]] = [
    {"desc": "on a bound counts in that bucket", "durations": [0.1], "want": [1, 1, 1, 1, 1]},
    {"desc": "between bounds", "durations": [0.2, 2.0], "want": [0, 1, 1, 2, 2]},
    {"desc": "above the last bound only in +Inf", "durations": [9.0], "want": [0, 0, 0, 0, 1]},
    {"desc": "zero", "durations": [0.0, 0.0], "want": [2, 2, 2, 2, 2]},
]


def _record(durations: list[float], bounds: list[float], request_bytes: int, response_bytes: int) -> Stats:
    stats = Stats(len(bounds) + 1)
    for d in durations:  # as PrometheusMetrics.observe adds a request
        stats.count += 1
        stats.total += d
        stats.buckets[bisect_left(bounds, d)] += 1
        stats.request_bytes += request_bytes
        stats.response_bytes += response_bytes
    return stats


@pytest.mark.parametrize("case", BUCKET_CASES, ids=[c["desc"] for c in BUCKET_CASES])
def test_histogram_buckets(case: dict[str, Any]) -> None:
    bounds = [0.1, 0.3, 1.2, 5.0]
    records = {("200", "s@file"): _record(case["durations"], bounds, 3, 4)}
    level = Level("service", ["code", "service"], bounds, records, lambda key: key)
    families = {f.name: f for f in level.collect()}
    buckets = [s for s in families["traefik_service_request_duration_seconds"].samples if s.name.endswith("_bucket")]
    assert [s.labels["le"] for s in buckets] == ["0.1", "0.3", "1.2", "5.0", "+Inf"]
    assert [s.value for s in buckets] == case["want"]
    assert families["traefik_service_requests"].samples[0].value == len(case["durations"])
    assert families["traefik_service_requests_bytes"].samples[0].value == 3 * len(case["durations"])
    assert families["traefik_service_responses_bytes"].samples[0].value == 4 * len(case["durations"])


def test_level_sums_records_by_its_projection() -> None:
    """Records of two routers on one service make one service series; a record the projection
    maps to None is left out; header values label only requests_total."""
    bounds = [1.0]
    records = {("r1", "s", "200", "h1"): _record([0.5], bounds, 1, 10),
               ("r2", "s", "200", "h2"): _record([2.0, 0.1], bounds, 2, 20),
               ("r3", "", "404", "h1"): _record([0.1], bounds, 0, 0)}
    level = Level("service", ["code", "service"], bounds, records,
                  lambda k: (k[2], k[1], k[3]) if k[1] else None, header_labels=["h"])
    families = {f.name: f for f in level.collect()}
    requests = {(s.labels["service"], s.labels["h"]): s.value for s in families["traefik_service_requests"].samples}
    assert requests == {("s", "h1"): 1, ("s", "h2"): 2}
    duration = {s.name: s.value for s in families["traefik_service_request_duration_seconds"].samples
                if "le" not in s.labels or s.labels["le"] == "1.0"}
    assert duration == {"traefik_service_request_duration_seconds_bucket": 2,
                        "traefik_service_request_duration_seconds_count": 3,
                        "traefik_service_request_duration_seconds_sum": 2.6}
    assert [s.value for s in families["traefik_service_responses_bytes"].samples] == [50]


HOST_CASES = [
    {"desc": "host and port", "value": "a.test:8080", "want": ("a.test", "8080")},
    {"desc": "no port", "value": "a.test", "want": ("a.test", "-")},
    {"desc": "bracketed IPv6 with port", "value": "[::1]:80", "want": ("::1", "80")},
    {"desc": "bare IPv6 is not split", "value": "::1", "want": ("::1", "-")},
]


@pytest.mark.parametrize("case", HOST_CASES, ids=[c["desc"] for c in HOST_CASES])
def test_split_host_port(case: dict[str, Any]) -> None:
    assert _split_host_port(case["value"]) == case["want"]


def test_removed_internal_service_stays_uncounted() -> None:
    """Records of an @internal service are left out of every level (without addInternals); when
    the service goes away they do not turn into entry point requests."""
    from traefikpy.config.static import Prometheus
    from traefikpy.metrics import PrometheusMetrics
    from traefikpy.proxy.h1body import NO_BODY
    from traefikpy.proxy.http import Exchange

    metrics = PrometheusMetrics(Prometheus())
    for service in ("api@internal", "s@file"):
        ex = Exchange(method=b"GET", raw_path=b"/", query=b"", version=b"1.1", headers=[], host="h",
                      scheme="http", client_ip="127.0.0.1", client_port=1, entrypoint="web", body=NO_BODY,
                      writer=None)  # type: ignore[arg-type]
        ex.status, ex.service = 200, service
        metrics.observe(ex, 0.01, 5)
    metrics.reloaded(set(), set())  # both services gone
    assert metrics.entrypoint is not None
    requests = [s for f in metrics.entrypoint.collect() for s in f.samples if s.name.endswith("requests_total")]
    assert [s.value for s in requests] == [1]  # s@file's request only
