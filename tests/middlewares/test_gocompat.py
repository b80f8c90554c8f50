"""Go behaviours the path/redirect/header middlewares rely on: header key spelling, regexp
templates and ReplaceAllString, net/url escaping and URL printing, SplitHostPort."""

from __future__ import annotations

from typing import Any

import pytest

from middlewares.gocompat import (
    Template,
    URLError,
    canonical_header_key,
    escaped_path,
    group_names,
    has_raw_path,
    replace_all,
    split_host_port,
    unescape,
    url_string,
)
from traefikpy.rules.goregex import compile_go_regexp

KEYS = [
    {"desc": "lower", "name": "x-custom-header", "want": "X-Custom-Header"},
    {"desc": "mixed", "name": "cOnTeNt-tYpE", "want": "Content-Type"},
    {"desc": "digits", "name": "content-md5", "want": "Content-Md5"},
    {"desc": "xss", "name": "X-XSS-Protection", "want": "X-Xss-Protection"},
    {"desc": "space kept", "name": "bad header", "want": "bad header"},
    {"desc": "underscore is a token char", "name": "x_real_ip", "want": "X_real_ip"},
]


@pytest.mark.parametrize("case", KEYS, ids=[c["desc"] for c in KEYS])
def test_canonical_header_key(case: dict[str, str]) -> None:
    assert canonical_header_key(case["name"]) == case["want"]


REPLACE: list[dict[str, Any]] = [
    {"desc": "numbered and braced groups", "re": r"^(?:http?:\/\/)(foo)(\.com)(:\d+)(.*)$",
     "tpl": "https://${1}bar$2:443$4", "src": "http://foo.com:80", "want": "https://foobar.com:443"},
    {"desc": "$1x is the group named 1x", "re": r"a(x*)b", "tpl": "$1x|${1}x", "src": "axb", "want": "|xx"},
    {"desc": "$$ is a dollar, a lone $ stays", "re": r"a", "tpl": "$$-$", "src": "a", "want": "$-$"},
    {"desc": "named groups", "re": r"(?P<first>\w+) (?<second>\w+)", "tpl": "$second ${first}",
     "src": "hello world", "want": "world hello"},
    {"desc": "$0 is the whole match", "re": r"b+", "tpl": "[$0]", "src": "abbc", "want": "a[bb]c"},
    {"desc": "missing group is empty", "re": r"(a)", "tpl": "$2$9${x}", "src": "a", "want": ""},
    {"desc": "leading zero is a name", "re": r"(a)", "tpl": "${01}", "src": "a", "want": ""},
    {"desc": "every match replaced", "re": r"o", "tpl": "0", "src": "foo boo", "want": "f00 b00"},
    {"desc": "empty match after a match is skipped", "re": r"x*", "tpl": "-", "src": "abxd", "want": "-a-b-d-"},
    {"desc": "anchor only at the start", "re": r"^/", "tpl": "", "src": "//a", "want": "/a"},
    {"desc": "unmatched group is empty", "re": r"(a)|(b)", "tpl": "<$1$2>", "src": "b", "want": "<b>"},
]


@pytest.mark.parametrize("case", REPLACE, ids=[c["desc"] for c in REPLACE])
def test_replace_all(case: dict[str, str]) -> None:
    pattern = compile_go_regexp(case["re"])
    template = Template(case["tpl"], group_names(case["re"]))
    assert replace_all(pattern, case["src"], template) == case["want"]


def test_group_names() -> None:
    pattern = r"(a)(?:b)(?P<n>c)[(](\()(?i)(?<m>d)\Q(\E(e)[]()]"
    assert group_names(pattern) == ["", "n", "", "m", ""]
    assert len(group_names(pattern)) == compile_go_regexp(pattern).groups


