"""The ``errors`` middleware: replace error responses by a page from another service (Traefik v3
``pkg/middlewares/customerrors``).  The module is not called ``errors`` so it never shadows the
data plane's ``traefikpy.proxy.errors`` in tracebacks and imports.

* ``status``: the statuses that trigger the page (``"500"``, ``"500,502"``, ``"500-599"``).  A
  proxy failure before any answer (502 connection error, 504 timeout, 503 no server) counts as
  a response with that status, as Traefik's proxy writes it through the middleware.
* A caught response is dropped (head, body, the hooks registered after this middleware) and a
  ``GET`` for the page is sent to ``service`` with the client's headers (``Host`` included; only
  those named in ``errorRequestHeaders`` when it lists any, Traefik v3.6.15) and the path from
  ``query``, where ``{status}``, ``{originalStatus}`` and ``{url}`` are replaced; ``{url}`` is
  the query-escaped full request URL, ``scheme://host/path?query`` with the scheme from
  ``X-Forwarded-Proto`` (Traefik v3.7.13); an empty ``query`` asks for ``/``.
* The page goes to the client with the original status, or the one ``statusRewrites`` maps it
  to (``{"418": 404, "502-504": 500}``); its headers are the error service's.  When the error
  service itself fails, the client gets that status with the failure's short text.
* Other responses stream through untouched; interim (1xx) responses pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final
from urllib.parse import quote, quote_plus

from middlewares.interceptor import CodeRanges, Interceptor, in_ranges, parse_code_ranges, scope
from traefikpy.config.middleware_options import ErrorPage
from traefikpy.proxy.errors import STATUS_TEXT, ClientClosed, ProxyError
from traefikpy.proxy.h1body import EmptyBody
from traefikpy.proxy.http import (
    BuildContext,
    Exchange,
    Handler,
    Headers,
    MiddlewareFactory,
    ResponseHook,
    ResponseWriter,
)
from traefikpy.proxy.target import decode_path
from traefikpy.services.replay import copy_exchange

_PATH_SAFE: Final = "/%:@!$&'()*+,;=-._~"


def parse_rewrites(rewrites: Mapping[str, int]) -> tuple[tuple[CodeRanges, int], ...]:
    """``statusRewrites`` keys are status ranges like ``status`` items; raises ValueError."""
    out = []
    for key, code in rewrites.items():
        try:
            ranges = parse_code_ranges([key])
        except ValueError as exc:
            raise ValueError(f"statusRewrites: {exc}") from None
        if not 100 <= int(code) <= 999:
            raise ValueError(f"statusRewrites: invalid status {code!r} for {key!r}")
        out.append((ranges, int(code)))
    return tuple(out)


def rewrite_status(code: int, rewrites: tuple[tuple[CodeRanges, int], ...]) -> int:
    for ranges, target in rewrites:
        if in_ranges(code, ranges):
            return target
    return code


def page_target(query: str, status: int, original: int, url: bytes) -> tuple[bytes, bytes]:
    """``(raw_path, raw_query)`` of the page request for the ``query`` template."""
    if not query:
        return b"/", b""
    text = "/" + (query[1:] if query.startswith("/") else query)
    text = text.replace("{status}", str(status)).replace("{originalStatus}", str(original))
    text = text.replace("{url}", quote_plus(url.decode("latin-1"), safe="", encoding="latin-1"))
    text = text.split("#", 1)[0]
    path, _, raw_query = text.partition("?")
    raw_path = quote(path, safe=_PATH_SAFE, encoding="utf-8").encode("latin-1") or b"/"
    return raw_path, raw_query.encode("utf-8")


class _Catcher(Interceptor):
    """Passes a response through unless its status is caught; a caught one is dropped."""

    __slots__ = ("ranges", "caught", "passed")

    def __init__(self, inner: ResponseWriter, ex: Exchange, outer: list[ResponseHook] | None, ranges: CodeRanges) -> None:
        super().__init__(inner, ex, outer)
        self.ranges = ranges
        self.caught = 0  # the caught status, 0 when none
        self.passed = False

    async def send_head(self, status: int, headers: Headers, reason: bytes | None = None) -> None:
        if self.caught or self.passed:
            if self.passed:
                await self.inner.send_head(status, headers, reason)
            return
        if status >= 200 and in_ranges(status, self.ranges):
            self.caught = status
            return
        if status >= 200 or status == 101:
            self.passed = True
        await self.emit_head(status, headers, reason)

    async def send_body(self, data: bytes) -> None:
        if not self.caught:
            await self.inner.send_body(data)

    async def end(self, trailers: Headers | None = None) -> None:
        if not self.caught:
            await self.inner.end(trailers)


class _Forced(Interceptor):
    """The page's writer: the client gets the page with a fixed status."""

    __slots__ = ("status",)

    def __init__(self, inner: ResponseWriter, ex: Exchange, outer: list[ResponseHook] | None, status: int) -> None:
        super().__init__(inner, ex, outer)
        self.status = status

    async def send_head(self, status: int, headers: Headers, reason: bytes | None = None) -> None:
        if status < 200:
            await self.inner.send_head(status, headers, reason)  # interim responses pass as they are
            return
        await self.emit_head(self.status, headers)

    async def send_body(self, data: bytes) -> None:
        await self.inner.send_body(data)

    async def end(self, trailers: Headers | None = None) -> None:
        await self.inner.end(trailers)


