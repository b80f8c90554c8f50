"""The RFC 9111 rules of the ``cache`` middleware, as pure functions over header lists and times.

Nothing here does I/O or reads a clock: callers pass ``now`` (wall-clock seconds, because
``Date``, ``Expires`` and ``Age`` are wall-clock values and a Redis store is shared between
instances).  What the module owns:

* parsing ``Cache-Control`` (and ``Pragma: no-cache``) into :class:`RequestDirectives` and
  :class:`ResponseDirectives`, and HTTP dates and delta-seconds;
* whether a response may be stored by a shared cache (:func:`storable`, RFC 9111 §3 and §3.5),
  its freshness lifetime (§4.2.1, with the documented heuristic of §4.2.2) and its age (§4.2.3);
* what to do with a stored response for a request (:func:`decide`, §4 and §5.2.1);
* ``Vary`` (§4.1): the header names of a response and the request's normalised values;
* conditional requests answered from a stored response (§4.3.2, RFC 9110 §13.1) and the header
  update of a stored response by a ``304`` (§3.2, §4.3.4);
* the ``Cache-Status`` header value (RFC 9211).

:class:`Entry` (a stored response with what was computed when it was stored) lives here too, so
the stores and the handler share one definition.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from email.utils import mktime_tz, parsedate_tz
from http import HTTPStatus
from typing import Final

from traefikpy.proxy.http import Headers

HEURISTIC_STATUSES: Final = frozenset({200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501})
"""Statuses cacheable by default (RFC 9110 §15.1) except 206: partial content is not stored."""

UNDERSTOOD: Final = frozenset(s.value for s in HTTPStatus if s.value >= 200) - {206, 304}
"""Final statuses whose caching rules this cache implements (``must-understand``)."""

ERROR_STATUSES: Final = frozenset({500, 502, 503, 504})
"""Statuses that let ``stale-if-error`` serve a stale response (RFC 5861 §4)."""

DELTA_MAX: Final = 2**31
"""Delta-seconds larger than this are this (RFC 9111 §1.2.2)."""

# A 304 never replaces these in a stored response (RFC 9111 §3.2): they describe the stored body.
_KEEP_ON_UPDATE: Final = frozenset({b"content-length", b"content-encoding", b"content-range",
                                    b"transfer-encoding", b"trailer"})
# Headers of a 304 answered from a stored response (RFC 9110 §15.4.5) plus the validators.
_NOT_MODIFIED_HEADERS: Final = frozenset({b"cache-control", b"content-location", b"date", b"etag",
                                          b"expires", b"vary", b"last-modified"})

FRESH: Final = "fresh"
STALE_OK: Final = "stale-ok"
VALIDATE: Final = "validate"


# -- parsing -------------------------------------------------------------------------------------
def _split_list(value: bytes) -> list[bytes]:
    """Split a comma-separated header value, keeping commas inside quoted strings."""
    if b'"' not in value:
        return [part.strip() for part in value.split(b",") if part.strip()]
    out: list[bytes] = []
    start = 0
    quoted = False
    i = 0
    while i < len(value):
        char = value[i]
        if char == 0x5C and quoted:  # backslash escape inside a quoted string
            i += 2
            continue
        if char == 0x22:  # "
            quoted = not quoted
        elif char == 0x2C and not quoted:  # ,
            part = value[start:i].strip()
            if part:
                out.append(part)
            start = i + 1
        i += 1
    part = value[start:].strip()
    if part:
        out.append(part)
    return out


def _unquote(value: bytes) -> bytes:
    if len(value) >= 2 and value[:1] == b'"' and value[-1:] == b'"':
        inner = value[1:-1]
        return inner.replace(b'\\"', b'"').replace(b"\\\\", b"\\")
    return value


def parse_cache_control(values: Iterable[bytes]) -> dict[str, bytes | None]:
    """Directives of ``Cache-Control`` field lines: lower-case name to its unquoted argument (None
    when it has none).  The first occurrence of a repeated directive wins (RFC 9111 §4.2.1)."""
    out: dict[str, bytes | None] = {}
    for line in values:
        for item in _split_list(line):
            name, sep, arg = item.partition(b"=")
            key = name.strip().lower().decode("latin-1")
            if key and key not in out:
                out[key] = _unquote(arg.strip()) if sep else None
    return out


def delta_seconds(value: bytes | None) -> int | None:
    """A delta-seconds argument; None when missing or invalid (callers decide what that means)."""
    if value is None or not value.isdigit():
        return None
    return min(int(value), DELTA_MAX)


def http_date(value: bytes | None) -> float | None:
    """Seconds since the epoch of an HTTP-date (IMF-fixdate, RFC 850 or asctime), else None."""
    if not value:
        return None
    parsed = parsedate_tz(value.decode("latin-1"))
    if parsed is None:
        return None
    try:
        return float(mktime_tz(parsed))
    except (OverflowError, ValueError):
        return None


def field_names(value: bytes | None) -> frozenset[bytes]:
    """Lower-case header names of a qualified ``private="a, b"`` / ``no-cache="a"`` argument."""
    if not value:
        return frozenset()
    return frozenset(name.strip().lower() for name in value.split(b",") if name.strip())


def header(headers: Headers, name: bytes) -> bytes | None:
    """First value of ``name`` (lower-case) in ``headers``."""
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def header_lines(headers: Headers, name: bytes) -> list[bytes]:
    return [value for key, value in headers if key.lower() == name]


# -- directives ----------------------------------------------------------------------------------
class RequestDirectives:
    """What a request's ``Cache-Control`` (or ``Pragma: no-cache``) asks of the cache."""

    __slots__ = ("no_store", "no_cache", "max_age", "max_stale", "min_fresh", "only_if_cached",
                 "stale_if_error")

    def __init__(self, cc: dict[str, bytes | None], pragma_no_cache: bool = False) -> None:
        self.no_store = "no-store" in cc
        # Pragma only counts when the request has no Cache-Control at all (RFC 9111 §5.4).
        self.no_cache = "no-cache" in cc or (not cc and pragma_no_cache)
        # An invalid max-age is treated as 0: the client wants a response no older than that.
        self.max_age: int | None = (delta_seconds(cc["max-age"]) or 0) if "max-age" in cc else None
        # max-stale without a value: any staleness is acceptable.
        self.max_stale: float | None = None
        if "max-stale" in cc:
            stale = delta_seconds(cc["max-stale"])
            self.max_stale = float("inf") if cc["max-stale"] is None else float(stale or 0)
        self.min_fresh: int | None = (delta_seconds(cc["min-fresh"]) or 0) if "min-fresh" in cc else None
        self.only_if_cached = "only-if-cached" in cc
        self.stale_if_error = delta_seconds(cc.get("stale-if-error"))


