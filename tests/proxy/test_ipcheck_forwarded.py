"""Trusted IP checks and the entry point's X-Forwarded-* rules (pure)."""

from __future__ import annotations

import pytest

from traefikpy.proxy.forwarded import ForwardedPolicy, is_managed
from traefikpy.proxy.ipcheck import IPChecker

CHECK_CASES = [
    {"desc": "exact ipv4", "entries": ["10.0.0.1"], "ip": "10.0.0.1", "want": True},
    {"desc": "other ipv4", "entries": ["10.0.0.1"], "ip": "10.0.0.2", "want": False},
    {"desc": "cidr", "entries": ["192.168.0.0/16"], "ip": "192.168.7.9", "want": True},
    {"desc": "outside cidr", "entries": ["192.168.0.0/16"], "ip": "192.169.0.1", "want": False},
    {"desc": "ipv6 cidr", "entries": ["2001:db8::/32"], "ip": "2001:db8::5", "want": True},
    {"desc": "ipv6 zone ignored", "entries": ["fe80::1"], "ip": "fe80::1%eth0", "want": True},
    {"desc": "v4-mapped peer", "entries": ["127.0.0.1"], "ip": "::ffff:127.0.0.1", "want": True},
    {"desc": "v4-mapped in cidr", "entries": ["10.0.0.0/8"], "ip": "::ffff:10.1.1.1", "want": True},
    {"desc": "garbage peer", "entries": ["10.0.0.0/8"], "ip": "not-an-ip", "want": False},
    {"desc": "empty list", "entries": [], "ip": "10.0.0.1", "want": False},
    {"desc": "host bits in cidr tolerated", "entries": ["10.0.0.5/24"], "ip": "10.0.0.200", "want": True},
]


@pytest.mark.parametrize("case", CHECK_CASES, ids=[c["desc"] for c in CHECK_CASES])
def test_ip_checker(case: dict) -> None:
    assert IPChecker(case["entries"]).contains(case["ip"]) is case["want"]


def test_ip_checker_rejects_invalid_entries() -> None:
    with pytest.raises(ValueError, match="not-a-cidr"):
        IPChecker(["not-a-cidr"])


@pytest.mark.parametrize(
    ("name", "managed"),
    [
        (b"x-forwarded-for", True),
        (b"x-real-ip", True),
        (b"x_forwarded_for", True),
        (b"x-forwarded_proto", True),
        (b"x-scheme", True),
        (b"x-forwarded-tls-client-cert-info", True),
        (b"x-request-id", False),
        (b"x_custom", False),
        (b"forwarded", False),
    ],
)
def test_is_managed(name: bytes, managed: bool) -> None:
    assert is_managed(name) is managed


FINISH_CASES = [
    {
        "desc": "nothing incoming, plain http",
        "seen": None,
        "xff": None,
        "tls": False,
        "ws": False,
        "host": b"example.com",
        "want": [
            (b"X-Real-Ip", b"198.51.100.9"),
            (b"X-Forwarded-Proto", b"http"),
            (b"X-Forwarded-Port", b"80"),
            (b"X-Forwarded-Host", b"example.com"),
            (b"X-Forwarded-Server", b"edge-1"),
        ],
    },
    {
        "desc": "tls with port in host",
        "seen": None,
        "xff": None,
        "tls": True,
        "ws": False,
        "host": b"example.com:8443",
        "want": [
            (b"X-Real-Ip", b"198.51.100.9"),
            (b"X-Forwarded-Proto", b"https"),
            (b"X-Forwarded-Port", b"8443"),
            (b"X-Forwarded-Host", b"example.com:8443"),
            (b"X-Forwarded-Server", b"edge-1"),
        ],
    },
    {
        "desc": "websocket",
        "seen": None,
        "xff": None,
        "tls": False,
        "ws": True,
        "host": b"h",
        "want": [
            (b"X-Real-Ip", b"198.51.100.9"),
            (b"X-Forwarded-Proto", b"ws"),
            (b"X-Forwarded-Port", b"80"),
            (b"X-Forwarded-Host", b"h"),
            (b"X-Forwarded-Server", b"edge-1"),
        ],
    },
    {
        "desc": "trusted values kept, xff folded, port from proto",
        "seen": {b"x-forwarded-proto": b"https", b"x-real-ip": b"203.0.113.1", b"x-forwarded-host": b"orig"},
        "xff": [b"203.0.113.1", b"10.0.0.2"],
        "tls": False,
        "ws": False,
        "host": b"h",
        "want": [
            (b"X-Forwarded-Port", b"443"),
            (b"X-Forwarded-For", b"203.0.113.1, 10.0.0.2"),
            (b"X-Forwarded-Server", b"edge-1"),
        ],
    },
    {
        "desc": "no host header",
        "seen": None,
        "xff": None,
        "tls": False,
        "ws": False,
        "host": None,
        "want": [
            (b"X-Real-Ip", b"198.51.100.9"),
            (b"X-Forwarded-Proto", b"http"),
            (b"X-Forwarded-Port", b"80"),
            (b"X-Forwarded-Server", b"edge-1"),
        ],
    },
]


@pytest.mark.parametrize("case", FINISH_CASES, ids=[c["desc"] for c in FINISH_CASES])
def test_forwarded_finish(case: dict) -> None:
    policy = ForwardedPolicy(hostname="edge-1")
    headers: list[tuple[bytes, bytes]] = []
    policy.finish(
        headers,
        case["seen"],
        case["xff"],
        client_ip=b"198.51.100.9",
        tls=case["tls"],
        websocket=case["ws"],
        host=case["host"],
    )
    assert headers == case["want"]


def test_forwarded_server_is_overwritten_from_trusted_peer() -> None:
    policy = ForwardedPolicy(hostname="edge-1", insecure=True)
    headers = [(b"X-Forwarded-Server", b"spoofed")]
    policy.finish(
        headers, {b"x-forwarded-server": b"spoofed"}, None, client_ip=b"1.1.1.1", tls=False, websocket=False, host=b"h"
    )
    assert [v for k, v in headers if k == b"X-Forwarded-Server"] == [b"edge-1"]


def test_policy_trust() -> None:
    assert ForwardedPolicy(insecure=True).trusts("8.8.8.8")
    assert ForwardedPolicy(trusted_ips=["10.0.0.0/8"]).trusts("10.2.3.4")
    assert not ForwardedPolicy(trusted_ips=["10.0.0.0/8"]).trusts("11.2.3.4")
    assert not ForwardedPolicy().trusts("127.0.0.1")
