"""ipStrategy / sourceCriterion: which IP, header or host a request counts as (pure tables)."""

from __future__ import annotations

from typing import Any

import pytest

from middlewares.sourcecriterion import ip_strategy, ipv6_subnet_ip, source_extractor, split_host_port
from tests.middlewares.access_util import exchange
from traefikpy.config.middleware_options import IPStrategy, SourceCriterion

XFF = "X-Forwarded-For"

IP_CASES: list[dict[str, Any]] = [
    {"desc": "no strategy: the connection address", "strategy": None, "xff": "1.1.1.1", "want": "127.0.0.9"},
    {"desc": "empty strategy: the connection address", "strategy": {}, "xff": "1.1.1.1", "want": "127.0.0.9"},
    {"desc": "depth 1: rightmost entry", "strategy": {"depth": 1}, "xff": "10.0.0.3, 10.0.0.2, 10.0.0.1", "want": "10.0.0.1"},
    {"desc": "depth 3 from the right", "strategy": {"depth": 3}, "xff": "10.0.0.4,10.0.0.3,10.0.0.2,10.0.0.1", "want": "10.0.0.3"},
    {"desc": "depth equal to the count: first entry", "strategy": {"depth": 2}, "xff": "10.0.0.2,10.0.0.1", "want": "10.0.0.2"},
    {"desc": "depth beyond the entries: empty", "strategy": {"depth": 3}, "xff": "10.0.0.2,10.0.0.1", "want": ""},
    {"desc": "depth without header: empty", "strategy": {"depth": 2}, "xff": None, "want": ""},
    {"desc": "depth wins over excludedIPs", "strategy": {"depth": 1, "excludedIPs": ["10.0.0.1"]}, "xff": "10.0.0.2,10.0.0.1", "want": "10.0.0.1"},
    {"desc": "excludedIPs: rightmost not excluded", "strategy": {"excludedIPs": ["10.0.0.1", "10.0.0.2"]}, "xff": "10.0.0.4,10.0.0.3,10.0.0.2,10.0.0.1", "want": "10.0.0.3"},
    {"desc": "excludedIPs CIDR", "strategy": {"excludedIPs": ["10.0.0.1/24"]}, "xff": "127.0.0.1,10.0.0.4,10.0.0.3", "want": "127.0.0.1"},
    {"desc": "excludedIPs all excluded: empty", "strategy": {"excludedIPs": ["10.0.0.0/24"]}, "xff": "10.0.0.4,10.0.0.3", "want": ""},
    {"desc": "excludedIPs skips blank entries", "strategy": {"excludedIPs": ["10.0.0.1"]}, "xff": "10.0.0.9, ,10.0.0.1", "want": "10.0.0.9"},
    {"desc": "excludedIPs checks the host of ip:port", "strategy": {"excludedIPs": ["10.0.0.1"]}, "xff": "10.0.0.9,10.0.0.1:5678", "want": "10.0.0.9"},
    {"desc": "ipv6Subnet on the connection address", "strategy": {"ipv6Subnet": 64}, "client": "2001:db8:1:2:3:4:5:6", "want": "2001:db8:1:2::"},
    {"desc": "ipv6Subnet leaves IPv4 alone", "strategy": {"ipv6Subnet": 64}, "client": "192.0.2.7", "want": "192.0.2.7"},
    {"desc": "ipv6Subnet with depth", "strategy": {"depth": 1, "ipv6Subnet": 48}, "xff": "2001:db8:aa:bb::1", "want": "2001:db8:aa::"},
    {"desc": "ipv6Subnet 128 keeps the address", "strategy": {"ipv6Subnet": 128}, "client": "2001:db8::5", "want": "2001:db8::5"},
]


@pytest.mark.parametrize("case", IP_CASES, ids=[c["desc"] for c in IP_CASES])
def test_ip_strategy(case: dict[str, Any]) -> None:
    options = None if case["strategy"] is None else IPStrategy.model_validate(case["strategy"])
    headers = [(XFF, case["xff"])] if case.get("xff") is not None else []
    ex = exchange(headers, client_ip=case.get("client", "127.0.0.9"))
    assert ip_strategy(options)(ex) == case["want"]


