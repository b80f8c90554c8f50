"""The request view: routing path decoding, query decoding, client address parsing."""

from __future__ import annotations

import pytest

from traefikpy.rules import RouteRequest, parse_query, routing_path
from traefikpy.rules.request import parse_client_ip

ROUTING_PATHS = [
    pytest.param("/foo%20bar", "/foo bar", id="unallowed percent-encoded character is decoded"),
    pytest.param("/foo%2Fbar", "/foo%2Fbar", id="reserved percent-encoded character is kept encoded"),
    pytest.param("/foo%20bar%2Fbaz%23qux", "/foo bar%2Fbaz%23qux", id="multiple mixed characters"),
    pytest.param("/foo%2fbar", "/foo%2Fbar", id="reserved escape kept with upper-case hex"),
    pytest.param("/%61dmin", "/admin", id="unreserved letter decoded"),
    pytest.param("/a%25b", "/a%25b", id="percent itself stays encoded"),
    pytest.param("/a%3Ab%3bc%40d", "/a%3Ab%3Bc%40d", id="sub-delims and gen-delims stay encoded"),
    pytest.param("/caf%C3%A9", "/café", id="UTF-8 sequence decoded"),
    pytest.param("/caf\xc3\xa9", "/café", id="raw UTF-8 bytes read as UTF-8"),
    pytest.param("/plain/path", "/plain/path", id="no escapes"),
    pytest.param("/%7Bx%7D", "/{x}", id="braces decoded"),
    pytest.param("/bad%zz", None, id="invalid hex"),
    pytest.param("/bad%2", None, id="truncated escape"),
    pytest.param("/bad%", None, id="percent at end"),
]


@pytest.mark.parametrize(("raw", "expected"), ROUTING_PATHS)
def test_routing_path(raw: str, expected: str | None) -> None:
    assert routing_path(raw) == expected


QUERIES = [
    pytest.param(b"q=traefik", [("q", "traefik")], id="one pair"),
    pytest.param(b"a=1&b=2&a=3", [("a", "1"), ("b", "2"), ("a", "3")], id="repeated keys keep order"),
    pytest.param(b"mobile", [("mobile", "")], id="key without value"),
    pytest.param(b"mobile=", [("mobile", "")], id="key with empty value"),
    pytest.param(b"a=b=c", [("a", "b=c")], id="second equals belongs to value"),
    pytest.param(b"q=a+b%20c", [("q", "a b c")], id="plus and escapes decoded"),
    pytest.param(b"k%3D=v%26", [("k=", "v&")], id="escaped separators"),
    pytest.param(b"&&a=1&", [("a", "1")], id="empty pairs skipped"),
    pytest.param(b"a=1;b=2&c=3", [("c", "3")], id="pair with semicolon skipped"),
    pytest.param(b"a=%zz&b=%4", [], id="invalid escapes skip the pair"),
    pytest.param(b"q=caf%C3%A9", [("q", "café")], id="UTF-8 value"),
]


@pytest.mark.parametrize(("query", "pairs"), QUERIES)
def test_parse_query(query: bytes, pairs: list[tuple[str, str]]) -> None:
    assert parse_query(query) == pairs


CLIENT_IPS = [
    pytest.param("10.1.2.3", (4, 0x0A010203), id="IPv4"),
    pytest.param("::1", (6, 1), id="IPv6 loopback"),
    pytest.param("::ffff:10.1.2.3", (4, 0x0A010203), id="IPv4-mapped IPv6 is IPv4"),
    pytest.param("fe80::1%eth0", (6, (0xFE80 << 112) | 1), id="zone ignored"),
    pytest.param("[::1]", (6, 1), id="brackets tolerated"),
    pytest.param("10.0.0.1:8456", (4, 0x0A000001), id="IPv4 with port"),
    pytest.param("[::1]:8456", (6, 1), id="IPv6 with port"),
    pytest.param("1", None, id="not an address"),
    pytest.param("", None, id="empty"),
    pytest.param("10.0.0.350", None, id="octet out of range"),
    pytest.param("fe:::80", None, id="broken IPv6"),
]


@pytest.mark.parametrize(("text", "expected"), CLIENT_IPS)
def test_parse_client_ip(text: str, expected: tuple[int, int] | None) -> None:
    assert parse_client_ip(text) == expected


def test_request_computes_lazily_once() -> None:
    request = RouteRequest(b"GET", "a.example", "/x%20y", b"q=1", [], "10.0.0.1")
    assert request._routing_path is not None  # unset until asked
    assert request.routing_path == "/x y"
    assert request.routing_path is request.routing_path
    assert request.query_pairs == [("q", "1")]
    assert request.query_pairs is request.query_pairs
    assert request.client_addr == (4, 0x0A000001)
    assert "GET a.example/x%20y?q=1 from 10.0.0.1" in repr(request)


def test_exchange_routes_as_its_route_request() -> None:
    """The data plane routes the Exchange itself: same routing path, query pairs and address
    as a RouteRequest of the same raw fields (reserved escapes stay encoded)."""
    from traefikpy.proxy.http import Exchange
    from traefikpy.proxy.target import decode_path

    for raw in (b"/x%20y", b"/a%2Fb", b"/caf%C3%A9", b"/plain"):
        ex = Exchange(method=b"GET", raw_path=raw, query=b"q=1&b=%20", version=b"1.1", headers=[],
                      host="a.example", scheme="http", client_ip="::ffff:10.0.0.1", client_port=1, entrypoint="web",
                      body=None, writer=None, path=decode_path(raw))  # type: ignore[arg-type]
        request = RouteRequest(b"GET", "a.example", raw.decode("latin-1"), b"q=1&b=%20", [], "::ffff:10.0.0.1")
        assert (ex.routing_path, ex.query_pairs, ex.client_addr) == (
            request.routing_path, request.query_pairs, request.client_addr)
