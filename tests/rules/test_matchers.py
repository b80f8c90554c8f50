"""Each matcher against requests, mirroring Traefik's matcher_test.go tables (v3 syntax)."""

from __future__ import annotations

import pytest

from tests.rules.util import req
from traefikpy.rules import RouteRequest, parse_rule

H = list[tuple[str, str]]


def case(desc: str, rule: str, request: RouteRequest, expected: bool) -> object:
    return pytest.param(rule, request, expected, id=desc)


HOST = [
    case("host exact", "Host(`example.com`)", req("https://example.com"), True),
    case("host with port", "Host(`example.com`)", req("https://example.com:8080"), True),
    case("host with path", "Host(`example.com`)", req("https://example.com/path"), True),
    case("host upper-case request", "Host(`example.com`)", req("https://EXAMPLE.COM/path"), True),
    case("host other domain", "Host(`example.com`)", req("https://example.org"), False),
    case("host subdomain is not the host", "Host(`example.com`)", req("https://www.example.com"), False),
    case("host rule upper-case", "Host(`EXAMPLE.COM`)", req("https://example.com"), True),
    case("host rule trailing dot, plain request", "Host(`example.com.`)", req("https://example.com"), True),
    case("host rule trailing dot, dotted request", "Host(`example.com.`)", req("https://example.com."), True),
    case("host plain rule, dotted request", "Host(`example.com`)", req("https://example.com./path"), True),
    case("host rule trailing dot, other domain", "Host(`example.com.`)", req("https://example.org."), False),
    case("host punycode", "Host(`xn--9t9h.com`)", req("https://xn--9t9h.com/path"), True),
    case("host IPv4", "Host(`127.0.0.1`)", req("http://127.0.0.1/foo"), True),
    case("host IPv6 bracketed request", "Host(`::1`)", req("http://[::1]:8080/foo"), True),
    case("host IPv6 bare request", "Host(`10::10`)", req("http://10::10/foo"), True),
    case("host empty request host", "Host(`example.com`)", req("http:///foo"), False),
    case("wildcard direct subdomain", "Host(`*.example.com`)", req("https://foo.example.com"), True),
    case("wildcard upper-case request", "Host(`*.example.com`)", req("https://FOO.Example.com"), True),
    case("wildcard nested subdomain", "Host(`*.example.com`)", req("https://bar.foo.example.com"), False),
    case("wildcard apex", "Host(`*.example.com`)", req("https://example.com"), False),
    case("wildcard other domain", "Host(`*.example.com`)", req("https://foo.example.org"), False),
    case("wildcard suffix inside a label", "Host(`*.example.com`)", req("https://fooexample.com"), False),
    case("wildcard with trailing dot", "Host(`*.example.com.`)", req("https://a.example.com"), True),
    case("lone star matches a single label", "Host(`*`)", req("http://localhost"), True),
    case("lone star needs a single label", "Host(`*`)", req("http://a.b"), False),
]

HOST_REGEXP = [
    case("regexp anchored", "HostRegexp(`^[a-zA-Z-]+\\.com$`)", req("https://example.com:8080"), True),
    case("regexp anchored other tld", "HostRegexp(`^[a-zA-Z-]+\\.com$`)", req("https://example.org"), False),
    case("regexp sees lower-case host", "HostRegexp(`^[A-Z]+\\.com$`)", req("https://EXAMPLE.com"), False),
    case("regexp is not anchored", "HostRegexp(`example`)", req("https://www.example.com"), True),
    case("regexp subdomains", "HostRegexp(`^.+\\.example\\.com$`)", req("https://a.b.example.com"), True),
    case("regexp alternation", "HostRegexp(`^example\\.(com|org)$`)", req("https://example.org"), True),
    case("regexp case-insensitive flag", "HostRegexp(`(?i)^EXAMPLE\\.(com|org)$`)", req("https://example.com"), True),
    case("v2 syntax is literal braces", "HostRegexp(`{domain:[a-z-]+\\.com}`)", req("https://example.com"), False),
    case("regexp $ is end of text", "HostRegexp(`^example\\.com$`)", req("https://example.com.evil"), False),
]

