"""The API and dashboard, served as Traefik serves them: internal services on our own data plane.

``api@internal`` (:class:`~traefikpy.api.handler.ApiHandler`) answers Traefik v3's REST API
(``/api/rawdata``, ``/api/overview``, ``/api/entrypoints``, ``/api/{http,tcp,udp}/...``,
``/api/version``), our route explainer (``/api/http/explain``) and, when ``api.dashboard`` is on,
the dashboard.  ``dashboard@internal`` (:class:`~traefikpy.api.dashboard.DashboardHandler`)
serves the dashboard alone.  Users route to them like to any service (``service: api@internal``
behind ``basicAuth``); nothing is exposed unless a router says so, except with
``api.insecure``, which adds Traefik's two internal routers on the ``traefik`` entry point:
``api@internal`` (``PathPrefix(`{basePath}api`)``, priority max-1) and ``dashboard@internal``
(``PathPrefix(`{basePath}`)``, priority max-2).

Modules: ``views`` (runtime state → Traefik's JSON shapes, pure), ``query`` (filters, sorting,
pagination, pure), ``explain`` (the explainer, pure over a graph), ``dashboard`` (static assets),
``handler`` (path dispatch and responses).  ``openapi.yaml`` documents the endpoints; the user
guide is ``docs/api.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from traefikpy.api.dashboard import DashboardAssets, DashboardHandler, base_path
from traefikpy.api.handler import ApiHandler
from traefikpy.config.static import StaticConfig
from traefikpy.graph import Graph
from traefikpy.proxy.http import Handler

MAX_PRIORITY = (1 << 63) - 1  # Go's math.MaxInt, the priority scale of internal routers
INTERNAL_ENTRYPOINT = "traefik"

InternalRoute = tuple[str, str, str, int, Handler]


def api_internals(
    static: StaticConfig,
    current: Callable[[], Graph],
    internal_services: Collection[str],
) -> tuple[dict[str, Handler], list[InternalRoute]]:
    """The internal services (``api@internal``, ``dashboard@internal``) and, with
    ``api.insecure``, the internal routes ``(entrypoint, router, rule, priority, handler)`` that
    the static configuration asks for.  Nothing when ``api`` is not configured.

    ``current`` returns the live graph; ``internal_services`` is read at request time (pass the
    app's own mapping, so the API lists every internal service, these included).
    """
    api = static.api
    if api is None:
        return {}, []
    assets = DashboardAssets(api.base_path) if api.dashboard else None
    handler = ApiHandler(static, current, internal_services, assets)
    services: dict[str, Handler] = {"api@internal": handler}
    routes: list[InternalRoute] = []
    base = base_path(api.base_path)
    if assets is not None:
        services["dashboard@internal"] = DashboardHandler(assets)
    if api.insecure:
        routes.append((INTERNAL_ENTRYPOINT, "api@internal", f"PathPrefix(`{base}api`)", MAX_PRIORITY - 1, handler))
        if assets is not None:
            routes.append((INTERNAL_ENTRYPOINT, "dashboard@internal", f"PathPrefix(`{base}`)", MAX_PRIORITY - 2,
                           services["dashboard@internal"]))
    return services, routes


__all__ = ["ApiHandler", "DashboardAssets", "DashboardHandler", "api_internals"]
