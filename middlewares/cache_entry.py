"""A stored response of the ``cache`` middleware (:class:`Entry`) and the decisions made with it.

An entry is immutable once built: a ``304`` revalidation builds a new one (:func:`refreshed`), so
the memory store can hand the same object to concurrent requests.  Everything the hit path needs
is computed when the entry is built (freshness lifetime, initial age, validators, size), and
:meth:`Entry.to_bytes` / :meth:`Entry.from_bytes` carry it through Redis.
"""

from __future__ import annotations

import json
from typing import Any, Final

from middlewares.cache_policy import (
    FRESH,
    STALE_OK,
    VALIDATE,
    RequestDirectives,
    freshness_lifetime,
    header,
    initial_age,
    response_directives,
    updated_headers,
)
from traefikpy.proxy.http import Headers

_OVERHEAD: Final = 256  # bytes counted per entry beyond its body and headers (object, key, index)
_NO_BODY_STATUSES: Final = frozenset({204, 304})
# Recomputed when the entry is served (Age) or stored (the body's own length, no chunking).
_NOT_STORED: Final = frozenset({b"age", b"content-length", b"transfer-encoding"})


class Entry:
    """One stored response: the head as the inner chain produced it (``Age`` removed,
    ``Content-Length`` set), the body, and freshness facts computed when it arrived."""

    __slots__ = ("key", "variant", "vary", "vary_values", "status", "headers", "body", "response_time",
                 "initial_age", "lifetime", "must_revalidate", "stale_if_error", "etag", "last_modified",
                 "date", "size")

    def __init__(
        self,
        *,
        key: str,
        variant: str,
        vary: tuple[bytes, ...],
        vary_values: bytes,
        status: int,
        headers: Headers,
        body: bytes,
        response_time: float,
        initial_age: float,
        lifetime: float,
        must_revalidate: bool,
        stale_if_error: int | None,
    ) -> None:
        self.key = key  # primary key: scheme://host/path?query
        self.variant = variant  # variant id (hash of vary_values), "" without Vary
        self.vary = vary
        self.vary_values = vary_values
        self.status = status
        self.headers = headers
        self.body = body
        self.response_time = response_time
        self.initial_age = initial_age
        self.lifetime = lifetime
        self.must_revalidate = must_revalidate
        self.stale_if_error = stale_if_error
        self.etag = header(headers, b"etag")
        self.last_modified = header(headers, b"last-modified")
        self.date = header(headers, b"date")
        self.size = len(body) + sum(len(k) + len(v) + 4 for k, v in headers) + len(key) + _OVERHEAD

    @property
    def has_validators(self) -> bool:
        return self.etag is not None or self.last_modified is not None

    def age(self, now: float) -> float:
        """``current_age`` (RFC 9111 §4.2.3)."""
        return self.initial_age + max(0.0, now - self.response_time)

    def ttl(self, now: float) -> float:
        """Seconds of freshness left (negative once stale)."""
        return self.lifetime - self.age(now)

    def expires_at(self, keep_stale: float) -> float:
        """When the store may drop the entry: once stale for longer than it can still be useful
        (revalidated, or served by ``stale-if-error``)."""
        useful = max(keep_stale, float(self.stale_if_error or 0))
        return self.response_time - self.initial_age + self.lifetime + useful

    # -- serialisation (Redis) -----------------------------------------------------------------
    def to_bytes(self) -> bytes:
        meta = {
            "k": self.key, "v": self.variant, "vn": [n.decode("latin-1") for n in self.vary],
            "vv": self.vary_values.decode("latin-1"), "s": self.status,
            "h": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in self.headers],
            "rt": self.response_time, "ia": self.initial_age, "lt": self.lifetime,
            "mr": self.must_revalidate, "sie": self.stale_if_error,
        }
        return json.dumps(meta, separators=(",", ":")).encode() + b"\n" + self.body

    @classmethod
    def from_bytes(cls, data: bytes) -> Entry:
        """The entry serialised by :meth:`to_bytes`; raises ValueError on anything else."""
        head, sep, body = data.partition(b"\n")
        if not sep:
            raise ValueError("not a cache entry")
        try:
            meta: dict[str, Any] = json.loads(head)
            return cls(
                key=meta["k"], variant=meta["v"], vary=tuple(n.encode("latin-1") for n in meta["vn"]),
                vary_values=meta["vv"].encode("latin-1"), status=int(meta["s"]),
                headers=[(k.encode("latin-1"), v.encode("latin-1")) for k, v in meta["h"]], body=body,
                response_time=float(meta["rt"]), initial_age=float(meta["ia"]), lifetime=float(meta["lt"]),
                must_revalidate=bool(meta["mr"]), stale_if_error=meta["sie"],
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a cache entry: {exc}") from None

    def __repr__(self) -> str:
        return (f"<Entry {self.key} variant={self.variant or '-'} status={self.status} "
                f"lifetime={self.lifetime:g} size={self.size}>")


def build_entry(
    *,
    key: str,
    variant: str,
    vary: tuple[bytes, ...],
    vary_values: bytes,
    status: int,
    headers: Headers,
    body: bytes,
    request_time: float,
    response_time: float,
    heuristic_max: float,
) -> Entry:
    """The entry for a response that :func:`~middlewares.cache_policy.storable` accepted."""
    rd = response_directives(headers)
    strip = rd.private_fields | rd.no_cache_fields
    lifetime = freshness_lifetime(status, headers, rd, response_time, heuristic_max)
    age = initial_age(headers, request_time, response_time)
    stored = [(k, v) for k, v in headers
              if k.lower() not in strip and k.lower() not in _NOT_STORED]
    if status not in _NO_BODY_STATUSES:
        stored.append((b"Content-Length", b"%d" % len(body)))
    return Entry(
        key=key, variant=variant, vary=vary, vary_values=vary_values, status=status, headers=stored,
        body=body, response_time=response_time, initial_age=age, lifetime=lifetime,
        must_revalidate=rd.must_revalidate, stale_if_error=rd.stale_if_error,
    )


def refreshed(entry: Entry, not_modified: Headers, request_time: float, response_time: float,
              heuristic_max: float) -> Entry:
    """A new entry: ``entry`` with its headers updated by a 304 and its freshness restarted."""
    incoming = [(k, v) for k, v in not_modified if k.lower() != b"content-length"]
    merged = updated_headers(entry.headers, incoming)
    rd = response_directives(merged)
    strip = rd.private_fields | rd.no_cache_fields
    # The age restarts from the 304's own Date/Age: the stored Date tells when the body was made.
    age = initial_age(incoming, request_time, response_time)
    merged = [(k, v) for k, v in merged if k.lower() not in strip and k.lower() != b"age"]
    return Entry(
        key=entry.key, variant=entry.variant, vary=entry.vary, vary_values=entry.vary_values,
        status=entry.status, headers=merged, body=entry.body, response_time=response_time,
        initial_age=age, lifetime=freshness_lifetime(entry.status, merged, rd, response_time, heuristic_max),
        must_revalidate=rd.must_revalidate, stale_if_error=rd.stale_if_error,
    )


def decide(entry: Entry, req: RequestDirectives, now: float) -> tuple[str, str]:
    """What to do with a stored response for a request (RFC 9111 §4, §5.2.1): ``(FRESH, "")``,
    ``(STALE_OK, "")`` (stale but the client accepts it with ``max-stale``), or ``(VALIDATE,
    reason)`` where reason is the ``fwd`` value of Cache-Status (``stale`` or ``request``)."""
    age = entry.age(now)
    remaining = entry.lifetime - age
    fresh = remaining > 0
    reason = "request" if fresh else "stale"
    if req.no_cache:
        return VALIDATE, reason
    if req.max_age is not None and age > req.max_age:
        return VALIDATE, reason
    if req.min_fresh is not None and remaining < req.min_fresh:
        return VALIDATE, reason
    if fresh:
        return FRESH, ""
    if not entry.must_revalidate and req.max_stale is not None and -remaining <= req.max_stale:
        return STALE_OK, ""
    return VALIDATE, "stale"


def stale_if_error(entry: Entry, req: RequestDirectives, now: float) -> bool:
    """Whether ``stale-if-error`` (response or request, RFC 5861 §4) lets ``entry`` answer when the
    origin fails; never for ``must-revalidate`` responses (RFC 9111 §5.2.2.2)."""
    if entry.must_revalidate:
        return False
    windows = [w for w in (entry.stale_if_error, req.stale_if_error) if w is not None]
    return bool(windows) and -entry.ttl(now) <= max(windows)