def request_directives(headers: Headers) -> RequestDirectives:
    cc = parse_cache_control(header_lines(headers, b"cache-control"))
    pragma = any(b"no-cache" in v.lower() for v in header_lines(headers, b"pragma"))
    return RequestDirectives(cc, pragma)


class ResponseDirectives:
    """The caching-relevant directives of a response's ``Cache-Control``."""

    __slots__ = ("no_store", "no_cache", "no_cache_fields", "private", "private_fields", "public",
                 "max_age", "s_maxage", "must_revalidate", "must_understand", "stale_if_error",
                 "has_max_age", "has_s_maxage")

    def __init__(self, cc: dict[str, bytes | None]) -> None:
        self.no_store = "no-store" in cc
        self.no_cache = "no-cache" in cc and cc["no-cache"] is None
        self.no_cache_fields = field_names(cc.get("no-cache"))
        self.private = "private" in cc and cc["private"] is None
        self.private_fields = field_names(cc.get("private"))
        self.public = "public" in cc
        self.has_max_age = "max-age" in cc
        self.has_s_maxage = "s-maxage" in cc
        # An invalid max-age/s-maxage makes the response stale (lifetime 0), RFC 9111 §4.2.1.
        self.max_age = delta_seconds(cc.get("max-age")) or 0
        self.s_maxage = delta_seconds(cc.get("s-maxage")) or 0
        # s-maxage implies proxy-revalidate for a shared cache (RFC 9111 §5.2.2.10).
        self.must_revalidate = "must-revalidate" in cc or "proxy-revalidate" in cc or self.has_s_maxage
        self.must_understand = "must-understand" in cc
        self.stale_if_error = delta_seconds(cc.get("stale-if-error"))


