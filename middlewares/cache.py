"""The ``cache`` middleware (traefikpy addition): a shared HTTP cache (RFC 9111) in front of a
service, with ``Cache-Status`` (RFC 9211) and purging.

Theory of operation
-------------------
Requests are keyed by ``scheme://host/path?query`` as they leave the middleware chain for the
service; variants by the request headers the response's ``Vary`` names (:mod:`cache_store`).

* ``GET``/``HEAD`` look the key up.  A fresh entry (or a stale one the client accepts with
  ``max-stale``) is answered from the store without touching the service (a 304 when the
  client's ``If-None-Match``/``If-Modified-Since`` match), with ``Age`` and ``Cache-Status:
  traefikpy; hit; ttl=<seconds left>``.
* Otherwise a ``GET`` goes to the service: with the entry's validators when a stale entry has
  some (a ``304`` refreshes the entry's headers and the client gets the entry, ``fwd=stale;
  fwd-status=304``), else without the client's own conditionals so that a full response can be
  stored (the client still gets a 304 when its conditionals match).  The response streams to
  the client while it is copied (up to ``maxEntrySize``) and is stored at its end when RFC 9111
  allows it (:func:`~middlewares.cache_policy.storable`).  A ``HEAD`` miss is only forwarded.
* ``stale-if-error`` (response or request) serves a stale entry when the service fails or
  answers 500/502/503/504; a ``must-revalidate`` entry whose revalidation fails gets 504.
  ``only-if-cached`` without a usable entry gets 504.
* Requests the cache does not handle go through with ``Cache-Status: traefikpy; fwd=bypass``
  (``Range``, ``If-Match``, ``If-Unmodified-Since``, ``If-Range``, upgrades) or ``fwd=method``.
  A 2xx/3xx answer to an unsafe method (POST, PUT, DELETE, PATCH...) purges its URL and the
  same-host ``Location``/``Content-Location`` (RFC 9111 §4.4).
* ``PURGE`` (when ``allowPurge``; from ``purgeSourceRange``) drops the URL's entries, or every
  URL starting with it when the path ends with ``*``; :func:`purge` does the same from Python.

A failing store (Redis down) turns lookups into misses and skips storing; the service answers.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Final
from urllib.parse import urlsplit

from middlewares import shared
from middlewares.cache_entry import Entry, decide, stale_if_error
from middlewares.cache_policy import (
    VALIDATE,
    RequestDirectives,
    cache_status,
    request_directives,
    variant_id,
    vary_values,
)
from middlewares.cache_store import MemoryStore, RedisStore, Store, StoreError, redis_client
from middlewares.cache_writer import CACHE_STATUS, StoringWriter, serve
from middlewares.interceptor import scope
from traefikpy.config.middleware_options import Cache, CacheRedis
from traefikpy.proxy.errors import NoHealthyServer, ProxyError, UpstreamError
from traefikpy.proxy.http import (
    BuildContext,
    Exchange,
    Handler,
    Headers,
    MiddlewareFactory,
    ResponseHook,
)
from traefikpy.proxy.ipcheck import IPChecker

log = logging.getLogger("traefikpy.middlewares.cache")

CACHE_NAME: Final = b"traefikpy"
_CACHEABLE: Final = frozenset({b"GET", b"HEAD"})
_SAFE: Final = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE"})
_BYPASS: Final = frozenset({b"range", b"if-range", b"if-match", b"if-unmodified-since"})
_CONDITIONAL: Final = frozenset({b"if-none-match", b"if-modified-since"})
_ERROR_LOG_EVERY: Final = 10.0

_STORES: dict[str, Store] = {}
"""The live store of each cache middleware by qualified name (for :func:`purge`)."""


async def purge(middleware: str, key: str, *, prefix: bool = False) -> int:
    """Drop the cached responses of ``key`` (``scheme://host/path?query``), or of every key that
    starts with it when ``prefix``, from the cache middleware ``middleware`` (qualified name,
    ``"cache@file"``).  Returns how many entries went; raises LookupError for an unknown name."""
    store = _STORES.get(middleware)
    if store is None:
        raise LookupError(f"no cache middleware named {middleware!r}")
    return await store.purge(key, prefix)


def _status_hook(value: bytes) -> ResponseHook:
    def hook(status: int, headers: Headers) -> int:
        headers.append((CACHE_STATUS, value))
        return status

    return hook


def _no_hook(status: int, headers: Headers) -> int:
    return status


class CacheHandler:
    __slots__ = ("name", "next", "store", "max_entry", "heuristic", "keep_stale", "status_header",
                 "allow_purge", "purge_from", "_marks", "_last_error", "__weakref__")

    def __init__(self, name: str, next_handler: Handler, store: Store, options: Cache, purge_from: IPChecker) -> None:
        self.name = name
        self.next = next_handler
        self.store = store
        self.max_entry = options.max_entry_size
        self.heuristic = options.max_age
        self.keep_stale = options.keep_stale
        self.status_header = not options.disable_cache_status_header
        self.allow_purge = options.allow_purge
        self.purge_from = purge_from
        marks = ("bypass", "method", "uri-miss", "vary-miss", "miss", "stale", "request")
        self._marks: dict[str, ResponseHook] = {
            fwd: _status_hook(cache_status(CACHE_NAME, fwd=fwd)) if self.status_header else _no_hook for fwd in marks
        }
        self._last_error = 0.0

    @staticmethod
    def key(ex: Exchange) -> str:
        return f"{ex.scheme}://{ex.host}{ex.target.decode('latin-1')}"

    def status_value(self, *, hit: bool = False, fwd: str | None = None, fwd_status: int | None = None,
                     stored: bool = False, ttl: float | None = None, detail: str | None = None) -> bytes | None:
        if not self.status_header:
            return None
        return cache_status(CACHE_NAME, hit=hit, fwd=fwd, fwd_status=fwd_status, stored=stored, ttl=ttl, detail=detail)

    def store_failed(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last_error >= _ERROR_LOG_EVERY:
            self._last_error = now
            log.warning("cache %s: store unavailable, serving without it: %s", self.name, exc)

    # -- request paths -------------------------------------------------------------------------
    async def __call__(self, ex: Exchange) -> None:
        method = ex.method
        if method not in _CACHEABLE:
            await self._other(ex)
            return
        if ex.upgrade or any(k.lower() in _BYPASS for k, _ in ex.headers):
            ex.on_response(self._marks["bypass"])
            await self.next(ex)
            return
        now = time.time()
        req = request_directives(ex.headers)
        key = self.key(ex)
        entry, fwd = await self._lookup(ex, key, now)
        if entry is not None:
            action, reason = decide(entry, req, now)
            if action != VALIDATE:
                ttl = entry.ttl(now)
                await serve(ex, ex.send_head, ex.writer, entry, now, ex.headers,
                            self.status_value(hit=True, ttl=ttl), end=True)
                return
            fwd = reason
        if req.only_if_cached:
            value = self.status_value(detail="only-if-cached")
            await ex.respond(504, b"Gateway Timeout", [(CACHE_STATUS, value)] if value else None)
            return
        if method != b"GET":
            ex.on_response(self._marks[fwd])
            await self.next(ex)
            return
        await self._fetch(ex, key, req, entry, fwd, now)

    async def _lookup(self, ex: Exchange, key: str, now: float) -> tuple[Entry | None, str]:
        try:
            names = await self.store.vary(key, now)
            if names is None:
                return None, "uri-miss"
            values = vary_values(ex.headers, names)
            entry = await self.store.get(key, variant_id(values), now)
        except StoreError as exc:
            self.store_failed(exc)
            return None, "miss"
        if entry is None or entry.vary_values != values:
            return None, "vary-miss" if names else "uri-miss"
        return entry, ""

    async def _fetch(self, ex: Exchange, key: str, req: RequestDirectives, entry: Entry | None, fwd: str,
                     now: float) -> None:
        # The service gets the cache's validators, not the client's: the request headers are
        # swapped for this call and restored after it (an outer retry replays the original).
        original = ex.headers
        conditionals = [(k, v) for k, v in original if k.lower() in _CONDITIONAL]
        validating = entry if entry is not None and entry.has_validators else None
        if conditionals or validating is not None:
            ex.headers = [(k, v) for k, v in original if k.lower() not in _CONDITIONAL]
            if validating is not None:
                if validating.etag is not None:
                    ex.headers.append((b"If-None-Match", validating.etag))
                if validating.last_modified is not None:
                    ex.headers.append((b"If-Modified-Since", validating.last_modified))
        authorized = ex.header(b"authorization") is not None
        client = ex.writer
        outer = scope(ex)
        writer = StoringWriter(client, ex, outer, self, key, req, entry, validating is not None, conditionals,
                                now, fwd, authorized, original)
        ex.writer = writer
        try:
            await self.next(ex)
        except ProxyError as exc:
            ex.writer = client
            ex.response_hooks = outer
            ex.headers = original
            if writer.answered:
                # The client already has its whole answer; only a copy still in progress is lost
                # (a 304's refreshed entry is complete and still stored).
                log.debug("cache %s: response after the client's answer failed: %s", self.name, exc)
                await writer.finish()
                return
            if writer.started or entry is None or not isinstance(exc, UpstreamError | NoHealthyServer):
                raise
            later = time.time()
            if stale_if_error(entry, req, later):
                await serve(ex, ex.send_head, client, entry, later, conditionals,
                            self.status_value(fwd="stale", detail="stale-if-error", ttl=entry.ttl(later)), end=True)
                return
            if entry.must_revalidate:
                value = self.status_value(fwd="stale", detail="must-revalidate")
                await ex.respond(504, b"Gateway Timeout", [(CACHE_STATUS, value)] if value else None)
                return
            raise
        finally:
            ex.writer = client
            ex.response_hooks = outer
            ex.headers = original
        await writer.finish()

    async def _other(self, ex: Exchange) -> None:
        method = ex.method
        if method == b"PURGE" and self.allow_purge:
            await self._purge_request(ex)
            return
        if method in _SAFE:
            ex.on_response(self._marks["method"])
            await self.next(ex)
            return
        # An unsafe method that succeeds invalidates what the cache holds for its URL and the
        # same-host URLs its Location / Content-Location name (RFC 9111 §4.4).
        key = self.key(ex)
        targets = [key]
        mark = self._marks["method"]

        def invalidate(status: int, headers: Headers) -> int:
            if 200 <= status < 400:
                for name, value in headers:
                    if name.lower() in (b"location", b"content-location"):
                        other = same_origin_key(ex, value)
                        if other is not None:
                            targets.append(other)
            return mark(status, headers)

        ex.on_response(invalidate)
        await self.next(ex)
        if 200 <= ex.status < 400:
            try:
                for target in dict.fromkeys(targets):
                    await self.store.purge(target)
            except StoreError as exc:
                self.store_failed(exc)

    async def _purge_request(self, ex: Exchange) -> None:
        if self.purge_from and not self.purge_from.contains(ex.client_ip):
            await ex.respond(403, b"Forbidden")
            return
        prefix = not ex.query and ex.raw_path.endswith(b"*")
        key = self.key(ex)
        if prefix:
            key = key[:-1]
        try:
            count = await self.store.purge(key, prefix)
        except StoreError as exc:
            self.store_failed(exc)
            await ex.respond(503, b"cache store unavailable\n")
            return
        body = json.dumps({"purged": count, "key": key, "prefix": prefix}).encode() + b"\n"
        await ex.respond(200, body, content_type=b"application/json")

    def __repr__(self) -> str:
        return f"<Cache {self.name} {self.store!r} maxEntrySize={self.max_entry}>"


def same_origin_key(ex: Exchange, location: bytes) -> str | None:
    """The cache key of a ``Location``-like value when it names the request's host, else None."""
    try:
        parts = urlsplit(location.decode("latin-1").strip())
    except ValueError:
        return None
    if parts.netloc and (parts.hostname or "").lower() != ex.host:
        return None
    if parts.scheme and parts.scheme.lower() != ex.scheme:
        return None
    path = parts.path or "/"
    if not path.startswith("/"):
        return None  # relative references: not worth resolving against the request path
    return f"{ex.scheme}://{ex.host}{path}" + (f"?{parts.query}" if parts.query else "")


def _redis_endpoint(redis: CacheRedis) -> str:
    endpoints = [e.strip() for e in redis.endpoints if e.strip()] or ["localhost:6379"]
    if len(endpoints) > 1:
        raise ValueError("the cache's Redis store takes one endpoint (Redis Cluster is not supported)")
    host, sep, port = endpoints[0].rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"invalid redis endpoint {endpoints[0]!r}: host:port expected")
    return endpoints[0]