METHOD = [
    case("method GET", "Method(`GET`)", req(method="GET"), True),
    case("method other", "Method(`GET`)", req(method="POST"), False),
    case("method is case-sensitive on the request", "Method(`GET`)", req(method="get"), False),
    case("rule value is upper-cased", "Method(`get`)", req(method="GET"), True),
    case("extension method", "Method(`PURGE`)", req(method="PURGE"), True),
]

PATH = [
    case("path exact", "Path(`/css`)", req("https://example.org/css"), True),
    case("path root is not css", "Path(`/css`)", req("https://example.com"), False),
    case("path other", "Path(`/css`)", req("https://example.com/html"), False),
    case("path trailing slash differs", "Path(`/css`)", req("https://example.com/css/"), False),
    case("path deeper", "Path(`/css`)", req("https://example.com/css/main.css"), False),
    case("path is case-sensitive", "Path(`/css`)", req("https://example.com/CSS"), False),
    case("path ignores the query", "Path(`/css`)", req("https://example.com/css?x=1"), True),
    case("path decodes %20", "Path(`/foo bar`)", req("http://a/foo%20bar"), True),
    case("path decodes unreserved escapes", "Path(`/admin`)", req("http://a/%61dmin"), True),
    case("path keeps %2F encoded", "Path(`/a/b`)", req("http://a/a%2Fb"), False),
    case("path matches encoded slash literally", "Path(`/a%2Fb`)", req("http://a/a%2Fb"), True),
    case("path lower-case %2f stays encoded", "Path(`/a%2Fb`)", req("http://a/a%2fb"), True),
    case("path UTF-8 escapes", "Path(`/café`)", req("http://a/caf%C3%A9"), True),
    case("path invalid escape never matches", "PathPrefix(`/`)", req("http://a/bad%zz"), False),
    case("path double-quoted rule", 'Path("/css")', req("http://a/css"), True),
]

PATH_PREFIX = [
    case("prefix exact", 'PathPrefix("/css")', req("https://example.com/css"), True),
    case("prefix with slash", 'PathPrefix("/css")', req("https://example.com/css/"), True),
    case("prefix deeper", 'PathPrefix("/css")', req("https://example.com/css/main.css"), True),
    case("prefix is a raw string prefix", "PathPrefix(`/api`)", req("https://example.com/apis"), True),
    case("prefix other", 'PathPrefix("/css")', req("https://example.com/html"), False),
    case("prefix root", 'PathPrefix("/css")', req("https://example.com"), False),
    case("prefix slash matches all", "PathPrefix(`/`)", req("https://example.com/anything"), True),
    case("prefix decoded space", "PathPrefix(`/foo bar`)", req("http://a/foo%20bar/x"), True),
]

PATH_REGEXP = [
    case("regexp css", "PathRegexp(`^/(css|js)`)", req("https://example.org/css"), True),
    case("regexp deeper", "PathRegexp(`^/(css|js)`)", req("https://example.com/js/main.js"), True),
    case("regexp case", "PathRegexp(`^/(css|js)`)", req("https://example.com/CSS"), False),
    case("regexp other", "PathRegexp(`^/(css|js)`)", req("https://example.com/html"), False),
    case("regexp unanchored suffix", "PathRegexp(`\\.(jpeg|jpg|png)$`)", req("http://a/img/x.png"), True),
    case("regexp digits", "PathRegexp(`^/products/(shoes|socks)/[0-9]+$`)", req("http://a/products/shoes/31"), True),
    case("regexp ignore-case flag", "PathRegexp(`(?i)^/products`)", req("http://a/PRODUCTS-for-sale"), True),
    case("v2 braces literal", 'PathRegexp("/{path:(css|js)}")', req("http://a/{path:css}/"), True),
    case("v2 braces literal decoded", 'PathRegexp("/{path:(css|js)}")', req("http://a/%7Bpath:js%7D"), True),
    case("v2 braces do not capture", 'PathRegexp("/{path:(css|js)}")', req("http://a/css"), False),
]

