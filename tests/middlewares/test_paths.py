"""addPrefix, stripPrefix, stripPrefixRegex, replacePath, replacePathRegex: Traefik's tables
(what the next handler sees: the path sent upstream, the routing path, the X- headers; or the
status) and end-to-end runs through the router to a real backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from middlewares.paths import (
    build_add_prefix,
    build_replace_path,
    build_replace_path_regex,
    build_strip_prefix,
    build_strip_prefix_regex,
)
from tests.harness import RunningApp, lb, running_app
from tests.middlewares.m1_util import REGISTRY, BuildCtx, exchange, get, raw_request, run
from tests.proxy.backends import Backend, echo_json
from traefikpy.config.middleware_options import (
    AddPrefix,
    ReplacePath,
    ReplacePathRegex,
    StripPrefix,
    StripPrefixRegex,
)
from traefikpy.proxy.http import Exchange


async def _never(ex: Exchange) -> None:
    raise AssertionError("not reached")


def _check(seen: Exchange | None, case: dict[str, Any], header: str) -> None:
    """``wire``: raw path sent upstream; ``path``: routing path ("" = Go's empty path);
    ``header``: value added (None: not added)."""
    assert seen is not None
    if "wire" in case:
        assert seen.raw_path == case["wire"].encode()
    if "path" in case:
        assert seen.path == case["path"]
    values = [v.decode() for k, v in seen.headers if k.lower() == header.lower().encode()]
    assert values == ([] if case.get("header") is None else [case["header"]])


STRIP: list[dict[str, Any]] = [
    {"desc": "no prefixes configured", "prefixes": [], "target": "/noprefixes", "wire": "/noprefixes"},
    {"desc": "root prefix on root", "prefixes": ["/"], "target": "/", "wire": "/", "path": "", "header": "/"},
    {"desc": "prefix equal to the path", "prefixes": ["/stat"], "target": "/stat", "wire": "/", "path": "", "header": "/stat"},
    {"desc": "slash prefix on exact path", "prefixes": ["/stat/"], "target": "/stat/", "path": "", "header": "/stat/"},
    {"desc": "slash prefix on longer path", "prefixes": ["/stat/"], "target": "/stat/us", "wire": "/us", "header": "/stat/"},
    {"desc": "slash prefix on other path", "prefixes": ["/stat/"], "target": "/status", "wire": "/status"},
    {"desc": "general prefix keeps the slash", "prefixes": ["/stat"], "target": "/stat/", "wire": "/", "path": "/", "header": "/stat"},
    {"desc": "earlier prefix wins", "prefixes": ["/stat", "/stat/us"], "target": "/stat/us", "wire": "/us", "header": "/stat"},
    {"desc": "later prefix matches", "prefixes": ["/mismatch", "/stat"], "target": "/stat", "path": "", "header": "/stat"},
    {"desc": "not on segment boundaries", "prefixes": ["/stat"], "target": "/status", "wire": "/us", "header": "/stat"},
    {"desc": "escapes after the prefix kept", "prefixes": ["/stat"], "target": "/stat/a%2Fb", "wire": "/a%2Fb", "path": "/a%2Fb", "header": "/stat"},
    {"desc": "escape inside the prefix", "prefixes": ["/api/"], "target": "/ap%69/a%2Fb", "wire": "/a%2Fb", "header": "/api/"},
    {"desc": "prefix against the decoded path", "prefixes": ["/a b"], "target": "/a%20b/c", "wire": "/c", "header": "/a b"},
    {"desc": "query kept", "prefixes": ["/stat"], "target": "/stat/us?x=1", "wire": "/us", "header": "/stat"},
    {"desc": "forceSlash on a whole path", "prefixes": ["/stat"], "force": True, "target": "/stat", "wire": "/", "path": "/", "header": "/stat"},
    {"desc": "forceSlash on longer path", "prefixes": ["/stat"], "force": True, "target": "/stat/us", "wire": "/us", "header": "/stat"},
    {"desc": "dot left by the strip", "prefixes": ["/api"], "target": "/api./foo", "status": 400},
    {"desc": "dots left by the strip", "prefixes": ["/api"], "target": "/api../foo", "status": 400},
    {"desc": "dots left with forceSlash", "prefixes": ["/api"], "force": True, "target": "/api../foo", "status": 400},
    {"desc": "double slash left by the strip", "prefixes": ["/api"], "target": "/api//foo", "status": 400},
]


@pytest.mark.parametrize("case", STRIP, ids=[c["desc"] for c in STRIP])
async def test_strip_prefix(case: dict[str, Any]) -> None:
    options = StripPrefix.model_validate({"prefixes": case["prefixes"], **({"forceSlash": True} if case.get("force") else {})})
    ex = exchange(case["target"])
    out = await run(build_strip_prefix, options, ex)
    if "status" in case:
        assert out.seen is None
        assert out.status == case["status"]
        assert out.response.body == b"Bad Request\n"
        return
    _check(out.seen, case, "X-Forwarded-Prefix")
    assert out.seen is not None and out.seen.query == ex.query


REGEXES = ["/a/api/", "/b/([a-z0-9]+)/", "/c/[a-z0-9]+/[0-9]+/"]
STRIP_REGEX: list[dict[str, Any]] = [
    {"desc": "no match", "target": "/a/test", "wire": "/a/test"},
    {"desc": "no match with slash", "target": "/a/test/", "wire": "/a/test/"},
    {"desc": "whole path", "target": "/a/api/", "path": "", "wire": "/", "header": "/a/api/"},
    {"desc": "first regex", "target": "/a/api/test", "wire": "/test", "header": "/a/api/"},
    {"desc": "first regex, trailing slash", "target": "/a/api/test/", "wire": "/test/", "header": "/a/api/"},
    {"desc": "group regex, whole path", "target": "/b/api/", "path": "", "header": "/b/api/"},
    {"desc": "group regex, no slash", "target": "/b/api", "wire": "/b/api"},
    {"desc": "group regex", "target": "/b/api/test1", "wire": "/test1", "header": "/b/api/"},
    {"desc": "group regex, other value", "target": "/b/api2/test2", "wire": "/test2", "header": "/b/api2/"},
    {"desc": "third regex, whole path", "target": "/c/api/123/", "path": "", "header": "/c/api/123/"},
    {"desc": "third regex, no slash", "target": "/c/api/123", "wire": "/c/api/123"},
    {"desc": "third regex", "target": "/c/api/123/test3", "wire": "/test3", "header": "/c/api/123/"},
    {"desc": "third regex, no number", "target": "/c/api/abc/test4", "wire": "/c/api/abc/test4"},
    {"desc": "escapes after the prefix kept", "target": "/a/api/a%2Fb", "wire": "/a%2Fb", "header": "/a/api/"},
    {"desc": "match not at the start", "target": "/x/a/api/y", "wire": "/x/a/api/y"},
    {"desc": "dot left by the strip", "target": "/a/api/./x", "regex": ["/a/api"], "status": 400},
]


@pytest.mark.parametrize("case", STRIP_REGEX, ids=[c["desc"] for c in STRIP_REGEX])
async def test_strip_prefix_regex(case: dict[str, Any]) -> None:
    options = StripPrefixRegex(regex=case.get("regex", REGEXES))
    out = await run(build_strip_prefix_regex, options, exchange(case["target"]))
    if "status" in case:
        assert (out.seen, out.status) == (None, case["status"])
        return
    _check(out.seen, case, "X-Forwarded-Prefix")


def test_strip_prefix_regex_invalid() -> None:
    with pytest.raises(ValueError, match="error parsing regexp"):
        build_strip_prefix_regex(StripPrefixRegex(regex=["/a/(b"]), _never, "m@file", BuildCtx())


ADD: list[dict[str, Any]] = [
    {"desc": "works with no path", "prefix": "/abc", "target": "/", "wire": "/abc/"},
    {"desc": "works with a path", "prefix": "/abc", "target": "/DEF", "wire": "/abc/DEF"},
    {"desc": "works with escapes", "prefix": "/abc", "target": "/DEF%2Fgh", "wire": "/abc/DEF%2Fgh", "path": "/abc/DEF%2Fgh"},
    {"desc": "prefix without slash", "prefix": "abc", "target": "/DEF", "wire": "/abc/DEF"},
    {"desc": "prefix is escaped like a path", "prefix": "/a b", "target": "/c", "wire": "/a%20b/c", "path": "/a b/c"},
]


@pytest.mark.parametrize("case", ADD, ids=[c["desc"] for c in ADD])
async def test_add_prefix(case: dict[str, Any]) -> None:
    out = await run(build_add_prefix, AddPrefix(prefix=case["prefix"]), exchange(case["target"]))
    _check(out.seen, case, "X-Forwarded-Prefix")


def test_add_prefix_empty() -> None:
    with pytest.raises(ValueError, match="prefix cannot be empty"):
        build_add_prefix(AddPrefix(), _never, "m@file", BuildCtx())


async def test_strip_then_add_keeps_the_empty_path() -> None:
    """Go's empty path after a whole-path strip: the next prefix is added without a slash."""
    async def record(ex: Exchange) -> None:
        seen.append(ex)

    seen: list[Exchange] = []
    for force, wire in ((False, b"/x"), (True, b"/x/")):
        seen.clear()
        add = build_add_prefix(AddPrefix(prefix="/x"), record, "a@file", BuildCtx())
        strip = build_strip_prefix(StripPrefix(prefixes=["/stat"], force_slash=force), add, "s@file", BuildCtx())
        await strip(exchange("/stat"))
        assert seen[0].raw_path == wire


REPLACE: list[dict[str, Any]] = [
    {"desc": "simple path", "target": "/example", "replace": "/replacement-path", "wire": "/replacement-path", "header": "/example"},
    {"desc": "long path", "target": "/some/really/long/path", "replace": "/replacement-path", "header": "/some/really/long/path"},
    {"desc": "path with escaped value", "target": "/foo%2Fbar", "replace": "/replacement-path", "header": "/foo%2Fbar"},
    {"desc": "replacement with escaped value", "target": "/path", "replace": "/foo%2Fbar", "wire": "/foo%2Fbar", "path": "/foo%2Fbar", "header": "/path"},
    {"desc": "percent encoded backspace", "target": "/path/%08bar", "replace": "/path/%08bar", "wire": "/path/%08bar", "path": "/path/\bbar", "header": "/path/%08bar"},
    {"desc": "query in the header", "target": "/example?a=1", "replace": "/r", "wire": "/r", "header": "/example?a=1"},
    {"desc": "no query with a raw path", "target": "/a%2Fb?a=1", "replace": "/r", "header": "/a%2Fb"},
    {"desc": "replacement escaped like a path", "target": "/x", "replace": "/a b", "wire": "/a%20b", "header": "/x"},
    {"desc": "invalid replacement", "target": "/x", "replace": "/%zz", "status": 500, "body": b'invalid URL escape "%zz"\n'},
]


@pytest.mark.parametrize("case", REPLACE, ids=[c["desc"] for c in REPLACE])
async def test_replace_path(case: dict[str, Any]) -> None:
    out = await run(build_replace_path, ReplacePath(path=case["replace"]), exchange(case["target"]))
    if "status" in case:
        assert (out.seen, out.status, out.response.body) == (None, case["status"], case["body"])
        assert out.response.header("X-Content-Type-Options") == "nosniff"
        return
    _check(out.seen, case, "X-Replaced-Path")


REPLACE_REGEX: list[dict[str, Any]] = [
    {"desc": "simple regex", "target": "/whoami/and/whoami", "regex": "^/whoami/(.*)", "replace": "/who-am-i/$1",
     "wire": "/who-am-i/and/whoami", "header": "/whoami/and/whoami"},
    {"desc": "every match", "target": "/whoami/and/whoami", "regex": "/whoami", "replace": "/who-am-i",
     "wire": "/who-am-i/and/who-am-i", "header": "/whoami/and/whoami"},
    {"desc": "empty replacement", "target": "/whoami/and/whoami", "regex": "/whoami", "replace": "", "wire": "/whoami/and/whoami"},
    {"desc": "blank replacement", "target": "/whoami/and/whoami", "regex": "/whoami", "replace": " ", "wire": "/whoami/and/whoami"},
    {"desc": "no match", "target": "/downloads/src/source.go", "regex": "^/whoami/(.*)", "replace": "/who-am-i/$1",
     "wire": "/downloads/src/source.go"},
    {"desc": "several groups", "target": "/downloads/src/source.go", "regex": "^(?i)/downloads/([^/]+)/([^/]+)$",
     "replace": "/downloads/$1-$2", "wire": "/downloads/src-source.go", "header": "/downloads/src/source.go"},
    {"desc": "replacement with escaped char", "target": "/aaa/bbb", "regex": "/aaa/bbb", "replace": "/foo%2Fbar",
     "wire": "/foo%2Fbar", "header": "/aaa/bbb"},
    {"desc": "regex on the escaped path", "target": "/aaa%2Fbbb", "regex": "/aaa%2Fbbb", "replace": "/foo/bar",
     "wire": "/foo/bar", "header": "/aaa%2Fbbb"},
    {"desc": "escaped path does not match decoded regex", "target": "/aaa%2Fbbb", "regex": "/aaa/bbb", "replace": "/foo/bar",
     "wire": "/aaa%2Fbbb"},
    {"desc": "percent encoded backspace", "target": "/foo/%08bar", "regex": "/foo/%08bar", "replace": "/foo/%08bar",
     "wire": "/foo/%08bar", "path": "/foo/\bbar", "header": "/foo/%08bar"},
    {"desc": "named group", "target": "/v1/items", "regex": "^/v(?P<v>[0-9]+)/(.*)", "replace": "/${2}?ignored=${v}",
     "wire": "/items%3Fignored=1", "header": "/v1/items"},
    {"desc": "invalid escape produced", "target": "/a", "regex": "^/a$", "replace": "/%zz", "status": 500},
]


@pytest.mark.parametrize("case", REPLACE_REGEX, ids=[c["desc"] for c in REPLACE_REGEX])
async def test_replace_path_regex(case: dict[str, Any]) -> None:
    options = ReplacePathRegex(regex=case["regex"], replacement=case["replace"])
    out = await run(build_replace_path_regex, options, exchange(case["target"]))
    if "status" in case:
        assert (out.seen, out.status) == (None, case["status"])
        return
    _check(out.seen, case, "X-Replaced-Path")


def test_replace_path_regex_invalid() -> None:
    with pytest.raises(ValueError, match="error compiling regular expression"):
        build_replace_path_regex(ReplacePathRegex(regex="^(?err)/x", replacement="/y"), _never, "m@file", BuildCtx())


# -- end to end ------------------------------------------------------------------------------

MIDDLEWARES = {
    "strip": {"stripPrefix": {"prefixes": ["/api"]}},
    "stripre": {"stripPrefixRegex": {"regex": ["/v[0-9]+"]}},
    "add": {"addPrefix": {"prefix": "/echo"}},
    "replace": {"replacePath": {"path": "/echo/replaced"}},
    "replacere": {"replacePathRegex": {"regex": "^/old/(.*)", "replacement": "/echo/$1"}},
    "whole": {"stripPrefix": {"prefixes": ["/whole"]}},
}
ROUTES = {
    "strip": ["strip"], "stripre": ["stripre"], "add": ["add"], "replace": ["replace"], "replacere": ["replacere"],
    "chain": ["whole", "add"],
}


@pytest.fixture
async def app() -> AsyncIterator[tuple[RunningApp, Backend]]:
    backend = await Backend.start()
    routers = {name: {"rule": f"Host(`{name}.test`)", "service": "s", "middlewares": mws} for name, mws in ROUTES.items()}
    config = {"http": {"routers": routers, "middlewares": MIDDLEWARES, "services": {"s": lb(backend.url)}}}
    async with running_app(config, middlewares=REGISTRY) as rt:
        yield rt, backend
    await backend.stop()


E2E: list[dict[str, Any]] = [
    {"desc": "stripPrefix", "host": "strip.test", "target": "/api/echo/x?q=1", "upstream": "/echo/x?q=1",
     "headers": {"X-Forwarded-Prefix": "/api"}},
    {"desc": "stripPrefix keeps an encoded slash", "host": "strip.test", "target": "/api/echo/a%2Fb", "upstream": "/echo/a%2Fb"},
    {"desc": "stripPrefix refuses a dot segment", "host": "strip.test", "target": "/api./echo", "status": 400},
    {"desc": "stripPrefixRegex", "host": "stripre.test", "target": "/v2/echo", "upstream": "/echo",
     "headers": {"X-Forwarded-Prefix": "/v2"}},
    {"desc": "addPrefix", "host": "add.test", "target": "/x/y", "upstream": "/echo/x/y"},
    {"desc": "replacePath", "host": "replace.test", "target": "/foo?q=1", "upstream": "/echo/replaced?q=1",
     "headers": {"X-Replaced-Path": "/foo?q=1"}},
    {"desc": "replacePathRegex", "host": "replacere.test", "target": "/old/a/b", "upstream": "/echo/a/b",
     "headers": {"X-Replaced-Path": "/old/a/b"}},
    {"desc": "whole-path strip then addPrefix", "host": "chain.test", "target": "/whole", "upstream": "/echo",
     "headers": {"X-Forwarded-Prefix": "/whole"}},
]


@pytest.mark.parametrize("case", E2E, ids=[c["desc"] for c in E2E])
async def test_paths_e2e(app: tuple[RunningApp, Backend], case: dict[str, Any]) -> None:
    rt, backend = app
    before = len(backend.requests)
    status, _, body = await raw_request(rt.app.port("web"), get(case["target"], case["host"]))
    if "status" in case:
        assert status == case["status"]
        assert len(backend.requests) == before  # never forwarded
        return
    assert status == 200
    seen = echo_json(body)
    assert seen["target"] == case["upstream"]
    for name, value in case.get("headers", {}).items():
        assert [v for k, v in seen["headers"] if k.lower() == name.lower()] == [value]
