"""Request-target, path and Host handling (pure functions, Traefik/Go semantics)."""

from __future__ import annotations

import pytest

from traefikpy.proxy.target import (
    BadTarget,
    Target,
    canonical_host,
    clean_path,
    decode_path,
    encode_query_semicolons,
    has_denied_encoding,
    host_port,
    normalize_path,
    split_target,
    valid_host,
)

SPLIT_CASES = [
    {"desc": "origin form", "method": b"GET", "target": b"/a/b?x=1", "want": Target(b"/a/b", b"x=1", None)},
    {"desc": "no query", "method": b"GET", "target": b"/", "want": Target(b"/", b"", None)},
    {"desc": "empty query", "method": b"GET", "target": b"/a?", "want": Target(b"/a", b"", None)},
    {"desc": "hash in query kept", "method": b"GET", "target": b"/a?b#c", "want": Target(b"/a", b"b#c", None)},
    {"desc": "asterisk with OPTIONS", "method": b"OPTIONS", "target": b"*", "want": Target(b"*", b"", None)},
    {
        "desc": "absolute form",
        "method": b"GET",
        "target": b"http://Example.com:8080/p?q=1",
        "want": Target(b"/p", b"q=1", b"Example.com:8080"),
    },
    {"desc": "absolute form without path", "method": b"GET", "target": b"https://h", "want": Target(b"/", b"", b"h")},
    {"desc": "absolute form query only", "method": b"GET", "target": b"http://h?x", "want": Target(b"/", b"x", b"h")},
    {"desc": "absolute IPv6", "method": b"GET", "target": b"http://[::1]:81/", "want": Target(b"/", b"", b"[::1]:81")},
]


@pytest.mark.parametrize("case", SPLIT_CASES, ids=[c["desc"] for c in SPLIT_CASES])
def test_split_target(case: dict) -> None:
    assert split_target(case["method"], case["target"]) == case["want"]


BAD_TARGETS = [
    {"desc": "fragment in path", "method": b"GET", "target": b"/a#b"},
    {"desc": "asterisk with GET", "method": b"GET", "target": b"*"},
    {"desc": "userinfo", "method": b"GET", "target": b"http://user@evil.com/"},
    {"desc": "empty authority", "method": b"GET", "target": b"http:///path"},
    {"desc": "other scheme", "method": b"GET", "target": b"ftp://h/"},
    {"desc": "relative path", "method": b"GET", "target": b"a/b"},
    {"desc": "authority form", "method": b"GET", "target": b"example.com:443"},
    {"desc": "fragment after authority", "method": b"GET", "target": b"http://h#x"},
    {"desc": "bad authority bytes", "method": b"GET", "target": b"http://h<x>/"},
    {"desc": "non-numeric port", "method": b"GET", "target": b"http://h:x/"},
    {"desc": "empty port", "method": b"GET", "target": b"http://h:/"},
    {"desc": "bare ipv6", "method": b"GET", "target": b"http://::1/"},
    {"desc": "unclosed ipv6", "method": b"GET", "target": b"http://[::1/"},
    {"desc": "junk after ipv6", "method": b"GET", "target": b"http://[::1]x/"},
]


@pytest.mark.parametrize("case", BAD_TARGETS, ids=[c["desc"] for c in BAD_TARGETS])
def test_split_target_rejects(case: dict) -> None:
    with pytest.raises(BadTarget) as err:
        split_target(case["method"], case["target"])
    assert err.value.status == 400


NORMALIZE_CASES = [
    {"desc": "no escapes", "raw": b"/a/b", "want": b"/a/b"},
    {"desc": "unreserved decoded", "raw": b"/%41%62%2d%2E%5f%7E", "want": b"/Ab-._~"},
    {"desc": "reserved upper-cased", "raw": b"/a%2fb%3b", "want": b"/a%2Fb%3B"},
    {"desc": "encoded dots become dots", "raw": b"/%2e%2e/x", "want": b"/../x"},
    {"desc": "utf-8 kept encoded", "raw": b"/caf%c3%a9", "want": b"/caf%C3%A9"},
]


@pytest.mark.parametrize("case", NORMALIZE_CASES, ids=[c["desc"] for c in NORMALIZE_CASES])
def test_normalize_path(case: dict) -> None:
    assert normalize_path(case["raw"]) == case["want"]


@pytest.mark.parametrize("raw", [b"/%", b"/%2", b"/%zz", b"/a%g1"], ids=["lone", "short", "non-hex", "half-hex"])
def test_normalize_path_rejects_bad_escapes(raw: bytes) -> None:
    with pytest.raises(BadTarget):
        normalize_path(raw)


