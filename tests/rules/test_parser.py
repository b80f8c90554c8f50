"""Rule syntax: operators, precedence, quoting, matcher names, errors with positions."""

from __future__ import annotations

import pytest

from tests.rules.util import req
from traefikpy.rules import RouteRequest, RuleError, default_priority, parse_rule
from traefikpy.rules.lexer import STRING, tokenize

TREES = [
    pytest.param("Host(`a`)", "Host(`a`)", id="single matcher"),
    pytest.param("(Host(`a`))", "Host(`a`)", id="superfluous parentheses"),
    pytest.param("Host(`a`) && Path(`/b`)", "(Host(`a`) && Path(`/b`))", id="and"),
    pytest.param("Host(`a`) || Host(`b`) && Path(`/c`)", "(Host(`a`) || (Host(`b`) && Path(`/c`)))",
                 id="and binds tighter than or"),
    pytest.param("Host(`a`) && Path(`/c`) || Host(`b`)", "((Host(`a`) && Path(`/c`)) || Host(`b`))",
                 id="and binds tighter than or, left"),
    pytest.param("(Host(`a`) || Host(`b`)) && Path(`/c`)", "((Host(`a`) || Host(`b`)) && Path(`/c`))",
                 id="parentheses override precedence"),
    pytest.param("Host(`a`) || Host(`b`) || Host(`c`)", "(Host(`a`) || Host(`b`) || Host(`c`))",
                 id="or chain is flat"),
    pytest.param("!Host(`a`) && Path(`/b`)", "(!Host(`a`) && Path(`/b`))", id="not binds tighter than and"),
    pytest.param("!(Host(`a`) || Host(`b`))", "(!Host(`a`) && !Host(`b`))", id="not over or (De Morgan)"),
    pytest.param("!(Host(`a`) && !Path(`/b`))", "(!Host(`a`) || Path(`/b`))", id="not over and with inner not"),
    pytest.param("!!Host(`a`)", "Host(`a`)", id="double not"),
    pytest.param("!(!(Host(`a`) && Pathprefix(`/c`)))", "(Host(`a`) && Pathprefix(`/c`))", id="nested not"),
    pytest.param("host(`a`) && PATH(`/b`) && Pathprefix(`/c`) && PathPrefix(`/d`)",
                 "(host(`a`) && PATH(`/b`) && Pathprefix(`/c`) && PathPrefix(`/d`))",
                 id="lower, UPPER, Title and canonical names"),
    pytest.param("Host(`a`,)", "Host(`a`,)", id="trailing comma in arguments"),
    pytest.param("Host ( `a` )", "Host ( `a` )", id="spaces inside the call"),
    pytest.param("Host(`a`) &&\n  Path(`/b`)", "(Host(`a`) && Path(`/b`))", id="line break after &&"),
    pytest.param("(\n Host(`a`) ||\n Host(`b`))", "(Host(`a`) || Host(`b`))", id="line break after ("),
    pytest.param("Host(`a`)\n", "Host(`a`)", id="final line break"),
    pytest.param("Host(`a`) // main site", "Host(`a`)", id="line comment"),
    pytest.param("Host(`a`) /* x */ && Path(`/b`)", "(Host(`a`) && Path(`/b`))", id="block comment"),
    pytest.param('Header(`X`, "a`b")', 'Header(`X`, "a`b")', id="backtick inside double quotes"),
]


@pytest.mark.parametrize(("rule", "tree"), TREES)
def test_tree_shape(rule: str, tree: str) -> None:
    assert repr(parse_rule(rule).tree) == tree


STRINGS = [
    pytest.param("`a\\nb`", "a\\nb", id="raw string keeps backslashes"),
    pytest.param("`a\r\nb`", "a\nb", id="raw string drops carriage returns"),
    pytest.param('"a\\tb\\\\c\\"d"', 'a\tb\\c"d', id="interpreted simple escapes"),
    pytest.param('"\\x41\\101\\u00e9\\U0001F600"', "AAé\U0001f600", id="hex, octal and unicode escapes"),
    pytest.param('"caf\\xc3\\xa9"', "café", id="byte escapes form UTF-8"),
    pytest.param('"é"', "é", id="literal non-ASCII"),
]


