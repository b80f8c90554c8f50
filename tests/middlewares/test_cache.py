"""cache (memory store) through the real router: hits that never reach the backend, Cache-Status and
Age, Vary, revalidation with ETag / Last-Modified, client conditionals, request directives,
stale-if-error and must-revalidate, size limits, invalidation by unsafe methods, PURGE and
:func:`purge`, bypassed requests, build errors, a store that survives reloads."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from middlewares import cache as cache_mw
from middlewares.cache import FACTORIES
from tests.conftest import free_port
from tests.harness import RunningApp, lb, running_app
from tests.middlewares.access_util import BuildCtx
from tests.middlewares.m3_servers import Reply, Request, ScriptServer
from traefikpy.config.middleware_options import Cache

Script = Callable[[Request], Reply]


class Origin:
    """Answers per path; ``routes[path](request)`` builds the reply, ``count(path)`` counts."""

    def __init__(self) -> None:
        self.routes: dict[str, Script] = {}
        self.server: ScriptServer | None = None

    def __call__(self, req: Request) -> Reply:
        path = req.target.split("?", 1)[0]
        route = self.routes.get(path)
        if route is None:
            return Reply(404, b"no route\n")
        return route(req)

    def count(self, path: str, method: str | None = None) -> int:
        assert self.server is not None
        return sum(1 for r in self.server.requests
                   if r.target.split("?", 1)[0] == path and (method is None or r.method == method))

    def last(self, path: str) -> Request:
        assert self.server is not None
        return [r for r in self.server.requests if r.target.split("?", 1)[0] == path][-1]


def fixed(body: bytes, *headers: tuple[str, str], status: int = 200) -> Script:
    encoded = [(k.encode(), v.encode()) for k, v in headers]
    return lambda req: Reply(status, body, list(encoded))


@pytest.fixture
async def origin() -> AsyncIterator[Origin]:
    o = Origin()
    o.server = await ScriptServer.start(o)
    yield o
    await o.server.stop()


def config(url: str, **options: Any) -> dict[str, Any]:
    return {"http": {
        "routers": {"r": {"rule": "Host(`a.test`)", "middlewares": ["c"], "service": "s"}},
        "middlewares": {"c": {"cache": options}},
        "services": {"s": lb(url)},
    }}


@pytest.fixture
async def rt(origin: Origin) -> AsyncIterator[RunningApp]:
    assert origin.server is not None
    async with running_app(config(origin.server.url, allowPurge=True), middlewares=FACTORIES) as app:
        yield app


async def get(rt: RunningApp, path: str, method: str = "GET", **headers: str) -> Any:
    return await rt.request(method, path, host="a.test", headers=headers)


def status_of(resp: Any) -> str:
    return resp.headers.get("Cache-Status", "")


async def test_miss_then_hit_never_reaches_the_backend(rt: RunningApp, origin: Origin) -> None:
    origin.routes["/a"] = fixed(b"hello", ("Cache-Control", "max-age=60"), ("Content-Type", "text/plain"))
    first = await get(rt, "/a")
    assert first.status == 200 and await first.read() == b"hello"
    assert status_of(first) == "traefikpy; fwd=uri-miss; stored"
    for _ in range(3):
        again = await get(rt, "/a")
        assert again.status == 200 and await again.read() == b"hello"
        assert again.headers["Content-Type"] == "text/plain" and again.headers["Content-Length"] == "5"
        assert status_of(again).startswith("traefikpy; hit; ttl=")
        assert int(again.headers["Age"]) >= 0
    head = await get(rt, "/a", "HEAD")
    assert head.status == 200 and head.headers["Content-Length"] == "5" and await head.read() == b""
    assert status_of(head).startswith("traefikpy; hit")
    assert origin.count("/a") == 1
    # The query is part of the key.
    assert status_of(await get(rt, "/a?x=1")) == "traefikpy; fwd=uri-miss; stored"
    assert origin.count("/a") == 2


NOT_STORED: list[dict[str, Any]] = [
    {"desc": "no-store", "headers": [("Cache-Control", "no-store, max-age=60")]},
    {"desc": "private", "headers": [("Cache-Control", "private, max-age=60")]},
    {"desc": "set-cookie", "headers": [("Cache-Control", "max-age=60"), ("Set-Cookie", "id=1")]},
    {"desc": "vary star", "headers": [("Cache-Control", "max-age=60"), ("Vary", "*")]},
    {"desc": "not heuristically cacheable", "headers": [], "status": 302},
    {"desc": "authorization without public", "headers": [("Cache-Control", "max-age=60")],
     "request": {"Authorization": "Basic eDp5"}},
    {"desc": "request no-store", "headers": [("Cache-Control", "max-age=60")], "request": {"Cache-Control": "no-store"}},
]


@pytest.mark.parametrize("case", NOT_STORED, ids=[c["desc"] for c in NOT_STORED])
async def test_responses_not_stored(rt: RunningApp, origin: Origin, case: dict[str, Any]) -> None:
    origin.routes["/n"] = fixed(b"body", *case["headers"], status=case.get("status", 200))
    for _ in range(2):
        resp = await get(rt, "/n", **case.get("request", {}))
        assert resp.status == case.get("status", 200)
        assert "stored" not in status_of(resp) and "hit" not in status_of(resp)
    assert origin.count("/n") == 2


async def test_authorization_with_public_is_shared(rt: RunningApp, origin: Origin) -> None:
    origin.routes["/p"] = fixed(b"shared", ("Cache-Control", "public, max-age=60"))
    assert "stored" in status_of(await get(rt, "/p", Authorization="Basic eDp5"))
    resp = await get(rt, "/p")
    assert "hit" in status_of(resp) and await resp.read() == b"shared"
    assert origin.count("/p") == 1


async def test_vary_keeps_one_entry_per_variant(rt: RunningApp, origin: Origin) -> None:
    def by_language(req: Request) -> Reply:
        lang = (req.header("Accept-Language") or "none").encode()
        return Reply(200, b"lang=" + lang, [(b"Cache-Control", b"max-age=60"), (b"Vary", b"Accept-Language")])

    origin.routes["/v"] = by_language
    assert status_of(await get(rt, "/v", **{"Accept-Language": "fr"})) == "traefikpy; fwd=uri-miss; stored"
    en = await get(rt, "/v", **{"Accept-Language": "en"})
    assert status_of(en) == "traefikpy; fwd=vary-miss; stored" and await en.read() == b"lang=en"
    fr = await get(rt, "/v", **{"Accept-Language": "fr"})
    assert "hit" in status_of(fr) and await fr.read() == b"lang=fr"
    none = await get(rt, "/v")
    assert status_of(none) == "traefikpy; fwd=vary-miss; stored" and await none.read() == b"lang=none"
    assert "hit" in status_of(await get(rt, "/v", **{"Accept-Language": "en"}))
    assert origin.count("/v") == 3


async def test_revalidation_with_etag_updates_the_entry(rt: RunningApp, origin: Origin) -> None:
    version = {"n": 1}

    def resource(req: Request) -> Reply:
        if req.header("If-None-Match") == '"v1"':
            return Reply(304, b"", [(b"ETag", b'"v1"'), (b"Cache-Control", b"max-age=0"),
                                    (b"X-Checked", str(version["n"]).encode())], length=False)
        return Reply(200, b"payload", [(b"ETag", b'"v1"'), (b"Cache-Control", b"max-age=0"), (b"X-Checked", b"0")])

    origin.routes["/e"] = resource
    first = await get(rt, "/e")
    assert status_of(first) == "traefikpy; fwd=uri-miss; stored"
    second = await get(rt, "/e")
    assert origin.last("/e").header("If-None-Match") == '"v1"'
    assert second.status == 200 and await second.read() == b"payload"
    assert second.headers["X-Checked"] == "1" and second.headers["Content-Length"] == "7"
    assert status_of(second) == "traefikpy; fwd=stale; fwd-status=304; ttl=0"
    version["n"] = 2
    third = await get(rt, "/e", **{"If-None-Match": '"v1"'})  # the client's own conditional
    assert third.status == 304 and third.headers["ETag"] == '"v1"' and await third.read() == b""
    assert origin.last("/e").header("If-None-Match") == '"v1"'  # the cache's validator, not the client's
    assert origin.count("/e") == 3


async def test_revalidation_with_last_modified_gets_a_new_body(rt: RunningApp, origin: Origin) -> None:
    state = {"body": b"old"}

    def resource(req: Request) -> Reply:
        headers = [(b"Last-Modified", b"Tue, 14 Nov 2023 22:13:20 GMT"), (b"Cache-Control", b"no-cache")]
        return Reply(200, state["body"], headers)

    origin.routes["/lm"] = resource
    await get(rt, "/lm")
    state["body"] = b"new"
    resp = await get(rt, "/lm")
    assert origin.last("/lm").header("If-Modified-Since") == "Tue, 14 Nov 2023 22:13:20 GMT"
    assert await resp.read() == b"new" and status_of(resp) == "traefikpy; fwd=stale; stored"
    assert origin.count("/lm") == 2


async def test_client_conditionals(rt: RunningApp, origin: Origin) -> None:
    origin.routes["/c"] = fixed(b"data", ("ETag", '"abc"'), ("Cache-Control", "max-age=60"))
    # A miss: the backend gets no conditional (the cache wants the body), the client gets its 304.
    miss = await get(rt, "/c", **{"If-None-Match": '"abc"'})
    assert miss.status == 304 and origin.last("/c").header("If-None-Match") is None
    assert status_of(miss) == "traefikpy; fwd=uri-miss; stored"
    hit = await get(rt, "/c", **{"If-None-Match": 'W/"abc"'})
    assert hit.status == 304 and "hit" in status_of(hit) and hit.headers["ETag"] == '"abc"'
    other = await get(rt, "/c", **{"If-None-Match": '"zzz"'})
    assert other.status == 200 and await other.read() == b"data"
    assert origin.count("/c") == 1


async def test_request_directives(rt: RunningApp, origin: Origin) -> None:
    origin.routes["/d"] = fixed(b"d", ("Cache-Control", "max-age=60"))
    await get(rt, "/d")
    resp = await get(rt, "/d", **{"Cache-Control": "no-cache"})
    assert status_of(resp) == "traefikpy; fwd=request; stored"
    assert status_of(await get(rt, "/d", **{"Cache-Control": "max-age=0"})) == "traefikpy; fwd=request; stored"
    assert "hit" in status_of(await get(rt, "/d", **{"Cache-Control": "max-age=30"}))
    assert origin.count("/d") == 3
    missing = await get(rt, "/never", **{"Cache-Control": "only-if-cached"})
    assert missing.status == 504 and status_of(missing) == "traefikpy; detail=only-if-cached"
    assert origin.count("/never") == 0
    cached = await get(rt, "/d", **{"Cache-Control": "only-if-cached"})
    assert cached.status == 200 and "hit" in status_of(cached)


async def test_expiry_then_refetch(rt: RunningApp, origin: Origin) -> None:
    origin.routes["/t"] = fixed(b"t", ("Cache-Control", "max-age=1"))
    await get(rt, "/t")
    assert "hit" in status_of(await get(rt, "/t"))
    await asyncio.sleep(1.05)
    assert status_of(await get(rt, "/t")) == "traefikpy; fwd=stale; stored"
    assert origin.count("/t") == 2
    resp = await get(rt, "/t", **{"Cache-Control": "max-stale"})
    assert "hit" in status_of(resp)


async def test_stale_if_error(rt: RunningApp, origin: Origin) -> None:
    state = {"status": 200}

    def flaky(req: Request) -> Reply:
        if state["status"] != 200:
            return Reply(state["status"], b"broken")
        return Reply(200, b"good", [(b"Cache-Control", b"max-age=0, stale-if-error=60"), (b"ETag", b'"g"')])

    origin.routes["/s"] = flaky
    await get(rt, "/s")
    state["status"] = 503
    resp = await get(rt, "/s")
    assert resp.status == 200 and await resp.read() == b"good"
    assert status_of(resp).startswith("traefikpy; fwd=stale; fwd-status=503; ttl=")
    assert status_of(resp).endswith("; detail=stale-if-error")
    state["status"] = 404  # not an error that stale-if-error covers
    resp = await get(rt, "/s")
    assert resp.status == 404 and await resp.read() == b"broken"


async def test_stale_if_error_when_the_backend_is_down(origin: Origin) -> None:
    origin.routes["/s"] = fixed(b"kept", ("Cache-Control", "max-age=0, stale-if-error=60"), ("ETag", '"k"'))
    origin.routes["/m"] = fixed(b"strict", ("Cache-Control", "max-age=0, must-revalidate"), ("ETag", '"m"'))
    assert origin.server is not None
    async with running_app(config(origin.server.url), middlewares=FACTORIES) as app:
        await get(app, "/s")
        await get(app, "/m")
        # The same cache in front of a service that refuses connections.
        await app.update(config(f"http://127.0.0.1:{free_port()}"))
        kept = await get(app, "/s")
        assert kept.status == 200 and await kept.read() == b"kept"
        assert "detail=stale-if-error" in status_of(kept)
        strict = await get(app, "/m")
        assert strict.status == 504 and "detail=must-revalidate" in status_of(strict)
        # Client-side stale-if-error on a response without it.
        nothing = await get(app, "/m", **{"Cache-Control": "stale-if-error=60"})
        assert nothing.status == 504


async def test_size_limits(origin: Origin) -> None:
    origin.routes["/big"] = fixed(b"x" * 2000, ("Cache-Control", "max-age=60"))
    origin.routes["/small"] = fixed(b"y" * 500, ("Cache-Control", "max-age=60"))
    origin.routes["/chunked-big"] = lambda req: Reply(200, headers=[(b"Cache-Control", b"max-age=60")],
                                                      chunks=[b"z" * 600, b"z" * 600])
    origin.routes["/chunked-small"] = lambda req: Reply(200, headers=[(b"Cache-Control", b"max-age=60")],
                                                        chunks=[b"a" * 300, b"b" * 300])
    assert origin.server is not None
    async with running_app(config(origin.server.url, maxEntrySize=1000, maxSize=4000), middlewares=FACTORIES) as app:
        for path, size in (("/big", 2000), ("/chunked-big", 1200)):
            for _ in range(2):
                resp = await get(app, path)
                assert len(await resp.read()) == size and "hit" not in status_of(resp)
            assert origin.count(path) == 2
        assert status_of(await get(app, "/big")) == "traefikpy; fwd=uri-miss"  # refused by Content-Length
        await get(app, "/chunked-small")
        hit = await get(app, "/chunked-small")
        assert "hit" in status_of(hit) and await hit.read() == b"a" * 300 + b"b" * 300
        assert hit.headers["Content-Length"] == "600"
        # LRU: four entries of ~1 KB do not fit in 4000 bytes with /chunked-small.
        for n in range(4):
            await get(app, f"/small?n={n}")
        assert "hit" not in status_of(await get(app, "/chunked-small"))


async def test_unsafe_methods_invalidate(rt: RunningApp, origin: Origin) -> None:
    origin.routes["/u"] = lambda req: Reply(
        201 if req.method == "POST" else 200, b"u",
        [(b"Cache-Control", b"max-age=60"), (b"Location", b"http://a.test/other")])
    origin.routes["/other"] = fixed(b"o", ("Cache-Control", "max-age=60"))
    await get(rt, "/u")
    await get(rt, "/other")
    post = await get(rt, "/u", "POST")
    assert post.status == 201 and status_of(post) == "traefikpy; fwd=method"
    assert status_of(await get(rt, "/u")).endswith("stored")  # invalidated
    assert status_of(await get(rt, "/other")).endswith("stored")  # named by Location
    opts = await get(rt, "/u", "OPTIONS")
    assert status_of(opts) == "traefikpy; fwd=method"
    assert "hit" in status_of(await get(rt, "/u"))


async def test_purge_requests_and_api(rt: RunningApp, origin: Origin) -> None:
    for path in ("/p/1", "/p/2", "/q"):
        origin.routes[path] = fixed(b"p", ("Cache-Control", "max-age=60"))
        await get(rt, path)
    resp = await get(rt, "/p/1", "PURGE")
    assert resp.status == 200 and await resp.json() == {"purged": 1, "key": "http://a.test/p/1", "prefix": False}
    assert "hit" not in status_of(await get(rt, "/p/1"))
    resp = await get(rt, "/p/*", "PURGE")
    assert (await resp.json())["purged"] == 2
    assert "hit" in status_of(await get(rt, "/q"))
    assert await cache_mw.purge("c@file", "http://a.test/q") == 1
    assert "hit" not in status_of(await get(rt, "/q"))
    assert await cache_mw.purge("c@file", "http://a.test/", prefix=True) == 1  # /q, stored again
    with pytest.raises(LookupError):
        await cache_mw.purge("nope@file", "http://a.test/")
    assert not any(r.method == "PURGE" for r in origin.server.requests)  # type: ignore[union-attr]


async def test_purge_disabled_or_forbidden(origin: Origin) -> None:
    origin.routes["/x"] = fixed(b"x", ("Cache-Control", "max-age=60"))
    assert origin.server is not None
    async with running_app(config(origin.server.url), middlewares=FACTORIES) as app:
        resp = await get(app, "/x", "PURGE")  # not enabled: an ordinary request for the backend
        assert resp.status == 200 and status_of(resp) == "traefikpy; fwd=method"
        assert origin.count("/x", "PURGE") == 1
        await app.update(config(origin.server.url, allowPurge=True, purgeSourceRange=["10.0.0.0/8"]))
        await get(app, "/x")
        assert (await get(app, "/x", "PURGE")).status == 403
        assert "hit" in status_of(await get(app, "/x"))  # the store survived the reload


async def test_bypassed_requests(rt: RunningApp, origin: Origin) -> None:
    origin.routes["/r"] = fixed(b"0123456789", ("Cache-Control", "max-age=60"))
    for headers in ({"Range": "bytes=0-3"}, {"If-Match": '"x"'}, {"If-Unmodified-Since": "Tue, 14 Nov 2023 22:13:20 GMT"}):
        resp = await get(rt, "/r", **headers)
        assert status_of(resp) == "traefikpy; fwd=bypass"
    assert origin.count("/r") == 3
    assert status_of(await get(rt, "/r")) == "traefikpy; fwd=uri-miss; stored"
    assert status_of(await get(rt, "/r", "HEAD")).startswith("traefikpy; hit")


async def test_head_miss_is_forwarded_not_stored(rt: RunningApp, origin: Origin) -> None:
    origin.routes["/h"] = fixed(b"hh", ("Cache-Control", "max-age=60"))
    head = await get(rt, "/h", "HEAD")
    assert head.status == 200 and status_of(head) == "traefikpy; fwd=uri-miss"
    assert status_of(await get(rt, "/h")) == "traefikpy; fwd=uri-miss; stored"
    assert origin.count("/h", "HEAD") == 1 and origin.count("/h", "GET") == 1


async def test_cache_status_header_can_be_disabled(origin: Origin) -> None:
    origin.routes["/z"] = fixed(b"z", ("Cache-Control", "max-age=60"))
    assert origin.server is not None
    async with running_app(config(origin.server.url, disableCacheStatusHeader=True), middlewares=FACTORIES) as app:
        await get(app, "/z")
        resp = await get(app, "/z")
        assert "Cache-Status" not in resp.headers and "Age" in resp.headers
        assert origin.count("/z") == 1


BUILD_ERRORS: list[dict[str, Any]] = [
    {"desc": "entry larger than the store", "options": {"maxSize": 10, "maxEntrySize": 20}, "error": "maxEntrySize"},
    {"desc": "zero size", "options": {"maxSize": 0}, "error": "maxSize"},
    {"desc": "negative maxAge", "options": {"maxAge": "-1s"}, "error": "negative"},
    {"desc": "bad purge range", "options": {"purgeSourceRange": ["nope"]}, "error": "purgeSourceRange"},
    {"desc": "bad redis endpoint", "options": {"store": "redis", "redis": {"endpoints": ["localhost"]}},
     "error": "invalid redis endpoint"},
    {"desc": "redis cluster", "options": {"store": "redis", "redis": {"endpoints": ["a:1", "b:2"]}},
     "error": "one endpoint"},
]


@pytest.mark.parametrize("case", BUILD_ERRORS, ids=[c["desc"] for c in BUILD_ERRORS])
async def test_build_errors(case: dict[str, Any]) -> None:
    async def service(ex: Any) -> None:
        return None

    with pytest.raises(ValueError, match=case["error"]):
        FACTORIES["cache"](Cache.model_validate(case["options"]), service, "c@file", BuildCtx())


async def test_invalid_options_disable_the_router(origin: Origin) -> None:
    assert origin.server is not None
    async with running_app(config(origin.server.url, maxSize=10, maxEntrySize=20), middlewares=FACTORIES) as app:
        assert (await get(app, "/x")).status == 404
        state = app.state("middleware", "c@file")
        assert state.status == "disabled" and "maxEntrySize" in " ".join(state.errors)


async def test_miss_streams_to_the_client_while_storing() -> None:
    release = asyncio.Event()
    served = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        served.append(1)
        writer.write(b"HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"6\r\nfirst \r\n")
        await writer.drain()
        await asyncio.wait_for(release.wait(), 5)  # the rest only once the client saw the first part
        writer.write(b"6\r\nsecond\r\n0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with running_app(config(f"http://127.0.0.1:{port}"), middlewares=FACTORIES) as app:
            async with app.session.get(app.url("/stream"), headers={"Host": "a.test"}) as resp:
                assert await asyncio.wait_for(resp.content.readexactly(6), 5) == b"first "
                release.set()
                assert await resp.content.read() == b"second"
            hit = await get(app, "/stream")
            assert "hit" in status_of(hit) and await hit.read() == b"first second"
            assert len(served) == 1
    finally:
        server.close()
        await server.wait_closed()


async def test_variants_from_an_inner_compress(origin: Origin) -> None:
    from middlewares.compress import FACTORIES as COMPRESS

    origin.routes["/text"] = fixed(b"a" * 4000, ("Cache-Control", "max-age=60"), ("Content-Type", "text/plain"))
    assert origin.server is not None
    cfg = config(origin.server.url)
    cfg["http"]["routers"]["r"]["middlewares"] = ["c", "z"]
    cfg["http"]["middlewares"]["z"] = {"compress": {}}
    async with running_app(cfg, middlewares={**FACTORIES, **COMPRESS}) as app:
        gz = await get(app, "/text", **{"Accept-Encoding": "gzip"})

        assert gz.headers["Content-Encoding"] == "gzip" and "stored" in status_of(gz)
        br = await get(app, "/text", **{"Accept-Encoding": "br"})
        assert br.headers["Content-Encoding"] == "br" and status_of(br) == "traefikpy; fwd=vary-miss; stored"
        again = await get(app, "/text", **{"Accept-Encoding": "gzip"})
        assert "hit" in status_of(again) and again.headers["Content-Encoding"] == "gzip"
        assert await again.read() == await gz.read()
        assert origin.count("/text") == 2


async def test_useless_responses_are_not_stored(origin: Origin) -> None:
    origin.routes["/plain"] = fixed(b"p")  # no freshness, no validators
    origin.routes["/validated"] = fixed(b"v", ("ETag", '"v"'))
    assert origin.server is not None
    async with running_app(config(origin.server.url, maxAge="0s"), middlewares=FACTORIES) as app:
        assert status_of(await get(app, "/plain")) == "traefikpy; fwd=uri-miss"
        assert status_of(await get(app, "/validated")) == "traefikpy; fwd=uri-miss; stored"
        again = await get(app, "/validated")  # stale at once: revalidated (the origin ignores it)
        assert status_of(again) == "traefikpy; fwd=stale; stored"
        assert origin.last("/validated").header("If-None-Match") == '"v"'
        await app.update(config(origin.server.url))  # the 60 s heuristic by default
        await get(app, "/plain")
        assert "hit" in status_of(await get(app, "/plain"))