HEADER = [
    case("header exact", "Header(`X-Forwarded-Proto`, `https`)", req(headers=[("X-Forwarded-Proto", "https")]), True),
    case("header name case-insensitive", "Header(`X-Forwarded-Proto`, `https`)",
         req(headers=[("x-forwarded-proto", "https")]), True),
    case("rule name non-canonical", "Header(`x-forwarded-proto`, `https`)",
         req(headers=[("X-Forwarded-Proto", "https")]), True),
    case("any repeated header line", "Header(`X-Forwarded-Proto`, `https`)",
         req(headers=[("X-Forwarded-Proto", "http"), ("X-Forwarded-Proto", "https")]), True),
    case("value is exact", "Header(`X-Forwarded-Proto`, `https`)", req(headers=[("X-Forwarded-Proto", "HTTPS")]), False),
    case("comma list is one value", "Header(`X-Forwarded-Proto`, `https`)",
         req(headers=[("X-Forwarded-Proto", "http, https")]), False),
    case("other header", "Header(`X-Forwarded-Proto`, `https`)", req(headers=[("X-Forwarded-Host", "https")]), False),
    case("optional whitespace trimmed", "Header(`X-A`, `b`)", req(headers=[("X-A", " b ")]), True),
    case("Host header never matches", "Header(`Host`, `example.com`)", req(headers=[("Host", "example.com")]), False),
    case("no headers", "Header(`X-A`, `b`)", req(), False),
]

HEADER_REGEXP = [
    case("header regexp", "HeaderRegexp(`X-Forwarded-Proto`, `^https?$`)", req(headers=[("X-Forwarded-Proto", "http")]), True),
    case("header regexp case of name", "HeaderRegexp(`x-forwarded-proto`, `^https?$`)",
         req(headers=[("X-FORWARDED-PROTO", "https")]), True),
    case("header regexp value case", "HeaderRegexp(`X-Forwarded-Proto`, `^https?$`)",
         req(headers=[("X-Forwarded-Proto", "HTTPS")]), False),
    case("header regexp second value", "HeaderRegexp(`X-Forwarded-Proto`, `^https?$`)",
         req(headers=[("X-Forwarded-Proto", "ws"), ("X-Forwarded-Proto", "https")]), True),
    case("header regexp content type", "HeaderRegexp(`Content-Type`, `(?i)^application/(json|yaml)$`)",
         req(headers=[("content-type", "Application/YAML")]), True),
    case("header regexp v2 braces literal", "HeaderRegexp(`X-Forwarded-Proto`, `http{secure:s?}`)",
         req(headers=[("X-Forwarded-Proto", "http{secure:s}")]), True),
    case("header regexp v2 braces no capture", "HeaderRegexp(`X-Forwarded-Proto`, `http{secure:s?}`)",
         req(headers=[("X-Forwarded-Proto", "https")]), False),
    case("header regexp missing header", "HeaderRegexp(`X-A`, `.*`)", req(), False),
]

QUERY = [
    case("query value", "Query(`q`, `traefik`)", req("https://example.com?q=traefik"), True),
    case("query among others", "Query(`q`, `traefik`)", req("https://example.com?rel=ddg&q=traefik"), True),
    case("query first of repeated", "Query(`q`, `traefik`)", req("https://example.com?q=traefik&q=proxy"), True),
    case("query second of repeated", "Query(`q`, `traefik`)", req("https://example.com?q=awesome&q=traefik"), True),
    case("query absent", "Query(`q`, `traefik`)", req("https://example.com"), False),
    case("query other value", "Query(`q`, `traefik`)", req("https://example.com?q=nginx"), False),
    case("query value case", "Query(`q`, `traefik`)", req("https://example.com?q=TRAEFIK"), False),
    case("query key case", "Query(`q`, `traefik`)", req("https://example.com?Q=traefik"), False),
    case("query value under other key", "Query(`q`, `traefik`)", req("https://example.com?rel=traefik"), False),
    case("query decoded value", "Query(`q`, `a b/c`)", req("http://a/?q=a+b%2Fc"), True),
    case("query decoded key", "Query(`my key`, `1`)", req("http://a/?my%20key=1"), True),
    case("query semicolon pair ignored", "Query(`q`, `1`)", req("http://a/?q=1;x=2"), False),
    case("query invalid escape pair ignored", "Query(`q`, `1`)", req("http://a/?q=1%zz"), False),
    case("query key only, no value", "Query(`mobile`)", req("https://example.com?mobile"), True),
    case("query key only, empty value", "Query(`mobile`)", req("https://example.com?mobile="), True),
    case("query key only, with value", "Query(`mobile`)", req("https://example.com?mobile=true"), False),
    case("query key only, absent", "Query(`mobile`)", req("https://example.com"), False),
]

