"""Errors as a client sees them: Traefik's statuses and ``{"message": ...}`` bodies."""

from __future__ import annotations

import pytest

from tests.api.rig import Rig
from traefikpy.api.handler import ApiError, _unescape


@pytest.mark.parametrize(("desc", "path", "status", "message"), [
    ("unknown router", "/api/http/routers/nope@file", 404, "router not found: nope@file"),
    ("unknown service", "/api/http/services/nope", 404, "service not found: nope"),
    ("unknown middleware", "/api/http/middlewares/nope@file", 404, "middleware not found: nope@file"),
    ("unknown entry point", "/api/entrypoints/nope", 404, "entry point not found: nope"),
    ("unknown tcp router", "/api/tcp/routers/x@file", 404, "router not found: x@file"),
    ("unknown udp service", "/api/udp/services/x@file", 404, "service not found: x@file"),
    ("encoded name, decoded in the message", "/api/http/routers/a%2Fb%40file", 404, "router not found: a/b@file"),
    ("page past the end", "/api/http/routers?page=9", 400, "invalid request: page: 9, per_page: 100"),
    ("bad per_page", "/api/http/services?per_page=0", 400, "invalid request: per_page: 0"),
    ("entry points paginate too", "/api/entrypoints?page=5", 400, "invalid request: page: 5, per_page: 100"),
    ("explain without url", "/api/http/explain", 400, "the url parameter is required, e.g. url=http://example.com/path"),
    ("explain on an unknown entry point", "/api/http/explain?url=http://a/&entrypoint=nope", 400,
     "entry point not found: nope"),
    ("explain with a bad header", "/api/http/explain?url=http://a/&header=nocolon", 400,
     "invalid header 'nocolon' (expected Name:Value)"),
])
async def test_error_messages(loaded: Rig, desc: str, path: str, status: int, message: str) -> None:
    got_status, headers, body = await loaded.get(path)
    assert (got_status, body) == (status, {"message": message}), desc
    assert headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(("desc", "path"), [
    ("unknown api path", "/api/nothing"),
    ("udp has no middlewares", "/api/udp/middlewares"),
    ("too deep", "/api/http/routers/x@file/extra"),
    ("empty name", "/api/http/routers/"),
])
async def test_unknown_paths_are_404_page_not_found(loaded: Rig, desc: str, path: str) -> None:
    status, _, body = await loaded.get(path)
    assert (status, body) == (404, b"404 page not found\n"), desc


async def test_only_get_is_routed(loaded: Rig) -> None:
    async with loaded.session.post(loaded.url("/api/rawdata"), data=b"{}") as resp:
        assert resp.status == 405
    async with loaded.session.delete(loaded.url("/api/http/routers/x@file")) as resp:
        assert resp.status == 405


async def test_bad_escape_in_a_name_is_400(loaded: Rig) -> None:
    # The entry point refuses an invalid escape before routing (as Go's server does).
    status, _, _ = await loaded.get("/api/http/routers/x%zzfile")
    assert status == 400


@pytest.mark.parametrize(("desc", "raw", "expected"), [
    ("plain", "x@file", "x@file"),
    ("encoded at and slash", "a%2Fb%40file", "a/b@file"),
    ("bad escape", "x%zzfile", 'unable to decode routerID "x%zzfile": invalid URL escape "%zz"'),
    ("truncated escape", "x%4", 'unable to decode routerID "x%4": invalid URL escape "%4"'),
])
def test_name_unescaping(desc: str, raw: str, expected: str) -> None:
    # A middleware may rewrite the path after the entry point checked it: the handler checks again.
    try:
        got = _unescape(raw, "routerID")
    except ApiError as exc:
        assert (exc.status, str(exc)) == (400, expected), desc
    else:
        assert got == expected, desc
