"""cache: the RFC 9111 / RFC 9211 rules as tables (directives, storability, freshness, age, what to
do with a stored response, conditionals, Vary, 304 updates) and the memory store (LRU, expiry,
purge)."""

from __future__ import annotations

from typing import Any

import pytest

from middlewares.cache_entry import Entry, build_entry, decide, refreshed, stale_if_error
from middlewares.cache_policy import (
    FRESH,
    STALE_OK,
    VALIDATE,
    cache_status,
    freshness_lifetime,
    initial_age,
    not_modified,
    parse_cache_control,
    request_directives,
    response_directives,
    storable,
    updated_headers,
    variant_id,
    vary_names,
    vary_values,
)
from middlewares.cache_store import MemoryStore
from traefikpy.proxy.http import Headers

T0 = 1_700_000_000.0  # a wall-clock "now" for the tables
DATE = b"Tue, 14 Nov 2023 22:13:20 GMT"  # == T0


def H(*pairs: tuple[str, str]) -> Headers:
    return [(k.encode(), v.encode()) for k, v in pairs]


CC_CASES: list[dict[str, Any]] = [
    {"desc": "bare directives", "lines": [b"no-cache, no-store"], "want": {"no-cache": None, "no-store": None}},
    {"desc": "arguments", "lines": [b"max-age=60, s-maxage=30"], "want": {"max-age": b"60", "s-maxage": b"30"}},
    {"desc": "case-insensitive names", "lines": [b"Max-Age=5, PUBLIC"], "want": {"max-age": b"5", "public": None}},
    {"desc": "quoted argument with comma", "lines": [b'private="Set-Cookie, X-A", max-age=1'],
     "want": {"private": b"Set-Cookie, X-A", "max-age": b"1"}},
    {"desc": "first occurrence wins", "lines": [b"max-age=10", b"max-age=20"], "want": {"max-age": b"10"}},
    {"desc": "spaces and empty items", "lines": [b" ,  max-age = 3 ,,"], "want": {"max-age": b"3"}},
]


@pytest.mark.parametrize("case", CC_CASES, ids=[c["desc"] for c in CC_CASES])
def test_parse_cache_control(case: dict[str, Any]) -> None:
    assert parse_cache_control(case["lines"]) == case["want"]


STORABLE_CASES: list[dict[str, Any]] = [
    {"desc": "200 with max-age", "resp": H(("Cache-Control", "max-age=60")), "want": None},
    {"desc": "200 without freshness (heuristic)", "resp": H(), "want": None},
    {"desc": "302 without freshness", "status": 302, "resp": H(), "want": "status"},
    {"desc": "302 with max-age", "status": 302, "resp": H(("Cache-Control", "max-age=5")), "want": None},
    {"desc": "500 with Expires", "status": 500, "resp": H(("Expires", "Thu, 01 Jan 2099 00:00:00 GMT")), "want": None},
    {"desc": "206 never", "status": 206, "resp": H(("Cache-Control", "max-age=60")), "want": "status"},
    {"desc": "304 never", "status": 304, "resp": H(("Cache-Control", "max-age=60")), "want": "status"},
    {"desc": "no-store", "resp": H(("Cache-Control", "no-store, max-age=60")), "want": "no-store"},
    {"desc": "request no-store", "resp": H(("Cache-Control", "max-age=60")), "req": H(("Cache-Control", "no-store")),
     "want": "request no-store"},
    {"desc": "must-understand on a known status overrides no-store",
     "resp": H(("Cache-Control", "must-understand, no-store, max-age=60")), "want": None},
    {"desc": "private", "resp": H(("Cache-Control", "private, max-age=60")), "want": "private"},
    {"desc": "qualified private is storable", "resp": H(("Cache-Control", 'private="X-User", max-age=60')), "want": None},
    {"desc": "authorization", "resp": H(("Cache-Control", "max-age=60")), "auth": True, "want": "authorization"},
    {"desc": "authorization with public", "resp": H(("Cache-Control", "public, max-age=60")), "auth": True, "want": None},
    {"desc": "authorization with s-maxage", "resp": H(("Cache-Control", "s-maxage=60")), "auth": True, "want": None},
    {"desc": "authorization with must-revalidate", "resp": H(("Cache-Control", "must-revalidate, max-age=9")),
     "auth": True, "want": None},
    {"desc": "vary star", "resp": H(("Cache-Control", "max-age=60"), ("Vary", "*")), "want": "vary *"},
    {"desc": "set-cookie", "resp": H(("Cache-Control", "max-age=60"), ("Set-Cookie", "a=b")), "want": "set-cookie"},
    {"desc": "interim", "status": 103, "resp": H(), "want": "status"},
]