def response_directives(headers: Headers) -> ResponseDirectives:
    return ResponseDirectives(parse_cache_control(header_lines(headers, b"cache-control")))


# -- storing -------------------------------------------------------------------------------------
def storable(
    status: int, headers: Headers, rd: ResponseDirectives, req: RequestDirectives, authorized: bool
) -> str | None:
    """Why a shared cache must not store this response to a GET (None: it may), RFC 9111 §3."""
    if status < 200 or status in (206, 304):
        return "status"
    if req.no_store:
        return "request no-store"
    if rd.must_understand:
        if status not in UNDERSTOOD:
            return "must-understand"
    elif rd.no_store:
        return "no-store"
    if rd.private:
        return "private"
    if authorized and not (rd.public or rd.has_s_maxage or rd.must_revalidate):
        return "authorization"
    vary = vary_names(headers)
    if vary is None:
        return "vary *"
    if header(headers, b"set-cookie") is not None:
        return "set-cookie"  # personal data: never shared (nginx and Varnish agree)
    explicit = rd.public or rd.has_max_age or rd.has_s_maxage or header(headers, b"expires") is not None
    if not explicit and status not in HEURISTIC_STATUSES:
        return "status"
    return None


def freshness_lifetime(
    status: int, headers: Headers, rd: ResponseDirectives, response_time: float, heuristic_max: float
) -> float:
    """Seconds a response stays fresh (RFC 9111 §4.2.1).  Without explicit freshness, the heuristic
    is 10% of the time since ``Last-Modified`` (capped at ``heuristic_max``), else
    ``heuristic_max``; only for heuristically cacheable statuses or ``public`` responses."""
    if rd.no_cache:
        return 0.0  # stored, but validated before every use
    if rd.has_s_maxage:
        return float(rd.s_maxage)
    if rd.has_max_age:
        return float(rd.max_age)
    date = http_date(header(headers, b"date")) or response_time
    expires_value = header(headers, b"expires")
    if expires_value is not None:
        expires = http_date(expires_value)
        return max(0.0, expires - date) if expires is not None else 0.0
    if heuristic_max <= 0 or not (status in HEURISTIC_STATUSES or rd.public):
        return 0.0
    modified = http_date(header(headers, b"last-modified"))
    if modified is not None and modified < date:
        return min((date - modified) / 10, heuristic_max)
    return heuristic_max


def initial_age(headers: Headers, request_time: float, response_time: float) -> float:
    """``corrected_initial_age`` of RFC 9111 §4.2.3: the age when the response arrived."""
    date = http_date(header(headers, b"date"))
    apparent = max(0.0, response_time - date) if date is not None else 0.0
    age_value = delta_seconds(_strip(header(headers, b"age"))) or 0
    return max(apparent, age_value + (response_time - request_time))


def _strip(value: bytes | None) -> bytes | None:
    return value.strip() if value is not None else None


# -- variants ------------------------------------------------------------------------------------
def vary_names(headers: Headers) -> tuple[bytes, ...] | None:
    """Sorted lower-case names listed by ``Vary`` (empty: none), or None for ``Vary: *``."""
    names: set[bytes] = set()
    for line in header_lines(headers, b"vary"):
        for name in line.split(b","):
            name = name.strip().lower()
            if name == b"*":
                return None
            if name:
                names.add(name)
    return tuple(sorted(names))