@pytest.mark.parametrize(("source", "value"), STRINGS)
def test_string_literals(source: str, value: str) -> None:
    token = tokenize(source)[0]
    assert token.kind == STRING
    assert token.value == value


SEMANTICS = [
    pytest.param('Host("example.com") || (Host("example.org") && Path("/css"))',
                 {"https://example.com/js": True, "https://example.org/css": True,
                  "https://example.org/js": False, "https://example.eu/css": False}, id="host or (host and path)"),
    pytest.param('Host("example.com") || Host("example.org") && Path("/css")',
                 {"https://example.com/js": True, "https://example.org/css": True,
                  "https://example.org/js": False}, id="host or host and path"),
    pytest.param('(Host("example.com") || Host("example.org")) && Path("/css")',
                 {"https://example.com/css": True, "https://example.com/js": False,
                  "https://example.org/css": True, "https://example.eu/css": False}, id="(host or host) and path"),
    pytest.param('!(Host("example.com") && !Path("/css"))',
                 {"https://example.com/css": True, "https://example.org/css": True,
                  "https://example.com/js": False}, id="not of and with not"),
    pytest.param('!Host("example.com") || !Path("/css")',
                 {"https://example.com/js": True, "https://example.org/css": True,
                  "https://example.com/css": False}, id="not or not"),
    pytest.param('!Host("example.com") && Pathprefix("/css")',
                 {"https://example.org/css": True, "https://example.org/js": False,
                  "https://example.com/css": False}, id="not host and prefix"),
]


@pytest.mark.parametrize(("rule", "outcomes"), SEMANTICS)
def test_operator_semantics(rule: str, outcomes: dict[str, bool]) -> None:
    parsed = parse_rule(rule)
    assert {url: parsed.match(req(url)) for url in outcomes} == outcomes