@pytest.mark.parametrize("case", STORABLE_CASES, ids=[c["desc"] for c in STORABLE_CASES])
def test_storable(case: dict[str, Any]) -> None:
    resp = case["resp"]
    got = storable(case.get("status", 200), resp, response_directives(resp), request_directives(case.get("req", [])),
                   case.get("auth", False))
    assert got == case["want"]


LIFETIME_CASES: list[dict[str, Any]] = [
    {"desc": "s-maxage beats max-age", "resp": H(("Cache-Control", "max-age=10, s-maxage=20")), "want": 20},
    {"desc": "max-age beats Expires", "resp": H(("Cache-Control", "max-age=10"), ("Date", DATE.decode()),
                                               ("Expires", "Tue, 14 Nov 2023 23:13:20 GMT")), "want": 10},
    {"desc": "Expires minus Date", "resp": H(("Date", DATE.decode()), ("Expires", "Tue, 14 Nov 2023 22:14:20 GMT")),
     "want": 60},
    {"desc": "Expires without Date uses the response time", "resp": H(("Expires", "Tue, 14 Nov 2023 22:13:50 GMT")),
     "want": 30},
    {"desc": "invalid Expires is stale", "resp": H(("Expires", "0")), "want": 0},
    {"desc": "Expires in the past", "resp": H(("Date", DATE.decode()), ("Expires", "Thu, 01 Jan 1970 00:00:00 GMT")),
     "want": 0},
    {"desc": "invalid max-age is stale", "resp": H(("Cache-Control", "max-age=abc")), "want": 0},
    {"desc": "no-cache is always stale", "resp": H(("Cache-Control", "no-cache, max-age=60")), "want": 0},
    {"desc": "heuristic: 10% of Last-Modified age", "resp": H(("Date", DATE.decode()),
                                                             ("Last-Modified", "Tue, 14 Nov 2023 22:03:20 GMT")),
     "want": 60},
    {"desc": "heuristic capped by maxAge", "resp": H(("Last-Modified", "Thu, 01 Jan 2015 00:00:00 GMT")),
     "heuristic": 30, "want": 30},
    {"desc": "heuristic without Last-Modified is maxAge", "resp": H(), "heuristic": 45, "want": 45},
    {"desc": "heuristic disabled", "resp": H(), "heuristic": 0, "want": 0},
    {"desc": "no heuristic for 302", "status": 302, "resp": H(), "want": 0},
    {"desc": "public allows the heuristic for 302", "status": 302, "resp": H(("Cache-Control", "public")), "want": 120},
]


@pytest.mark.parametrize("case", LIFETIME_CASES, ids=[c["desc"] for c in LIFETIME_CASES])
def test_freshness_lifetime(case: dict[str, Any]) -> None:
    resp = case["resp"]
    got = freshness_lifetime(case.get("status", 200), resp, response_directives(resp), T0, case.get("heuristic", 120))
    assert got == case["want"]


AGE_CASES: list[dict[str, Any]] = [
    {"desc": "no Date, no Age: the response delay", "resp": H(), "req": T0 - 2, "want": 2},
    {"desc": "Age header plus delay", "resp": H(("Age", "30")), "req": T0 - 1, "want": 31},
    {"desc": "apparent age from an old Date", "resp": H(("Date", "Tue, 14 Nov 2023 22:12:20 GMT")), "req": T0, "want": 60},
    {"desc": "Date in the future counts 0", "resp": H(("Date", "Tue, 14 Nov 2023 22:15:20 GMT")), "req": T0, "want": 0},
    {"desc": "invalid Age ignored", "resp": H(("Age", "-5")), "req": T0, "want": 0},
]


