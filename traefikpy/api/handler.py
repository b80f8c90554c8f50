"""``api@internal``: the REST API (Traefik v3's endpoints and JSON shapes) and the dashboard.

Paths, under ``api.basePath`` (``/`` by default), as Traefik's ``pkg/api/handler.go`` routes them:
``api/rawdata``, ``api/overview``, ``api/entrypoints[/{name}]``, ``api/{http,tcp,udp}/{routers,
services,middlewares}[/{name}]`` (no UDP middlewares), ``api/version``, plus our
``api/http/explain``.  With the dashboard enabled, ``{basePath}`` (and ``{basePath}dashboard``)
redirects (302) to ``{basePath}dashboard/`` (behind ``X-Forwarded-Prefix`` when set) and the page
is served there.

Every answer reads the graph that is live at that moment; nothing is cached.  Element names in
paths are percent-decoded (``x%40file`` is ``x@file``).  Errors are ``{"message": ...}`` with
Traefik's statuses and wording (404 ``router not found: x@file``, 400 for bad pagination).
Only GET is routed (405 otherwise, like Traefik's router); unknown paths get ``404 page not found``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from traefikpy import __version__
from traefikpy.api import views
from traefikpy.api.dashboard import NOT_FOUND, DashboardAssets, base_path, redirect
from traefikpy.api.explain import ExplainError, build_request, explain, parse_header, url_port
from traefikpy.api.query import QueryError, paginate, select
from traefikpy.config.static import StaticConfig
from traefikpy.graph import Graph
from traefikpy.proxy.http import Exchange, Headers

JSON = b"application/json"
CODENAME = "traefikpy"
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_COLLECTIONS = {"routers": "router", "services": "service", "middlewares": "middleware"}
_ID_NAMES = {"router": "routerID", "service": "serviceID", "middleware": "middlewareID"}


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def encode(value: Any) -> bytes:
    """JSON as Go's ``json.Encoder`` writes it: ``<``, ``>`` and ``&`` escaped, a final newline."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text.encode("utf-8") + b"\n"


def _unescape(raw: str, id_name: str) -> str:
    bad = _BAD_ESCAPE.search(raw)
    if bad is not None:
        escape = raw[bad.start():bad.start() + 3]
        raise ApiError(400, f"unable to decode {id_name} {json.dumps(raw)}: invalid URL escape {json.dumps(escape)}")
    return unquote(raw, errors="surrogateescape")


class ApiHandler:
    """The ``api@internal`` handler over the live graph (``current()``) and the static config."""

    def __init__(
        self,
        static: StaticConfig,
        current: Callable[[], Graph],
        internal_services: Collection[str] = (),
        dashboard: DashboardAssets | None = None,
    ) -> None:
        self.static = static
        self.current = current
        self.internal_services = internal_services
        self.base = base_path(static.api.base_path if static.api is not None else "/")
        self.api_prefix = self.base + "api/"
        self.dashboard = dashboard
        self.started = datetime.now(UTC)

    def source(self) -> views.ApiSource:
        return views.ApiSource(self.static, self.current(), self.internal_services)

    async def __call__(self, ex: Exchange) -> None:
        path = ex.raw_path.decode("latin-1")
        dashboard = self.dashboard
        handled = path.startswith(self.api_prefix) or (
            dashboard is not None and (path in (self.base, dashboard.prefix[:-1]) or path.startswith(dashboard.prefix)))
        if not handled:
            await ex.respond(404, NOT_FOUND)
            return
        if ex.method != b"GET":
            await ex.respond(405, b"", content_type=None)
            return
        if dashboard is not None and not path.startswith(self.api_prefix):
            if path in (self.base, dashboard.prefix[:-1]):
                prefix = (ex.header(b"x-forwarded-prefix") or b"").decode("latin-1").rstrip("/")
                await redirect(ex, prefix + dashboard.prefix, 302)
            else:
                await dashboard.serve(ex, path[len(dashboard.prefix):])
            return
        pairs = parse_qsl(ex.query.decode("utf-8", "surrogateescape"), keep_blank_values=True)
        query: dict[str, str] = {}
        for key, value in pairs:
            query.setdefault(key, value)  # Go's url.Values.Get: the first value
        extra: Headers = []
        try:
            body = self.route(path[len(self.api_prefix):], query, pairs, extra)
        except ApiError as exc:
            await ex.respond(exc.status, encode({"message": str(exc)}), content_type=JSON)
            return
        if body is None:
            await ex.respond(404, NOT_FOUND)
            return
        await ex.respond(200, encode(body), extra, content_type=JSON)

    def route(self, rest: str, query: dict[str, str], pairs: list[tuple[str, str]], extra: Headers) -> Any:
        """The JSON value for ``api/{rest}``, or None for an unknown path (404)."""
        parts = rest.split("/")
        if rest == "rawdata":
            return views.rawdata(self.source())
        if rest == "overview":
            return views.overview(self.source())
        if rest == "version":
            return {"Version": __version__, "Codename": CODENAME,
                    "startDate": self.started.isoformat().replace("+00:00", "Z")}
        if parts[0] == "entrypoints" and len(parts) <= 2:
            return self._entrypoints(parts, query, extra)
        if rest == "http/explain":
            return self._explain(query, pairs)
        if len(parts) in (2, 3) and parts[0] in views.SECTIONS and parts[1] in _COLLECTIONS and parts[-1]:
            kind = _COLLECTIONS[parts[1]]
            if parts[0] == "udp" and kind == "middleware":
                return None
            if len(parts) == 2:
                return self._page(kind, views.items(self.source(), parts[0], kind), query, extra)
            name = _unescape(parts[2], _ID_NAMES[kind])
            found = views.item(self.source(), parts[0], kind, name)
            if found is None:
                raise ApiError(404, f"{kind} not found: {name}")
            return found
        return None

    def _page(self, kind: str, items: list[dict[str, Any]], query: dict[str, str], extra: Headers) -> Any:
        try:
            if kind == "entrypoint":  # Traefik only paginates entry points (sorted by name)
                start, end, next_page = paginate(query, len(items))
                page = items[start:end]
            else:
                page, next_page = select(kind, items, query)
        except QueryError as exc:
            raise ApiError(400, str(exc)) from None
        extra.append((b"X-Next-Page", str(next_page).encode()))
        return page

    def _entrypoints(self, parts: list[str], query: dict[str, str], extra: Headers) -> Any:
        if len(parts) == 1:
            return self._page("entrypoint", list(views.entrypoints(self.static)), query, extra)
        if not parts[1]:
            return None
        name = _unescape(parts[1], "entryPointID")
        found = views.entrypoint(self.static, name)
        if found is None:
            raise ApiError(404, f"entry point not found: {name}")
        return found

    def _explain(self, query: dict[str, str], pairs: list[tuple[str, str]]) -> Any:
        try:
            headers = [parse_header(value) for key, value in pairs if key == "header"]
            url = query.get("url", "")
            req, tls = build_request(url, query.get("method", "GET"), headers, query.get("clientIP", ""))
            return explain(self.source(), req, tls, query.get("entrypoint", ""), url_port(url))
        except ExplainError as exc:
            raise ApiError(400, str(exc)) from None
