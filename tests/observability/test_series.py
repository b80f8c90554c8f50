"""Pure tests of the request series: histogram buckets (cumulative at scrape), removal, host:port."""

from __future__ import annotations

from typing import Any

import pytest

from traefikpy.accesslog import _split_host_port
from traefikpy.metrics_series import Level

BUCKET_CASES: list[dict[str, Any]] = [
    {"desc": "on a bound counts in that bucket", "durations": [0.1], "want": [1, 1, 1, 1, 1]},
    {"desc": "between bounds", "durations": [0.2, 2.0], "want": [0, 1, 1, 2, 2]},
    {"desc": "above the last bound only in +Inf", "durations": [9.0], "want": [0, 0, 0, 0, 1]},
    {"desc": "zero", "durations": [0.0, 0.0], "want": [2, 2, 2, 2, 2]},
]


@pytest.mark.parametrize("case", BUCKET_CASES, ids=[c["desc"] for c in BUCKET_CASES])
def test_histogram_buckets(case: dict[str, Any]) -> None:
    level = Level("service", ["code", "service"], [0.1, 0.3, 1.2, 5.0])
    stats = level.get(("200", "s@file"))
    for d in case["durations"]:
        stats.observe(d, 3, 4)
    families = {f.name: f for f in level.collect()}
    buckets = [s for s in families["traefik_service_request_duration_seconds"].samples if s.name.endswith("_bucket")]
    assert [s.labels["le"] for s in buckets] == ["0.1", "0.3", "1.2", "5.0", "+Inf"]
    assert [s.value for s in buckets] == case["want"]
    assert families["traefik_service_requests"].samples[0].value == len(case["durations"])
    assert families["traefik_service_requests_bytes"].samples[0].value == 3 * len(case["durations"])
    assert families["traefik_service_responses_bytes"].samples[0].value == 4 * len(case["durations"])


def test_remove_where_drops_only_matching_series() -> None:
    level = Level("service", ["code", "service"], [1.0])
    level.get(("200", "a@file")).observe(0.1, 0, 0)
    level.get(("200", "b@file")).observe(0.1, 0, 0)
    level.remove_where(lambda v: v[1] == "b@file")
    assert list(level.series) == [("200", "a@file")]


HOST_CASES = [
    {"desc": "host and port", "value": "a.test:8080", "want": ("a.test", "8080")},
    {"desc": "no port", "value": "a.test", "want": ("a.test", "-")},
    {"desc": "bracketed IPv6 with port", "value": "[::1]:80", "want": ("::1", "80")},
    {"desc": "bare IPv6 is not split", "value": "::1", "want": ("::1", "-")},
]


@pytest.mark.parametrize("case", HOST_CASES, ids=[c["desc"] for c in HOST_CASES])
def test_split_host_port(case: dict[str, Any]) -> None:
    assert _split_host_port(case["value"]) == case["want"]