ERRORS = [
    pytest.param("", 0, "empty rule", id="empty rule"),
    pytest.param("   ", 0, "empty rule", id="blank rule"),
    pytest.param("rulewithnotmatcher", 0, "unknown matcher 'rulewithnotmatcher'", id="bare word"),
    pytest.param("Host", 4, "unexpected end of rule at position 4, expected '(' after Host", id="name without call"),
    pytest.param("Host(`a`) &&", 12, "unexpected end of rule at position 12, expected a matcher", id="dangling and"),
    pytest.param("Host(`a`) ||", 12, "expected a matcher", id="dangling or"),
    pytest.param("&& Host(`a`)", 0, "unexpected '&&' at position 0, expected a matcher", id="leading and"),
    pytest.param("Hots(`a`)", 0, "unknown matcher 'Hots' at position 0 (did you mean Host?)", id="typo in name"),
    pytest.param("Path(`/a`) && pathPrefix(`/b`)", 14, "unknown matcher 'pathPrefix' at position 14 (did you mean PathPrefix?)",
                 id="name in unsupported case"),
    pytest.param("Headers(`a`, `b`)", 0, "Traefik v2 syntax; use Header", id="v2 matcher name"),
    pytest.param("HostSNI(`*`)", 0, "HostSNI is a TCP matcher", id="tcp matcher name"),
    pytest.param("Host(`a`, `b`)", 0, "Host takes 1 argument, got 2", id="too many arguments"),
    pytest.param("Host()", 0, "Host takes 1 argument, got 0", id="no argument"),
    pytest.param("Header(`X`)", 0, "Header takes 2 arguments, got 1", id="header missing value"),
    pytest.param("Query(`q`, `a`, `b`)", 0, "Query takes 1 or 2 arguments, got 3", id="query too many"),
    pytest.param("ClientIP(`1.1.1.1`, `2.2.2.2`)", 0, "ClientIP takes 1 argument, got 2", id="client ip two"),
    pytest.param("Method(`GET`, `POST`)", 0, "Method takes 1 argument, got 2", id="method two"),
    pytest.param("Host(``)", 5, "Host argument 1 is empty at position 5", id="empty argument"),
    pytest.param("Header(`X`, ``)", 12, "Header argument 2 is empty at position 12", id="empty header value"),
    pytest.param("Query(`q`, ``)", 11, "argument 2 is empty", id="empty query value"),
    pytest.param("Host(`a", 5, "unterminated backtick string at position 5", id="unterminated backtick"),
    pytest.param('Host("a)', 5, "unterminated double-quoted string at position 5", id="unterminated quote"),
    pytest.param('Host("a\nb")', 5, "unterminated double-quoted string", id="newline in quoted string"),
    pytest.param('Host("\\q")', 6, "unknown escape sequence '\\q'", id="bad escape"),
    pytest.param('Host("\\\'")', 6, "unknown escape sequence", id="escaped single quote invalid in Go strings"),
    pytest.param("Host('a')", 5, "single quotes are not accepted", id="single quotes"),
    pytest.param("Host(example.com)", 5, "argument example.com of Host at position 5 must be a string in backticks",
                 id="unquoted value"),
    pytest.param("Host(42)", 5, "must be a string", id="number value"),
    pytest.param("Host(`a` `b`)", 9, "expected ',' or ')'", id="missing comma"),
    pytest.param("(Host(`a`)", 0, "'(' at position 0 is never closed", id="unclosed paren"),
    pytest.param("Host(`a`))", 9, "unbalanced ')' at position 9", id="extra closing paren"),
    pytest.param("Host(`a`) Path(`/`)", 10, "unexpected 'Path' at position 10, expected '&&', '||' or end of rule",
                 id="missing operator"),
    pytest.param("Host(`a`) & Path(`/`)", 10, "did you mean '&&'?", id="single ampersand"),
    pytest.param("Host(`a`) | Path(`/`)", 10, "did you mean '||'?", id="single pipe"),
    pytest.param("Host(`a`) == Host(`b`)", 10, "operator '==' at position 10 is not supported", id="comparison"),
    pytest.param("Host(`a`)\n&& Path(`/`)", 9, "line break at position 9 ends the rule", id="line starting with &&"),
    pytest.param("(Host(`a`)\n)", 10, "line break at position 10", id="line break before closing paren"),
    pytest.param("Host(`a`) /* open", 10, "unterminated comment", id="unterminated comment"),
    pytest.param("Path(`css`)", 5, "Path value `css` must start with '/'", id="path without slash"),
    pytest.param("PathPrefix(`css`)", 11, "must start with '/'", id="prefix without slash"),
    pytest.param("Host(`🦭.com`)", 5, "non-ASCII characters; use its punycode", id="non-ascii host"),
    pytest.param("HostRegexp(`locàlhost`)", 11, "non-ASCII", id="non-ascii host regexp"),
    pytest.param("HostRegexp(`(example.com`)", 11, "invalid regular expression: missing closing )", id="bad host regexp"),
    pytest.param("PathRegexp(`/(css`)", 11, "PathRegexp: invalid regular expression", id="bad path regexp"),
    pytest.param("HeaderRegexp(`X`,`(a`)", 17, "HeaderRegexp: invalid regular expression", id="bad header regexp"),
    pytest.param("QueryRegexp(`q`, `(traefik`)", 17, "QueryRegexp: invalid regular expression", id="bad query regexp"),
    pytest.param("PathRegexp(`(?=a)`)", 11, "unsupported Perl syntax", id="look-ahead rejected like Go"),
    pytest.param("ClientIP(`1`)", 9, "ClientIP value `1` is not an IP address or CIDR range", id="bad client ip"),
    pytest.param("ClientIP(`invalid`)", 9, "not an IP address", id="word client ip"),
    pytest.param("ClientIP(`10.0.0.0/33`)", 9, "not an IP address", id="prefix too long"),
    pytest.param("ClientIP(`0127.0.0.1`)", 9, "not an IP address", id="octal-looking ip"),
]


@pytest.mark.parametrize(("rule", "position", "message"), ERRORS)
def test_errors(rule: str, position: int, message: str) -> None:
    with pytest.raises(RuleError) as info:
        parse_rule(rule)
    assert info.value.position == position
    assert message in str(info.value)
    assert str(info.value).startswith(f"rule '{rule}': ")
    assert isinstance(info.value, ValueError)