URLS: list[dict[str, Any]] = [
    {"desc": "plain", "url": "https://foo", "want": "https://foo"},
    {"desc": "port and path", "url": "http://foo:8080/a/b?x=1", "want": "http://foo:8080/a/b?x=1"},
    {"desc": "scheme lower-cased, host kept", "url": "HTTPS://Foo/%2F", "want": "https://Foo/%2F"},
    {"desc": "space in path escaped, query kept", "url": "https://h/a b?q=1 2", "want": "https://h/a%20b?q=1 2"},
    {"desc": "fragment", "url": "https://h/p#frag ment", "want": "https://h/p#frag%20ment"},
    {"desc": "ipv6 literal", "url": "http://[::1]:8443/p", "want": "http://[::1]:8443/p"},
    {"desc": "relative path", "url": "/x?y", "want": "/x?y"},
    {"desc": "force query", "url": "/x?", "want": "/x?"},
    {"desc": "opaque", "url": "mailto:a@b", "want": "mailto:a@b"},
    {"desc": "userinfo", "url": "http://u:p@h/", "want": "http://u:p@h/"},
    {"desc": "ascii escape in host", "url": "http://192.168.0.%31/", "error": 'invalid URL escape "%31"'},
    {"desc": "bad escape in path", "url": "http://a/%zz", "error": 'invalid URL escape "%zz"'},
    {"desc": "bad port", "url": "http://foo:bar/", "error": 'invalid port ":bar" after host'},
    {"desc": "colon in first segment", "url": "1a:b", "error": "first path segment in URL cannot contain colon"},
    {"desc": "missing scheme", "url": "://x", "error": "missing protocol scheme"},
    {"desc": "control character", "url": "http://a/\n", "error": "invalid control character"},
    {"desc": "space in host", "url": "http://a b/", "error": 'invalid character " " in host name'},
]


@pytest.mark.parametrize("case", URLS, ids=[c["desc"] for c in URLS])
def test_url_string(case: dict[str, str]) -> None:
    if "error" in case:
        with pytest.raises(URLError, match=case["error"]):
            url_string(case["url"])
    else:
        assert url_string(case["url"]) == case["want"]


PATHS: list[dict[str, Any]] = [
    {"desc": "plain", "raw": b"/a/b", "escaped": b"/a/b", "raw_path": False},
    {"desc": "default escape", "raw": b"/a%20b", "escaped": b"/a%20b", "raw_path": False},
    {"desc": "encoded slash kept", "raw": b"/a%2Fb", "escaped": b"/a%2Fb", "raw_path": True},
    {"desc": "sub-delims are valid raw", "raw": b"/a!b", "escaped": b"/a!b", "raw_path": True},
    {"desc": "space gets escaped", "raw": b"/a b", "escaped": b"/a%20b", "raw_path": True},
    {"desc": "non-ascii escaped", "raw": "/é".encode(), "escaped": b"/%C3%A9", "raw_path": True},
]


@pytest.mark.parametrize("case", PATHS, ids=[c["desc"] for c in PATHS])
def test_escaped_path(case: dict[str, Any]) -> None:
    assert escaped_path(case["raw"]) == case["escaped"]
    assert has_raw_path(case["raw"]) is case["raw_path"]


def test_unescape_errors() -> None:
    assert unescape(b"/a%2Fb") == b"/a/b"
    with pytest.raises(URLError, match='invalid URL escape "%2"'):
        unescape(b"/a%2")
    with pytest.raises(URLError, match='invalid URL escape "%G1"'):
        unescape(b"/%G1x")


HOSTPORTS: list[dict[str, Any]] = [
    {"desc": "host and port", "in": "a:80", "want": ("a", "80")},
    {"desc": "ipv6 with port", "in": "[::1]:80", "want": ("::1", "80")},
    {"desc": "no port", "in": "a", "want": None},
    {"desc": "bare ipv6", "in": "::1", "want": None},
    {"desc": "ipv6 without port", "in": "[::1]", "want": None},
    {"desc": "empty port", "in": "a:", "want": ("a", "")},
]


@pytest.mark.parametrize("case", HOSTPORTS, ids=[c["desc"] for c in HOSTPORTS])
def test_split_host_port(case: dict[str, Any]) -> None:
    assert split_host_port(case["in"]) == case["want"]
