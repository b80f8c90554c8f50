"""Test helpers: build a RouteRequest the way the server does (host canonicalised once)."""

from __future__ import annotations

from traefikpy.rules import RouteRequest


def canonical_host(authority: str) -> str:
    """Lower-case host without port or trailing dot, as the server gives it to routing."""
    host = authority
    if host.startswith("["):
        host = host[1 : host.index("]")]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    host = host.strip().lower()
    return host[:-1] if host.endswith(".") else host


def req(
    url: str = "http://example.com/",
    method: str = "GET",
    headers: list[tuple[str, str]] | None = None,
    ip: str = "127.0.0.1",
) -> RouteRequest:
    """A request for ``url`` (``http://host[:port]/path?query``); path stays raw."""
    rest = url.split("://", 1)[1]
    slash = [i for i in (rest.find("/"), rest.find("?")) if i >= 0]
    cut = min(slash) if slash else len(rest)
    authority, target = rest[:cut], rest[cut:] or "/"
    path, _, query = target.partition("?")
    return RouteRequest(
        method.encode(),
        canonical_host(authority),
        path or "/",
        query.encode(),
        [(k.encode(), v.encode()) for k, v in headers or []],
        ip,
    )
