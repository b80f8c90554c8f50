"""Sticky cookies: Traefik's names, values, Set-Cookie format, request parsing, legacy values."""

from __future__ import annotations

import hashlib

import pytest

from tests.services.harness import make_exchange
from traefikpy.services import StickyCookie
from traefikpy.services.sticky import StickyTable, cookie_name, fnv1_64_hex, request_cookie, sticky_value

NAMES = [
    # Reference values from Traefik's cookie tests.
    ("generated from the service name", "", "/my/BACKEND-v1.0~rc1", "_5f7bc"),
    ("generated for 'backend'", "", "backend", "_76eb3"),
    ("configured name is sanitised", "/my/BACKEND-v1.0~rc1", "", "_my_BACKEND-v1.0~rc1"),
    ("special characters", "!#$%&'()*+-./:<=>?@[]^_`{|}~", "", "!#$%&'__*+-._________^_`_|_~"),
    ("configured name wins", "cookie", "backend", "cookie"),
    ("non-ASCII becomes _", "séance", "", "s_ance"),
]


@pytest.mark.parametrize(("desc", "configured", "service", "expected"), NAMES, ids=[c[0] for c in NAMES])
def test_cookie_name(desc: str, configured: str, service: str, expected: str) -> None:
    assert cookie_name(configured, service) == expected


SET_COOKIE = [
    ("defaults", StickyCookie(name="lb"), "lb=v; Path=/"),
    ("all flags", StickyCookie(name="lb", secure=True, http_only=True, same_site="strict", max_age=60, path="/app", domain=".example.com"),
     "lb=v; Path=/app; Domain=example.com; Max-Age=60; HttpOnly; Secure; SameSite=Strict"),
    ("sameSite none", StickyCookie(name="lb", same_site="none"), "lb=v; Path=/; SameSite=None"),
    ("sameSite lax any case", StickyCookie(name="lb", same_site="LAX"), "lb=v; Path=/; SameSite=Lax"),
    ("unknown sameSite writes nothing", StickyCookie(name="lb", same_site="bogus"), "lb=v; Path=/"),
    ("negative maxAge expires now", StickyCookie(name="lb", max_age=-1), "lb=v; Path=/; Max-Age=0"),
    ("empty path omitted", StickyCookie(name="lb", path=""), "lb=v"),
]


@pytest.mark.parametrize(("desc", "cookie", "expected"), SET_COOKIE, ids=[c[0] for c in SET_COOKIE])
def test_set_cookie_format(desc: str, cookie: StickyCookie, expected: str) -> None:
    assert cookie.header_value("v") == expected.encode()


FROM_MAPPING: list[tuple[str, dict[str, object] | None, StickyCookie | None]] = [
    ("no sticky", None, None),
    ("sticky without cookie", {}, None),
    ("empty cookie enables stickiness", {"cookie": {}}, StickyCookie()),
    ("Traefik keys", {"cookie": {"name": "n", "secure": True, "httpOnly": True, "sameSite": "lax", "maxAge": 10, "path": "/p", "domain": "d"}},
     StickyCookie("n", True, True, "lax", 10, "/p", "d")),
]


@pytest.mark.parametrize(("desc", "data", "expected"), FROM_MAPPING, ids=[c[0] for c in FROM_MAPPING])
def test_from_mapping(desc: str, data: dict[str, object] | None, expected: StickyCookie | None) -> None:
    assert StickyCookie.from_mapping(data) == expected


PARSE = [
    ("absent", [(b"Host", b"x")], None),
    ("single", [(b"Cookie", b"lb=abc")], b"abc"),
    ("among others", [(b"cookie", b"a=1; lb=abc; b=2")], b"abc"),
    ("first wins across headers", [(b"Cookie", b"a=1"), (b"COOKIE", b"lb=first"), (b"Cookie", b"lb=second")], b"first"),
    ("quoted value", [(b"Cookie", b'lb="abc"')], b"abc"),
    ("name must match exactly", [(b"Cookie", b"lbx=1; xlb=2")], None),
]


@pytest.mark.parametrize(("desc", "headers", "expected"), PARSE, ids=[c[0] for c in PARSE])
def test_request_cookie(desc: str, headers: list[tuple[bytes, bytes]], expected: bytes | None) -> None:
    assert request_cookie(headers, b"lb") == expected


def test_value_is_16_hex_of_sha256() -> None:
    assert sticky_value("http://10.0.0.1:80") == hashlib.sha256(b"http://10.0.0.1:80").hexdigest()[:16]


def test_fnv1_matches_go_fnv_new64() -> None:
    # FNV-1 (multiply then xor) reference vectors.
    assert fnv1_64_hex("") == "cbf29ce484222325"
    assert fnv1_64_hex("a") == "af63bd4c8601b7be"


def table() -> StickyTable[str]:
    return StickyTable(StickyCookie(name="lb"), [("http://a", "A"), ("http://b", "B")])


LOOKUP = [
    ("current value", sticky_value("http://b"), "B", False),
    ("legacy raw URL is rewritten", "http://b", "B", True),
    ("legacy fnv value is rewritten", fnv1_64_hex("http://a"), "A", True),
    ("legacy double fnv is rewritten", fnv1_64_hex(fnv1_64_hex("http://a")), "A", True),
    ("unknown value", "0123456789abcdef", None, False),
]


@pytest.mark.parametrize(("desc", "value", "child", "rewrite"), LOOKUP, ids=[c[0] for c in LOOKUP])
def test_lookup(desc: str, value: str, child: str | None, rewrite: bool) -> None:
    ex = make_exchange(headers=[(b"Cookie", f"lb={value}".encode())])
    assert table().lookup(ex) == (child, rewrite)


def test_hook_appends_set_cookie() -> None:
    headers: list[tuple[bytes, bytes]] = [(b"Content-Type", b"text/plain")]
    assert table().hook("A")(200, headers) == 200
    assert headers[-1] == (b"Set-Cookie", f"lb={sticky_value('http://a')}; Path=/".encode())