@pytest.mark.parametrize("case", AGE_CASES, ids=[c["desc"] for c in AGE_CASES])
def test_initial_age(case: dict[str, Any]) -> None:
    assert initial_age(case["resp"], case["req"], T0) == case["want"]


def entry(cc: str = "max-age=60", *, age: float = 0, extra: Headers | None = None, status: int = 200,
          body: bytes = b"hello") -> Entry:
    headers = H(("Cache-Control", cc), ("ETag", '"v1"'), ("Date", DATE.decode())) + (extra or [])
    if age:
        headers.append((b"Age", b"%d" % age))
    return build_entry(key="http://a.test/x", variant="", vary=(), vary_values=b"", status=status, headers=headers,
                       body=body, request_time=T0, response_time=T0, heuristic_max=60)


DECIDE_CASES: list[dict[str, Any]] = [
    {"desc": "fresh", "cc": "max-age=60", "after": 10, "want": (FRESH, "")},
    {"desc": "stale", "cc": "max-age=60", "after": 61, "want": (VALIDATE, "stale")},
    {"desc": "upstream Age counts", "cc": "max-age=60", "age": 55, "after": 10, "want": (VALIDATE, "stale")},
    {"desc": "request no-cache on fresh", "cc": "max-age=60", "after": 1, "req": "no-cache", "want": (VALIDATE, "request")},
    {"desc": "Pragma no-cache", "cc": "max-age=60", "after": 1, "pragma": True, "want": (VALIDATE, "request")},
    {"desc": "request max-age older", "cc": "max-age=60", "after": 20, "req": "max-age=10", "want": (VALIDATE, "request")},
    {"desc": "request max-age=0", "cc": "max-age=60", "after": 1, "req": "max-age=0", "want": (VALIDATE, "request")},
    {"desc": "request max-age younger", "cc": "max-age=60", "after": 5, "req": "max-age=10", "want": (FRESH, "")},
    {"desc": "min-fresh not met", "cc": "max-age=60", "after": 50, "req": "min-fresh=20", "want": (VALIDATE, "request")},
    {"desc": "min-fresh met", "cc": "max-age=60", "after": 30, "req": "min-fresh=20", "want": (FRESH, "")},
    {"desc": "max-stale within", "cc": "max-age=60", "after": 70, "req": "max-stale=20", "want": (STALE_OK, "")},
    {"desc": "max-stale exceeded", "cc": "max-age=60", "after": 90, "req": "max-stale=20", "want": (VALIDATE, "stale")},
    {"desc": "max-stale without value", "cc": "max-age=60", "after": 9999, "req": "max-stale", "want": (STALE_OK, "")},
    {"desc": "must-revalidate ignores max-stale", "cc": "max-age=60, must-revalidate", "after": 70,
     "req": "max-stale", "want": (VALIDATE, "stale")},
    {"desc": "s-maxage ignores max-stale", "cc": "s-maxage=60", "after": 70, "req": "max-stale", "want": (VALIDATE, "stale")},
    {"desc": "response no-cache always validates", "cc": "no-cache", "after": 0, "want": (VALIDATE, "stale")},
]


@pytest.mark.parametrize("case", DECIDE_CASES, ids=[c["desc"] for c in DECIDE_CASES])
def test_decide(case: dict[str, Any]) -> None:
    req: Headers = H(("Cache-Control", case["req"])) if "req" in case else []
    if case.get("pragma"):
        req.append((b"Pragma", b"no-cache"))
    e = entry(case["cc"], age=case.get("age", 0))
    assert decide(e, request_directives(req), T0 + case["after"]) == case["want"]


SIE_CASES: list[dict[str, Any]] = [
    {"desc": "no directive", "cc": "max-age=1", "after": 5, "want": False},
    {"desc": "response window", "cc": "max-age=1, stale-if-error=60", "after": 30, "want": True},
    {"desc": "response window exceeded", "cc": "max-age=1, stale-if-error=10", "after": 30, "want": False},
    {"desc": "request window", "cc": "max-age=1", "req": "stale-if-error=100", "after": 30, "want": True},
    {"desc": "must-revalidate forbids", "cc": "max-age=1, must-revalidate, stale-if-error=60", "after": 5, "want": False},
]


