"""Shared pieces of the middlewares that sit between a handler and the client's writer (buffering,
retry, compress, errors, grpcWeb): Traefik's status code ranges and the hook scope.

Theory of operation
-------------------
In Traefik, a middleware that inspects or replaces a response wraps the ``http.ResponseWriter``:
what the inner chain writes reaches the outer middlewares only if the wrapper lets it through.
Here, middlewares that only edit heads register hooks on the exchange, which ``send_head`` runs
all at once (inner first, outer last).  A wrapping middleware therefore *scopes* the hooks:

* before calling ``next`` it takes the outer hooks off the exchange (:func:`scope`), so the
  inner chain's ``send_head`` runs only the inner hooks, then calls the wrapping writer;
* the wrapper decides (drop, buffer, rewrite, pass) and, for what it sends on, runs the outer
  hooks itself (:meth:`Interceptor.emit_head`) before the real writer.

A dropped response (a retried attempt, an error replaced by a page) therefore never reaches the
outer hooks, exactly as a swallowed ``WriteHeader`` never reaches outer writers in Go.  Any other
writer feature (``hijack`` after a 101, ``drain``) is the inner writer's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from traefikpy.proxy.http import Exchange, Headers, ResponseHook, ResponseWriter

CodeRanges = tuple[tuple[int, int], ...]


def parse_code_ranges(items: Iterable[str | int]) -> CodeRanges:
    """Traefik's ``HTTPCodeRanges``: each item is ``"500"``, ``"500-599"`` or several of them
    separated by commas (``"404,500-599"``).  Raises ValueError on anything else."""
    ranges: list[tuple[int, int]] = []
    for item in items:
        for part in str(item).split(","):
            text = part.strip()
            low, sep, high = text.partition("-")
            try:
                start = int(low.strip())
                end = int(high.strip()) if sep else start
            except ValueError:
                raise ValueError(f"invalid HTTP status code range {text!r} (expected e.g. 500 or 500-599)") from None
            if start > end:
                raise ValueError(f"invalid HTTP status code range {text!r}: {start} is above {end}")
            ranges.append((start, end))
    return tuple(ranges)


def in_ranges(status: int, ranges: CodeRanges) -> bool:
    for low, high in ranges:  # noqa: SIM110 - a plain loop is cheaper than any() per response
        if low <= status <= high:
            return True
    return False


def scope(ex: Exchange) -> list[ResponseHook] | None:
    """Take the outer hooks off ``ex`` (the inner chain starts with none); see the module doc."""
    outer = ex.response_hooks
    ex.response_hooks = None
    return outer


def run_hooks(hooks: Sequence[ResponseHook] | None, status: int, headers: Headers) -> int:
    if hooks:
        for hook in reversed(hooks):
            status = hook(status, headers)
    return status


class Interceptor:
    """Base of the wrapping writers: holds the client's writer and the outer hooks.

    Subclasses implement ``send_head``/``send_body``/``end``; :meth:`emit_head` sends a head on
    with the outer hooks applied and records the status on the exchange."""

    __slots__ = ("inner", "ex", "outer")

    def __init__(self, inner: ResponseWriter, ex: Exchange, outer: list[ResponseHook] | None) -> None:
        self.inner = inner
        self.ex = ex
        self.outer = outer

    async def emit_head(self, status: int, headers: Headers, reason: bytes | None = None) -> None:
        outer = self.outer
        if outer:
            status = run_hooks(outer, status, headers)
        self.ex.status = status
        await self.inner.send_head(status, headers, reason)

    def __getattr__(self, name: str) -> Any:
        # Other writer features (``hijack`` after a 101...) belong to the client's writer.
        if name in ("inner", "ex", "outer"):
            raise AttributeError(name)  # not set yet: never recurse
        return getattr(self.inner, name)


def header_value(headers: Headers, name: bytes) -> bytes | None:
    """First value of response header ``name`` (lower-case bytes)."""
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def drop_headers(headers: Headers, names: frozenset[bytes]) -> None:
    """Remove (in place) every header whose lower-cased name is in ``names``."""
    headers[:] = [(k, v) for k, v in headers if k.lower() not in names]