QUERY_REGEXP = [
    case("query regexp", "QueryRegexp(`q`, `^(traefik|nginx)$`)", req("https://example.com?q=nginx"), True),
    case("query regexp repeated", "QueryRegexp(`q`, `^(traefik|nginx)$`)", req("https://example.com?q=awesome&q=traefik"), True),
    case("query regexp value case", "QueryRegexp(`q`, `^(traefik|nginx)$`)", req("https://example.com?q=NGINX"), False),
    case("query regexp key case", "QueryRegexp(`q`, `^(traefik|nginx)$`)", req("https://example.com?Q=nginx"), False),
    case("query regexp other", "QueryRegexp(`q`, `^(traefik|nginx)$`)", req("https://example.com?q=haproxy"), False),
    case("query regexp any value", "QueryRegexp(`q`, `^.*$`)", req("https://example.com?q=TRAEFIK"), True),
    case("query regexp any value absent", "QueryRegexp(`q`, `^.*$`)", req("https://example.com?rel=ddg"), False),
    case("query regexp empty value", "QueryRegexp(`mobile`, `^.*$`)", req("http://a/?mobile"), True),
    case("query regexp one argument", "QueryRegexp(`mobile`)", req("http://a/?mobile"), True),
    case("query regexp one argument with value", "QueryRegexp(`mobile`)", req("http://a/?mobile=1"), False),
    case("query regexp v2 braces literal", "QueryRegexp(`q`, `{value:(traefik|nginx)}`)",
         req("https://example.com?q={value:traefik}"), True),
    case("query regexp v2 braces no capture", "QueryRegexp(`q`, `{value:(traefik|nginx)}`)",
         req("https://example.com?q=traefik"), False),
]

CLIENT_IP = [
    case("client ip exact", "ClientIP(`127.0.0.1`)", req(ip="127.0.0.1"), True),
    case("client ip other", "ClientIP(`127.0.0.1`)", req(ip="192.168.1.1"), False),
    case("client ip invalid peer", "ClientIP(`127.0.0.1`)", req(ip="1"), False),
    case("client cidr in", "ClientIP(`192.168.1.0/24`)", req(ip="192.168.1.100"), True),
    case("client cidr out", "ClientIP(`192.168.1.0/24`)", req(ip="192.168.2.1"), False),
    case("client cidr host bits set", "ClientIP(`1.2.3.4/24`)", req(ip="1.2.3.255"), True),
    case("client cidr /32", "ClientIP(`8.8.8.8/32`)", req(ip="8.8.8.9"), False),
    case("client IPv6 exact", "ClientIP(`::1`)", req(ip="::1"), True),
    case("client IPv6 other", "ClientIP(`10::10`)", req(ip="::1"), False),
    case("client IPv6 range in", "ClientIP(`2a03:4000:6:d080::/64`)", req(ip="2a03:4000:6:d080:dead:beef:ffff:ffff"), True),
    case("client IPv6 range out", "ClientIP(`2a03:4000:6:d080::/64`)", req(ip="2a03:4000:7:d080::1"), False),
    case("client IPv6 link-local", "ClientIP(`fe80::/10`)", req(ip="fe80::1%eth0"), True),
    case("client IPv4-mapped peer vs IPv4 rule", "ClientIP(`10.0.0.0/8`)", req(ip="::ffff:10.1.2.3"), True),
    case("client IPv4 peer vs IPv4-mapped rule", "ClientIP(`::ffff:10.1.2.3`)", req(ip="10.1.2.3"), True),
    case("client IPv4 peer vs IPv6 range", "ClientIP(`::/0`)", req(ip="10.1.2.3"), False),
    case("client IPv6 peer vs IPv4 range", "ClientIP(`0.0.0.0/0`)", req(ip="2001:db8::1"), False),
    case("client ip ignores X-Forwarded-For", "ClientIP(`10.0.0.1`)",
         req(ip="192.0.2.1", headers=[("X-Forwarded-For", "10.0.0.1")]), False),
]


@pytest.mark.parametrize(
    ("rule", "request_", "expected"),
    HOST + HOST_REGEXP + METHOD + PATH + PATH_PREFIX + PATH_REGEXP + HEADER + HEADER_REGEXP + QUERY
    + QUERY_REGEXP + CLIENT_IP,
)
def test_matcher(rule: str, request_: RouteRequest, expected: bool) -> None:
    assert parse_rule(rule).match(request_) is expected