CLEAN_CASES = [
    {"desc": "clean stays", "raw": b"/a/b", "want": b"/a/b"},
    {"desc": "root", "raw": b"/", "want": b"/"},
    {"desc": "double slash", "raw": b"//a///b", "want": b"/a/b"},
    {"desc": "dot segment", "raw": b"/a/./b", "want": b"/a/b"},
    {"desc": "dot-dot segment", "raw": b"/a/b/../c", "want": b"/a/c"},
    {"desc": "dot-dot above root", "raw": b"/../../etc/passwd", "want": b"/etc/passwd"},
    {"desc": "trailing slash kept", "raw": b"/a/./b/", "want": b"/a/b/"},
    {"desc": "trailing dot-dot", "raw": b"/a/b/..", "want": b"/a"},
    {"desc": "trailing dot", "raw": b"/a/.", "want": b"/a"},
    {"desc": "only dot-dot", "raw": b"/..", "want": b"/"},
    {"desc": "encoded slash is not a separator", "raw": b"/a%2F..%2Fb", "want": b"/a%2F..%2Fb"},
    {"desc": "dotfile kept", "raw": b"/.well-known/x", "want": b"/.well-known/x"},
    {"desc": "triple dots are a name", "raw": b"/a/.../b", "want": b"/a/.../b"},
]


@pytest.mark.parametrize("case", CLEAN_CASES, ids=[c["desc"] for c in CLEAN_CASES])
def test_clean_path(case: dict) -> None:
    assert clean_path(case["raw"]) == case["want"]


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        (b"/a/b", "/a/b"),
        (b"/a%2Fb", "/a%2Fb"),
        (b"/a%2fb", "/a%2Fb"),
        (b"/foo%20bar", "/foo bar"),
        (b"/caf%C3%A9", "/café"),
        (b"/%FF", "/\udcff"),
        (b"/q%3Fx%23y%25z", "/q%3Fx%23y%25z"),
    ],
    ids=["plain", "encoded slash kept", "lower-case escape", "space", "utf-8", "invalid utf-8", "reserved kept"],
)
def test_decode_path(raw: bytes, want: str) -> None:
    assert decode_path(raw) == want


HOST_CASES = [
    {"desc": "lower-cased", "value": b"Example.COM", "want": "example.com"},
    {"desc": "port stripped", "value": b"example.com:8080", "want": "example.com"},
    {"desc": "trailing dot", "value": b"example.com.", "want": "example.com"},
    {"desc": "trailing dot and port", "value": b"example.com.:80", "want": "example.com"},
    {"desc": "ipv6 with port", "value": b"[::1]:8080", "want": "::1"},
    {"desc": "ipv6 without port", "value": b"[::1]", "want": "::1"},
    {"desc": "ipv4", "value": b"10.0.0.1:80", "want": "10.0.0.1"},
    {"desc": "empty", "value": b"", "want": ""},
]


@pytest.mark.parametrize("case", HOST_CASES, ids=[c["desc"] for c in HOST_CASES])
def test_canonical_host(case: dict) -> None:
    assert canonical_host(case["value"]) == case["want"]


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (b"example.com", True),
        (b"example.com:80", True),
        (b"[::1]:80", True),
        (b"", True),
        (b"a b", False),
        (b"a/b", False),
        (b"a\x00b", False),
        (b"a@b", False),
        (b"\xc3\xa9.com", False),
    ],
    ids=["name", "port", "ipv6", "empty", "space", "slash", "nul", "at", "non-ascii"],
)
def test_valid_host(value: bytes, ok: bool) -> None:
    assert valid_host(value) is ok


@pytest.mark.parametrize(
    ("value", "port"),
    [(b"h:81", b"81"), (b"h", b""), (b"[::1]:8443", b"8443"), (b"[::1]", b"")],
    ids=["name", "no port", "ipv6", "ipv6 no port"],
)
def test_host_port(value: bytes, port: bytes) -> None:
    assert host_port(value) == port


def test_denied_encodings_and_semicolons() -> None:
    denied = frozenset({b"%2F", b"%00"})
    assert has_denied_encoding(b"/a%2Fb", denied)
    assert not has_denied_encoding(b"/a%20b", denied)
    assert not has_denied_encoding(b"/a%2Fb", frozenset())
    assert encode_query_semicolons(b"a=1;b=2") == b"a=1%3Bb=2"
    assert encode_query_semicolons(b"a=1") == b"a=1"
