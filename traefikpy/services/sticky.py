"""Sticky sessions by cookie, with Traefik v3's cookie names, values and attributes.

* Cookie name: the configured name sanitised to RFC 2616 token characters, or, when empty, ``_``
  plus the first 5 hex digits of ``sha1("_TRAEFIK_BACKEND_" + service name)`` (e.g. ``_1d52e``).
* Cookie value: the first 16 hex digits of ``sha256(child name)``, where the child name is the
  server URL for a ``loadBalancer`` and the child service name for ``weighted``.
* Cookies written by older Traefik versions are still honoured and rewritten: the raw name, its
  FNV-1 64 hash and the double FNV hash (``rewrite=True``).
* ``Set-Cookie`` is formatted like Go's ``http.Cookie.String``: ``Path`` (default ``/``),
  ``Domain``, ``Max-Age`` (only when non-zero; negative means ``Max-Age=0``), ``HttpOnly``,
  ``Secure``, ``SameSite`` (``none``/``lax``/``strict``; empty writes nothing).

An unknown or stale value, or a value naming a child that is down, falls back to a normal pick and
a new cookie.  Everything is precomputed at build time; a request only parses its Cookie header.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from traefikpy.proxy.http import Exchange, Headers, ResponseHook

T = TypeVar("T")

_TOKEN_EXTRA = frozenset("!#$%&'*+-.^`|~")
_SAME_SITE = {"": "", "none": "None", "lax": "Lax", "strict": "Strict"}


@dataclass(frozen=True, slots=True)
class StickyCookie:
    """Traefik's ``sticky.cookie`` options."""

    name: str = ""
    secure: bool = False
    http_only: bool = False
    same_site: str = ""
    max_age: int = 0
    path: str = "/"
    domain: str = ""

    @classmethod
    def from_mapping(cls, sticky: Mapping[str, Any] | None) -> StickyCookie | None:
        """From Traefik's ``sticky`` mapping (``{"cookie": {...}}``); None without a cookie."""
        if not sticky or sticky.get("cookie") is None:
            return None
        cookie = sticky["cookie"]
        path = cookie.get("path")
        return cls(
            name=str(cookie.get("name") or ""),
            secure=bool(cookie.get("secure", False)),
            http_only=bool(cookie.get("httpOnly", False)),
            same_site=str(cookie.get("sameSite") or ""),
            max_age=int(cookie.get("maxAge") or 0),
            path="/" if path is None else str(path),
            domain=str(cookie.get("domain") or ""),
        )

    def resolved(self, service_name: str) -> StickyCookie:
        """This cookie with its final name (sanitised, or generated from ``service_name``)."""
        return replace(self, name=cookie_name(self.name, service_name))

    def header_value(self, value: str) -> bytes:
        """The ``Set-Cookie`` value for cookie value ``value``, formatted as Go does."""
        parts = [f"{self.name}={value}"]
        if self.path:
            parts.append(f"Path={self.path}")
        if self.domain:
            parts.append(f"Domain={self.domain.removeprefix('.')}")
        if self.max_age > 0:
            parts.append(f"Max-Age={self.max_age}")
        elif self.max_age < 0:
            parts.append("Max-Age=0")
        if self.http_only:
            parts.append("HttpOnly")
        if self.secure:
            parts.append("Secure")
        same_site = _SAME_SITE.get(self.same_site.lower(), "")
        if same_site:
            parts.append(f"SameSite={same_site}")
        return "; ".join(parts).encode("latin-1")


def cookie_name(configured: str, service_name: str) -> str:
    """Traefik's cookie name: ``configured`` sanitised, or a hash of ``service_name``."""
    if configured:
        return "".join(c if (c.isascii() and c.isalnum()) or c in _TOKEN_EXTRA else "_" for c in configured)
    digest = hashlib.sha1(("_TRAEFIK_BACKEND_" + service_name).encode()).hexdigest()
    return ("_" + digest)[:6]


def sticky_value(child_name: str) -> str:
    """The cookie value that designates ``child_name``: 16 hex digits of its SHA-256."""
    return hashlib.sha256(child_name.encode()).hexdigest()[:16]


def fnv1_64_hex(text: str) -> str:
    """Go's ``fnv.New64`` (FNV-1, not 1a) as unpadded hex: the hash older Traefik cookies used."""
    value = 14695981039346656037
    for byte in text.encode():
        value = (value * 1099511628211) & 0xFFFFFFFFFFFFFFFF
        value ^= byte
    return format(value, "x")


def request_cookie(headers: Headers, name: bytes) -> bytes | None:
    """The first value of cookie ``name`` in the request's Cookie headers (quotes removed)."""
    for key, line in headers:
        if len(key) != 6 or key.lower() != b"cookie":
            continue
        for part in line.split(b";"):
            cname, sep, value = part.strip().partition(b"=")
            if sep and cname == name:
                if len(value) > 1 and value[:1] == b'"' and value[-1:] == b'"':
                    value = value[1:-1]
                return value
    return None


def _append_header(value: bytes) -> ResponseHook:
    def hook(status: int, headers: Headers) -> int:
        headers.append((b"Set-Cookie", value))
        return status

    return hook


class StickyTable(Generic[T]):
    """Cookie values → children, and a precomputed response hook per child that sets its cookie."""

    __slots__ = ("cookie", "_name", "_by_value", "_compat", "_hooks")

    def __init__(self, cookie: StickyCookie, children: Sequence[tuple[str, T]]) -> None:
        self.cookie = cookie
        self._name = cookie.name.encode("latin-1")
        self._by_value: dict[bytes, T] = {}
        self._compat: dict[bytes, T] = {}
        self._hooks: dict[int, ResponseHook] = {}
        for child_name, child in children:
            value = sticky_value(child_name)
            self._by_value[value.encode()] = child
            self._hooks[id(child)] = _append_header(cookie.header_value(value))
            once = fnv1_64_hex(child_name)
            for legacy in (child_name, once, fnv1_64_hex(once)):
                self._compat.setdefault(legacy.encode("latin-1", "replace"), child)

    def lookup(self, ex: Exchange) -> tuple[T | None, bool]:
        """The child named by the request's cookie, and whether the cookie must be rewritten
        (it used a legacy value).  ``(None, False)`` without a cookie or for an unknown value."""
        value = request_cookie(ex.headers, self._name)
        if value is None:
            return None, False
        child = self._by_value.get(value)
        if child is not None:
            return child, False
        child = self._compat.get(value)
        return child, child is not None

    def hook(self, child: T) -> ResponseHook:
        """The response hook adding ``child``'s Set-Cookie header."""
        return self._hooks[id(child)]

    def __repr__(self) -> str:
        return f"<StickyTable cookie={self.cookie.name} children={len(self._by_value)}>"
