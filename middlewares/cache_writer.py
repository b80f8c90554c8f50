"""The response side of the ``cache`` middleware: answering from an entry (:func:`serve`) and the
writer that streams a forwarded response to the client while copying it for the store
(:class:`StoringWriter`).

The writer sits between the service and the client's writer (outer hooks scoped as in
:mod:`middlewares.interceptor`).  At the final head it decides, once:

* a revalidation answered ``304``: the entry is refreshed and the client gets it (the rest of
  the upstream response is swallowed);
* a stale entry may answer an upstream error (``stale-if-error``): the client gets the entry;
* otherwise the response passes, gaining ``Cache-Status``; when it is storable and not larger than
  ``maxEntrySize`` its body is copied as it streams; when the client's conditionals (held back
  to fill the cache) match, the client gets a 304 while the body still feeds the copy.

:meth:`StoringWriter.finish` stores the entry after the client's response ended.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final

from middlewares.cache_entry import Entry, build_entry, refreshed, stale_if_error
from middlewares.cache_policy import (
    ERROR_STATUSES,
    RequestDirectives,
    freshness_lifetime,
    header,
    not_modified,
    not_modified_headers,
    response_directives,
    storable,
    variant_id,
    vary_names,
    vary_values,
)
from middlewares.cache_store import StoreError
from middlewares.interceptor import Interceptor
from traefikpy.proxy.http import Exchange, Headers, ResponseHook, ResponseWriter

if TYPE_CHECKING:
    from middlewares.cache import CacheHandler

CACHE_STATUS: Final = b"Cache-Status"
_NO_BODY: Final = frozenset({204, 304})

SendHead = Callable[[int, Headers], Awaitable[None]]


async def serve(
    ex: Exchange,
    send_head: SendHead,
    writer: ResponseWriter,
    entry: Entry,
    now: float,
    conditionals: Headers,
    status_value: bytes | None,
    *,
    end: bool,
) -> None:
    """Answer ``ex`` from ``entry``: a 304 when the client's conditionals match, else the stored
    response (no body for HEAD), with ``Age`` and ``Cache-Status``."""
    headers = list(entry.headers)
    status = entry.status
    if status == 200 and conditionals and not_modified(conditionals, entry.etag, entry.last_modified, entry.date):
        status = 304
        headers = not_modified_headers(headers)
    headers.append((b"Age", b"%d" % int(entry.age(now))))
    if status_value is not None:
        headers.append((CACHE_STATUS, status_value))
    await send_head(status, headers)
    if entry.body and status not in _NO_BODY and ex.method != b"HEAD":
        await writer.send_body(entry.body)
    if end:
        await writer.end(None)


_PASS: Final = 0  # the response goes to the client as it comes
_SWALLOW: Final = 1  # the client already has its answer: the rest of the response is not sent


class StoringWriter(Interceptor):
    """Streams a forwarded response to the client while keeping a copy to store; answers a
    revalidation's 304 (or a stale-if-error) from the stored entry."""

    __slots__ = ("cache", "key", "req", "entry", "validating", "conditionals", "request_time", "fwd",
                 "authorized", "request_headers", "mode", "started", "answered", "chunks", "size", "copying",
                 "head", "result", "result_drop")

    def __init__(self, inner: ResponseWriter, ex: Exchange, outer: list[ResponseHook] | None, cache: CacheHandler,
                 key: str, req: RequestDirectives, entry: Entry | None, validating: bool,
                 conditionals: Headers, request_time: float, fwd: str, authorized: bool,
                 request_headers: Headers) -> None:
        super().__init__(inner, ex, outer)
        self.cache = cache
        self.key = key
        self.req = req
        self.entry = entry
        self.validating = validating
        self.conditionals = conditionals
        self.request_time = request_time
        self.fwd = fwd
        self.authorized = authorized
        self.request_headers = request_headers  # as the client sent them (Vary values)
        self.mode = _PASS
        self.started = False  # a final head reached this writer
        self.answered = False  # the client's response ended (what follows only feeds the store)
        self.chunks: list[bytes] = []
        self.size = 0
        self.copying = False
        self.head: tuple[int, Headers, float] | None = None
        self.result: Entry | None = None  # an entry to store once the response ended
        self.result_drop = False

    async def send_head(self, status: int, headers: Headers, reason: bytes | None = None) -> None:
        if status < 200:
            await self.emit_head(status, headers, reason)  # interim responses pass
            return
        self.started = True
        cache = self.cache
        now = time.time()
        entry = self.entry
        if entry is not None and status == 304 and self.validating:
            fresh = refreshed(entry, headers, self.request_time, now, cache.heuristic)
            self.result = fresh
            self.mode = _SWALLOW
            await serve(self.ex, self.emit_head, self.inner, fresh, now, self.conditionals,
                        cache.status_value(fwd="stale", fwd_status=304, ttl=fresh.ttl(now)), end=True)
            self.answered = True
            return
        if entry is not None and status in ERROR_STATUSES and stale_if_error(entry, self.req, now):
            self.mode = _SWALLOW
            await serve(self.ex, self.emit_head, self.inner, entry, now, self.conditionals,
                        cache.status_value(fwd="stale", fwd_status=status, detail="stale-if-error",
                                           ttl=entry.ttl(now)), end=True)
            self.answered = True
            return
        directives = response_directives(headers)
        problem = storable(status, headers, directives, self.req, self.authorized)
        if problem is None and (
            freshness_lifetime(status, headers, directives, now, cache.heuristic) <= 0
            and header(headers, b"etag") is None and header(headers, b"last-modified") is None
        ):
            problem = "useless"  # stale at once and nothing to revalidate it with
        if problem is None:
            length = header(headers, b"content-length")
            if length is not None and (not length.isdigit() or int(length) > cache.max_entry):
                problem = "size"
        if problem is None and not cache.store.available:
            problem = "store unavailable"
        if problem is None:
            self.copying = True
            self.head = (status, list(headers), now)
        elif entry is not None and status < 500:
            self.result_drop = True  # the origin's new answer must not be shadowed by the old one
        value = cache.status_value(fwd=self.fwd or "miss", fwd_status=status if status != 200 else None,
                                   stored=self.copying)
        etag = header(headers, b"etag")
        if status == 200 and self.conditionals and not_modified(
            self.conditionals, etag, header(headers, b"last-modified"), header(headers, b"date")
        ):
            # The client's conditionals were held back to fill the cache: answer them here.
            self.mode = _SWALLOW
            short = not_modified_headers(headers)
            if value is not None:
                short.append((CACHE_STATUS, value))
            await self.emit_head(304, short)
            await self.inner.end(None)
            self.answered = True
            return
        if value is not None:
            headers.append((CACHE_STATUS, value))
        await self.emit_head(status, headers, reason)

    async def send_body(self, data: bytes) -> None:
        if self.copying and data:
            self.size += len(data)
            if self.size > self.cache.max_entry:
                self.copying = False
                self.chunks = []
            else:
                self.chunks.append(data)
        if self.mode == _PASS:
            await self.inner.send_body(data)

    async def end(self, trailers: Headers | None = None) -> None:
        if self.mode == _PASS:
            await self.inner.end(trailers)
            self.answered = True
        if trailers:
            self.copying = False  # trailers are not stored: such responses are not cached
        if self.copying and self.head is not None:
            status, headers, response_time = self.head
            names = vary_names(headers) or ()
            values = vary_values(self.request_headers, names)
            self.result = build_entry(
                key=self.key, variant=variant_id(values), vary=names, vary_values=values, status=status,
                headers=headers, body=b"".join(self.chunks), request_time=self.request_time,
                response_time=response_time, heuristic_max=self.cache.heuristic,
            )
        self.chunks = []

    async def finish(self) -> None:
        """After the response: store what ``end`` prepared, or drop what it superseded."""
        cache = self.cache
        try:
            if self.result is not None:
                now = time.time()
                await cache.store.put(self.result, self.result.expires_at(cache.keep_stale), now)
            elif self.result_drop:
                await cache.store.purge(self.key)
        except StoreError as exc:
            cache.store_failed(exc)