PRIORITIES = [
    pytest.param("Host(`example.org`)", 19, id="documented example"),
    pytest.param("HostRegexp(`[a-z]+\\.traefik\\.com`)", 34, id="docs regexp example"),
    pytest.param("Host(`foobar.traefik.com`)", 26, id="docs host example"),
    pytest.param("Path(`/café`)", 14, id="length in UTF-8 bytes like Go"),
]


@pytest.mark.parametrize(("rule", "priority"), PRIORITIES)
def test_default_priority(rule: str, priority: int) -> None:
    assert default_priority(rule) == priority


HOSTS = [
    pytest.param("Host(`A.example`)", {"a.example"}, None, True, id="single host lower-cased"),
    pytest.param("Host(`a.example.`)", {"a.example"}, None, True, id="trailing dot dropped"),
    pytest.param("Host(`a`) || Host(`b`)", {"a", "b"}, None, True, id="or of hosts"),
    pytest.param("Host(`a`) && Path(`/x`)", {"a"}, None, False, id="host and path"),
    pytest.param("Path(`/x`) && (Host(`a`) || Host(`b`))", {"a", "b"}, None, False, id="path and host group"),
    pytest.param("(Host(`a`) && Path(`/x`)) || (Host(`b`) && Path(`/y`))", {"a", "b"}, None, False,
                 id="each branch needs a host"),
    pytest.param("Host(`a`) || Path(`/x`)", None, None, False, id="branch without host"),
    pytest.param("!Host(`a`)", None, None, False, id="negated host"),
    pytest.param("!(Host(`a`) || Path(`/x`))", None, None, False, id="negation distributes"),
    pytest.param("HostRegexp(`^a$`)", None, None, False, id="regexp is not provable"),
    pytest.param("Host(`*.example.com`)", None, {".example.com"}, True, id="wildcard suffix"),
    pytest.param("Host(`*.a.com`) && Method(`GET`)", None, {".a.com"}, False, id="wildcard and method"),
    pytest.param("Host(`x.com`) || Host(`*.a.com`)", None, None, True, id="exact plus wildcard proves neither alone"),
]


@pytest.mark.parametrize(("rule", "hosts", "suffixes", "host_only"), HOSTS)
def test_host_extraction(rule: str, hosts: set[str] | None, suffixes: set[str] | None, host_only: bool) -> None:
    parsed = parse_rule(rule)
    assert parsed.hosts == (frozenset(hosts) if hosts is not None else None)
    assert parsed.host_suffixes == (frozenset(suffixes) if suffixes is not None else None)
    assert parsed.host_only is host_only


def test_explain_lists_every_matcher_with_negation() -> None:
    rule = parse_rule("Host(`a`) && !(Path(`/x`) || Method(`POST`))")
    request: RouteRequest = req("http://a/x", method="GET")
    assert rule.explain(request) == [("Host(`a`)", True), ("!Path(`/x`)", False), ("!Method(`POST`)", True)]
    assert rule.match(request) is False


def test_long_and_deep_rules() -> None:
    many_hosts = " || ".join(f"Host(`h{i}.example`)" for i in range(3000))
    rule = parse_rule(many_hosts)
    assert rule.match(req("http://h2999.example/")) and not rule.match(req("http://x.example/"))
    assert rule.hosts is not None and len(rule.hosts) == 3000 and rule.host_only
    chain = " && ".join(["PathPrefix(`/`)"] * 3000)
    assert parse_rule(chain).match(req())
    assert parse_rule("!" * 3001 + "Host(`a`)").match(req("http://b/"))
    with pytest.raises(RuleError, match="nested too deeply"):
        parse_rule("(" * 5000 + "Host(`a`)" + ")" * 5000)


def test_rule_value_semantics() -> None:
    assert parse_rule("Host(`a`)") == parse_rule("Host(`a`)")
    assert len({parse_rule("Host(`a`)"), parse_rule("Host(`a`)")}) == 1
    assert parse_rule("Host(`a`)").text == "Host(`a`)"