BAD_STRATEGIES: list[dict[str, Any]] = [
    {"desc": "ipv6Subnet 0", "strategy": {"ipv6Subnet": 0}, "error": "ipv6Subnet 0"},
    {"desc": "ipv6Subnet 129 with depth", "strategy": {"depth": 1, "ipv6Subnet": 129}, "error": "ipv6Subnet 129"},
    {"desc": "invalid excluded IP", "strategy": {"excludedIPs": ["nope"]}, "error": "invalid excludedIPs"},
]


@pytest.mark.parametrize("case", BAD_STRATEGIES, ids=[c["desc"] for c in BAD_STRATEGIES])
def test_ip_strategy_errors(case: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=case["error"]):
        ip_strategy(IPStrategy.model_validate(case["strategy"]))


SOURCE_CASES: list[dict[str, Any]] = [
    {"desc": "unset, default ip", "criterion": None, "default": "ip", "want": "127.0.0.9"},
    {"desc": "unset, default host keeps the port", "criterion": None, "default": "host", "want": "a.test:8080"},
    {"desc": "empty criterion uses the default", "criterion": {}, "default": "host", "want": "a.test:8080"},
    {"desc": "request header", "criterion": {"requestHeaderName": "x-api-key"}, "default": "ip", "want": "k1"},
    {"desc": "missing request header: empty source", "criterion": {"requestHeaderName": "X-Other"}, "default": "ip", "want": ""},
    {"desc": "request host", "criterion": {"requestHost": True}, "default": "ip", "want": "a.test:8080"},
    {"desc": "ip strategy", "criterion": {"ipStrategy": {"depth": 1}}, "default": "host", "want": "10.9.9.9"},
]


@pytest.mark.parametrize("case", SOURCE_CASES, ids=[c["desc"] for c in SOURCE_CASES])
def test_source_extractor(case: dict[str, Any]) -> None:
    criterion = None if case["criterion"] is None else SourceCriterion.model_validate(case["criterion"])
    ex = exchange([("Host", "a.test:8080"), ("X-Api-Key", "k1"), (XFF, "10.9.9.9")], client_ip="127.0.0.9")
    assert source_extractor(criterion, case["default"])(ex) == case["want"]


EXCLUSIVE: list[dict[str, Any]] = [
    {"desc": "ip strategy and header", "criterion": {"ipStrategy": {}, "requestHeaderName": "X"}},
    {"desc": "ip strategy and host", "criterion": {"ipStrategy": {}, "requestHost": True}},
    {"desc": "header and host", "criterion": {"requestHeaderName": "X", "requestHost": True}},
]


@pytest.mark.parametrize("case", EXCLUSIVE, ids=[c["desc"] for c in EXCLUSIVE])
def test_source_criteria_are_exclusive(case: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="mutually exclusive"):
        source_extractor(SourceCriterion.model_validate(case["criterion"]), "ip")


@pytest.mark.parametrize(
    ("addr", "host"),
    [("1.2.3.4", "1.2.3.4"), ("1.2.3.4:80", "1.2.3.4"), ("[2001:db8::1]:443", "2001:db8::1"),
     ("2001:db8::1", "2001:db8::1"), ("[2001:db8::1]", "[2001:db8::1]"), ("host:port", "host:port")],
)
def test_split_host_port(addr: str, host: str) -> None:
    assert split_host_port(addr) == host


@pytest.mark.parametrize(
    ("ip", "bits", "want"),
    [("2001:db8::1", 32, "2001:db8::"), ("not-an-ip", 64, "not-an-ip"), ("10.0.0.1", 8, "10.0.0.1")],
)
def test_ipv6_subnet_ip(ip: str, bits: int, want: str) -> None:
    assert ipv6_subnet_ip(ip, bits) == want