@pytest.mark.parametrize("case", SIE_CASES, ids=[c["desc"] for c in SIE_CASES])
def test_stale_if_error(case: dict[str, Any]) -> None:
    req: Headers = H(("Cache-Control", case["req"])) if "req" in case else []
    assert stale_if_error(entry(case["cc"]), request_directives(req), T0 + case["after"]) is case["want"]


COND_CASES: list[dict[str, Any]] = [
    {"desc": "matching etag", "req": H(("If-None-Match", '"v1"')), "want": True},
    {"desc": "weak comparison", "req": H(("If-None-Match", 'W/"v1"')), "want": True},
    {"desc": "one of a list", "req": H(("If-None-Match", '"a", "v1"')), "want": True},
    {"desc": "star", "req": H(("If-None-Match", "*")), "want": True},
    {"desc": "other etag", "req": H(("If-None-Match", '"v2"')), "want": False},
    {"desc": "If-None-Match beats If-Modified-Since", "req": H(("If-None-Match", '"v2"'),
                                                             ("If-Modified-Since", "Wed, 15 Nov 2023 00:00:00 GMT")),
     "want": False},
    {"desc": "not modified since", "req": H(("If-Modified-Since", "Tue, 14 Nov 2023 22:13:20 GMT")), "want": True},
    {"desc": "modified since", "req": H(("If-Modified-Since", "Tue, 14 Nov 2023 22:00:00 GMT")), "want": False},
    {"desc": "Last-Modified preferred to Date", "req": H(("If-Modified-Since", "Tue, 14 Nov 2023 20:00:00 GMT")),
     "lm": b"Tue, 14 Nov 2023 19:00:00 GMT", "want": True},
    {"desc": "invalid date", "req": H(("If-Modified-Since", "yesterday")), "want": False},
    {"desc": "no conditionals", "req": H(), "want": False},
]


@pytest.mark.parametrize("case", COND_CASES, ids=[c["desc"] for c in COND_CASES])
def test_not_modified(case: dict[str, Any]) -> None:
    assert not_modified(case["req"], b'"v1"', case.get("lm"), DATE) is case["want"]


def test_vary_names_and_values() -> None:
    assert vary_names(H(("Vary", "Accept-Encoding, accept-language"), ("Vary", "X-A"))) == (
        b"accept-encoding", b"accept-language", b"x-a")
    assert vary_names(H(("Vary", "Accept, *"))) is None
    assert vary_names(H()) == ()
    names = (b"accept-encoding", b"x-a")
    one = vary_values(H(("Accept-Encoding", "gzip, br")), names)
    assert one == vary_values(H(("accept-encoding", "gzip,br")), names)  # whitespace normalised
    assert one == vary_values(H(("Accept-Encoding", "gzip"), ("Accept-Encoding", " br")), names)  # lines combined
    assert one != vary_values(H(("Accept-Encoding", "br, gzip")), names)
    assert vary_values(H(("X-A", "")), names) != vary_values(H(), names)  # empty differs from absent
    assert variant_id(b"") == "" and len(variant_id(one)) == 20


def test_updated_headers_keep_body_fields() -> None:
    stored = H(("Content-Length", "5"), ("ETag", '"v1"'), ("X-A", "old"), ("X-B", "b"))
    fresh = H(("Content-Length", "0"), ("ETag", '"v1"'), ("X-A", "new"), ("X-C", "c"))
    got = dict(updated_headers(stored, fresh))
    assert got == {b"Content-Length": b"5", b"ETag": b'"v1"', b"X-A": b"new", b"X-B": b"b", b"X-C": b"c"}


def test_refreshed_restarts_freshness_and_strips_fields() -> None:
    e = entry("max-age=10", extra=H(("X-User", "alice")))
    assert e.ttl(T0 + 20) < 0
    new = refreshed(e, H(("Cache-Control", 'max-age=100, private="X-User"'), ("Age", "3")), T0 + 20, T0 + 20, 60)
    assert new.body == b"hello" and new.ttl(T0 + 20) == 97
    assert all(k.lower() not in (b"x-user", b"age") for k, _ in new.headers)