def _store_for(options: Cache, name: str) -> Store:
    if options.store == "redis":
        redis = options.redis or CacheRedis()
        client = redis_client(_redis_endpoint(redis), db=redis.db, username=redis.username,
                              password=redis.password, dial_timeout=redis.dial_timeout,
                              read_timeout=redis.read_timeout)
        return RedisStore(client, name, options.max_size)
    return MemoryStore(options.max_size)


def build_cache(options: Cache, next_handler: Handler, name: str, ctx: BuildContext) -> Handler:
    if options.max_size <= 0:
        raise ValueError("maxSize must be positive")
    if options.max_entry_size <= 0 or options.max_entry_size > options.max_size:
        raise ValueError(f"maxEntrySize must be positive and at most maxSize ({options.max_size})")
    if options.max_age < 0 or options.keep_stale < 0:
        raise ValueError("maxAge and keepStale cannot be negative")
    try:
        purge_from = IPChecker(options.purge_source_range)
    except ValueError as exc:
        raise ValueError(f"purgeSourceRange: {str(exc).replace('trusted ', '')}") from None
    settings = ""
    if options.store == "redis":
        redis = options.redis or CacheRedis()
        _redis_endpoint(redis)  # a bad endpoint disables the middleware at build time
        settings = redis.model_dump_json()
    shared_key = ("cache", name, options.store, settings)

    def create() -> Store:
        store = _store_for(options, name)
        _STORES[name] = store
        return store

    async def close(store: Store) -> None:
        if _STORES.get(name) is store:
            del _STORES[name]
        await store.close()

    store, bind = shared.acquire(ctx, shared_key, create, close)
    # A reload that only changes maxSize keeps the entries.
    if isinstance(store, MemoryStore | RedisStore) and store.max_size != options.max_size:
        store.max_size = options.max_size
        if isinstance(store, MemoryStore):
            store.evict()
    _STORES[name] = store
    handler = CacheHandler(name, next_handler, store, options, purge_from)
    bind(handler)
    return handler


FACTORIES: dict[str, MiddlewareFactory] = {"cache": build_cache}

__all__ = ["CACHE_NAME", "FACTORIES", "CacheHandler", "build_cache", "purge", "same_origin_key", "serve"]