def vary_values(request: Headers, names: Sequence[bytes]) -> bytes:
    """The request's values of the ``Vary`` names, normalised (lines combined, spaces around
    commas removed): equal bytes mean the stored response matches (RFC 9111 §4.1)."""
    if not names:
        return b""
    parts = []
    for name in names:
        lines = header_lines(request, name)
        value = b",".join(p.strip() for line in lines for p in line.split(b","))
        parts.append(name + b":" + value if lines else name)
    return b"\n".join(parts)


def variant_id(values: bytes) -> str:
    """A short, key-safe name of a variant ("" when the response does not vary)."""
    return hashlib.sha1(values).hexdigest()[:20] if values else ""


# -- conditional requests ------------------------------------------------------------------------
def _opaque(tag: bytes) -> bytes:
    tag = tag.strip()
    return tag[2:] if tag[:2] in (b"W/", b"w/") else tag


def etag_matches(if_none_match: bytes, etag: bytes | None) -> bool:
    """Weak comparison of ``If-None-Match`` against a stored ``ETag`` (RFC 9110 §13.1.2)."""
    if if_none_match.strip() == b"*":
        return True
    if etag is None:
        return False
    mine = _opaque(etag)
    return any(_opaque(tag) == mine for tag in _split_list(if_none_match))


def not_modified(request: Headers, etag: bytes | None, last_modified: bytes | None, date: bytes | None) -> bool:
    """Whether the request's ``If-None-Match`` / ``If-Modified-Since`` let a stored 200 be answered
    with 304 (RFC 9111 §4.3.2): ``If-None-Match`` wins; ``If-Modified-Since`` compares against
    ``Last-Modified`` (or ``Date`` when absent)."""
    inm = header_lines(request, b"if-none-match")
    if inm:
        return any(etag_matches(line, etag) for line in inm)
    since = http_date(header(request, b"if-modified-since"))
    if since is None:
        return False
    modified = http_date(last_modified) if last_modified is not None else http_date(date)
    return modified is not None and modified <= since


def not_modified_headers(headers: Headers) -> Headers:
    """The headers a 304 built from a stored 200 carries (RFC 9110 §15.4.5)."""
    return [(k, v) for k, v in headers if k.lower() in _NOT_MODIFIED_HEADERS]


def updated_headers(stored: Headers, fresh: Headers) -> Headers:
    """Stored headers updated by those of a 304 (RFC 9111 §3.2): each field of the 304 replaces the
    stored one, except the fields that describe the stored body."""
    replace = {k.lower() for k, _ in fresh} - _KEEP_ON_UPDATE
    kept = [(k, v) for k, v in stored if k.lower() not in replace]
    return kept + [(k, v) for k, v in fresh if k.lower() in replace]


# -- Cache-Status --------------------------------------------------------------------------------
def cache_status(
    cache: bytes,
    *,
    hit: bool = False,
    fwd: str | None = None,
    fwd_status: int | None = None,
    stored: bool = False,
    ttl: float | None = None,
    detail: str | None = None,
) -> bytes:
    """One member of the ``Cache-Status`` list (RFC 9211), e.g. ``traefikpy; hit; ttl=41``."""
    parts = [cache]
    if hit:
        parts.append(b"hit")
    if fwd is not None:
        parts.append(b"fwd=" + fwd.encode("ascii"))
    if fwd_status is not None:
        parts.append(b"fwd-status=%d" % fwd_status)
    if stored:
        parts.append(b"stored")
    if ttl is not None:
        parts.append(b"ttl=%d" % int(ttl))  # truncated: a response just past its lifetime shows 0
    if detail is not None:
        parts.append(b"detail=" + detail.encode("ascii"))
    return b"; ".join(parts)