def test_entry_stores_length_and_strips_qualified_fields() -> None:
    e = entry('max-age=60, no-cache="X-Secret"', extra=H(("X-Secret", "s"), ("Content-Length", "999")))
    assert (b"Content-Length", b"5") in e.headers
    assert all(k != b"X-Secret" for k, _ in e.headers)
    assert e.lifetime == 60  # a qualified no-cache only strips its fields


def test_entry_round_trip() -> None:
    e = entry("max-age=60, stale-if-error=30", body=b"\x00\n\xffbinary")
    back = Entry.from_bytes(e.to_bytes())
    assert [getattr(back, s) for s in Entry.__slots__] == [getattr(e, s) for s in Entry.__slots__]
    with pytest.raises(ValueError):
        Entry.from_bytes(b"garbage")


STATUS_CASES: list[dict[str, Any]] = [
    {"desc": "hit", "args": {"hit": True, "ttl": 41.7}, "want": b"traefikpy; hit; ttl=41"},
    {"desc": "stale hit", "args": {"hit": True, "ttl": -3.2}, "want": b"traefikpy; hit; ttl=-3"},
    {"desc": "miss stored", "args": {"fwd": "uri-miss", "stored": True}, "want": b"traefikpy; fwd=uri-miss; stored"},
    {"desc": "revalidated", "args": {"fwd": "stale", "fwd_status": 304, "ttl": 60},
     "want": b"traefikpy; fwd=stale; fwd-status=304; ttl=60"},
    {"desc": "detail", "args": {"detail": "only-if-cached"}, "want": b"traefikpy; detail=only-if-cached"},
]


@pytest.mark.parametrize("case", STATUS_CASES, ids=[c["desc"] for c in STATUS_CASES])
def test_cache_status(case: dict[str, Any]) -> None:
    assert cache_status(b"traefikpy", **case["args"]) == case["want"]


def _e(key: str, variant: str = "", size: int = 100) -> Entry:
    return build_entry(key=key, variant=variant, vary=(b"x",) if variant else (), vary_values=variant.encode(),
                       status=200, headers=H(("Cache-Control", "max-age=60")), body=b"x" * size,
                       request_time=T0, response_time=T0, heuristic_max=0)


async def test_memory_store_lru_eviction() -> None:
    size = _e("http://a/1").size
    store = MemoryStore(size * 3)
    for n in (1, 2, 3):
        await store.put(_e(f"http://a/{n}"), T0 + 100, T0)
    assert await store.get("http://a/1", "", T0) is not None  # 1 is now the most recently used
    await store.put(_e("http://a/4"), T0 + 100, T0)
    assert await store.keys() == ["http://a/1", "http://a/3", "http://a/4"]
    assert store.total == size * 3
    await store.put(_e("http://a/big", size=size * 4), T0 + 100, T0)  # larger than the store: ignored
    assert await store.keys() == ["http://a/1", "http://a/3", "http://a/4"]


async def test_memory_store_expiry_variants_and_purge() -> None:
    store = MemoryStore(1 << 20)
    await store.put(_e("http://a/x", "gzip"), T0 + 10, T0)
    await store.put(_e("http://a/x", "br"), T0 + 10, T0)
    await store.put(_e("http://a/xy"), T0 + 10, T0)
    await store.put(_e("http://a/old"), T0 + 1, T0)
    assert await store.vary("http://a/x", T0) == (b"x",)
    assert (await store.get("http://a/x", "br", T0)) is not None
    assert await store.get("http://a/old", "", T0 + 2) is None  # expired
    assert await store.keys() == ["http://a/x", "http://a/xy"]
    assert await store.purge("http://a/x") == 2
    assert await store.vary("http://a/x", T0) is None
    await store.put(_e("http://a/x"), T0 + 10, T0)
    assert await store.purge("http://a/x", prefix=True) == 2
    assert await store.keys() == [] and store.total == 0
    await store.put(_e("http://a/gone"), T0, T0)  # already expired: not stored
    assert await store.keys() == []