def request_url(ex: Exchange) -> bytes:
    """The full URL of the request as ``{url}`` gives it before escaping: the scheme from
    ``X-Forwarded-Proto`` (set by the entry point) else the connection's, the Host header as
    sent, then the path and query."""
    scheme = ex.header(b"x-forwarded-proto") or ex.scheme.encode("ascii")
    host = ex.header(b"host") or ex.host.encode("latin-1")
    return scheme + b"://" + host + ex.target


class ErrorPagesHandler:
    __slots__ = ("name", "next", "service", "ranges", "rewrites", "query", "headers")

    def __init__(
        self, name: str, next_handler: Handler, service: Handler, ranges: CodeRanges,
        rewrites: tuple[tuple[CodeRanges, int], ...], query: str, headers: frozenset[bytes] | None = None,
    ) -> None:
        self.name = name
        self.next = next_handler
        self.service = service
        self.ranges = ranges
        self.rewrites = rewrites
        self.query = query
        self.headers = headers  # lower-cased names sent to the error service; None: all

    async def __call__(self, ex: Exchange) -> None:
        writer = ex.writer
        outer = scope(ex)
        catcher = _Catcher(writer, ex, outer, self.ranges)
        ex.writer = catcher
        try:
            await self.next(ex)
        except ClientClosed:
            raise
        except ProxyError as exc:
            if catcher.passed or not (catcher.caught or in_ranges(exc.status, self.ranges)):
                raise
            if not catcher.caught:
                catcher.caught = exc.status
        finally:
            ex.writer = writer
            ex.response_hooks = outer
        if catcher.caught:
            ex.status = 0
            await self._page(ex, catcher.caught, writer, outer)

    async def _page(self, ex: Exchange, original: int, writer: ResponseWriter, outer: list[ResponseHook] | None) -> None:
        status = rewrite_status(original, self.rewrites)
        raw_path, query = page_target(self.query, status, original, request_url(ex) if "{url}" in self.query else b"")
        forced = _Forced(writer, ex, outer, status)
        allowed = self.headers
        kept = None
        if allowed is not None:  # Go keeps the Host outside the header map: it always goes
            kept = [(k, v) for k, v in ex.headers if k.lower() in allowed or k.lower() == b"host"]
        page = copy_exchange(ex, EmptyBody(0), forced, kept)
        page.method = b"GET"
        page.raw_path = raw_path
        page.path = decode_path(raw_path)
        page.query = query
        try:
            await self.service(page)
        except ClientClosed:
            raise
        except ProxyError as exc:
            if ex.status:
                raise
            await page.respond(exc.status, STATUS_TEXT.get(exc.status, b"Bad Gateway"), content_type=None)

    def __repr__(self) -> str:
        return f"<Errors {self.name} status={list(self.ranges)}>"


def build_errors(options: ErrorPage, next_handler: Handler, name: str, ctx: BuildContext) -> Handler:
    ranges = parse_code_ranges(options.status)
    rewrites = parse_rewrites(options.status_rewrites)
    if not options.service:
        raise ValueError("the errors middleware needs a service for the error pages")
    service = ctx.service(options.service)
    headers = frozenset(h.strip().lower().encode("latin-1") for h in options.error_request_headers if h.strip())
    return ErrorPagesHandler(name, next_handler, service, ranges, rewrites, options.query, headers or None)


FACTORIES: dict[str, MiddlewareFactory] = {"errors": build_errors}
