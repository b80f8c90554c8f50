"""Catalog and health endpoints for the fake Consul (:class:`tests.fakes.consul.FakeConsul`).

:class:`FakeConsulCatalog` adds, next to the KV routes:

* ``GET /v1/catalog/services``: ``{name: [tags of every instance]}``;
* ``GET /v1/health/service/<name>``: ``[{"Node", "Service", "Checks"}]`` per instance, filtered by
  ``?tag=`` (repeatable: every tag must be present) and ``?passing``;
* ``GET /v1/health/state/<state>``: the checks in that state (``any``: all);
* ``PUT /v1/agent/service/register`` and ``PUT /v1/agent/service/deregister/<id>`` (enough of
  the agent API for a client to register instances).

Every read carries ``X-Consul-Index`` and honours blocking queries (``?index=N&wait=D``): the
catalog index moves when services or their tags change, a service's health index when one of its
instances or checks changes, the state index when any check changes.  Namespaces come from
``?ns=`` (``default`` otherwise); ``?dc=``, ``?stale``, ``?consistent`` and ``?cached`` are
accepted and recorded in :attr:`FakeConsul.requests`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.consul import FakeConsul


@dataclass
class Instance:
    id: str
    name: str
    node: str = "node1"
    node_address: str = "127.0.0.1"
    address: str = ""
    port: int = 0
    tags: list[str] = field(default_factory=list)
    status: str = "passing"  # of the service check
    node_status: str = "passing"  # of the node's serfHealth check
    datacenter: str = "dc1"
    namespace: str = "default"
    index: int = 0  # last change

    def checks(self) -> list[dict[str, Any]]:
        return [
            {"Node": self.node, "CheckID": "serfHealth", "Name": "Serf Health Status", "Status": self.node_status,
             "ServiceID": "", "ServiceName": "", "ModifyIndex": self.index},
            {"Node": self.node, "CheckID": f"service:{self.id}", "Name": f"Service '{self.name}' check",
             "Status": self.status, "ServiceID": self.id, "ServiceName": self.name, "ModifyIndex": self.index},
        ]

    def entry(self) -> dict[str, Any]:
        return {
            "Node": {"ID": "", "Node": self.node, "Address": self.node_address, "Datacenter": self.datacenter},
            "Service": {"ID": self.id, "Service": self.name, "Tags": list(self.tags), "Address": self.address,
                        "Port": self.port, "Namespace": self.namespace, "Meta": {}},
            "Checks": self.checks(),
        }


class FakeConsulCatalog(FakeConsul):
    """The fake Consul with KV, catalog and health endpoints."""

    def __init__(self, token: str | None = None) -> None:
        super().__init__(token)
        self.instances: dict[str, Instance] = {}  # by "<namespace>/<id>"
        self.catalog_index = 1
        self.state_index = 1
        self.service_index: dict[tuple[str, str], int] = {}  # (namespace, name) -> index

    def routes(self) -> list[web.RouteDef]:
        return [*self.kv_routes(), *self.catalog_routes()]

    def catalog_routes(self) -> list[web.RouteDef]:
        return [
            web.get("/v1/catalog/services", self._services),
            web.get("/v1/health/service/{name}", self._health_service),
            web.get("/v1/health/state/{state}", self._health_state),
            web.put("/v1/agent/service/register", self._register),
            web.put("/v1/agent/service/deregister/{id}", self._deregister),
        ]

    # ------------------------------------------------------------ driving the fake

    async def register(self, instance: Instance) -> None:
        """Add or replace an instance (as ``consul services register`` would)."""
        index = await self.bump()
        instance.index = index
        self.instances[f"{instance.namespace}/{instance.id}"] = instance
        self.catalog_index = self.state_index = index
        self.service_index[(instance.namespace, instance.name)] = index

    async def deregister(self, service_id: str, namespace: str = "default") -> None:
        instance = self.instances.pop(f"{namespace}/{service_id}", None)
        if instance is None:
            return
        index = await self.bump()
        self.catalog_index = self.state_index = index
        self.service_index[(namespace, instance.name)] = index

    async def set_status(self, service_id: str, status: str, namespace: str = "default", node: bool = False) -> None:
        """Change the service check (or the node check) of an instance."""
        instance = self.instances[f"{namespace}/{service_id}"]
        index = await self.bump()
        if node:
            instance.node_status = status
        else:
            instance.status = status
        instance.index = index
        self.state_index = index
        self.service_index[(namespace, instance.name)] = index

    # ------------------------------------------------------------ endpoints

    def _space(self, request: web.Request) -> str:
        return request.query.get("ns") or request.headers.get("X-Consul-Namespace") or "default"

    def _in(self, namespace: str) -> list[Instance]:
        return [i for k, i in sorted(self.instances.items()) if k.startswith(namespace + "/")]

    async def _services(self, request: web.Request) -> web.Response:
        await self.block(request, lambda: self.catalog_index)
        catalog: dict[str, list[str]] = {}
        for instance in self._in(self._space(request)):
            tags = catalog.setdefault(instance.name, [])
            tags.extend(t for t in instance.tags if t not in tags)
        return web.json_response(catalog, headers=self.headers(self.catalog_index))

    async def _health_service(self, request: web.Request) -> web.Response:
        space, name = self._space(request), request.match_info["name"]

        def current() -> int:
            return self.service_index.get((space, name), self.catalog_index)

        await self.block(request, current)
        wanted = request.query.getall("tag", [])
        passing = "passing" in request.query
        out = [i.entry() for i in self._in(space)
               if i.name == name and all(t in i.tags for t in wanted)
               and not (passing and (i.status != "passing" or i.node_status != "passing"))]
        return web.json_response(out, headers=self.headers(current()))

    async def _health_state(self, request: web.Request) -> web.Response:
        await self.block(request, lambda: self.state_index)
        state = request.match_info["state"]
        checks = [c for i in self._in(self._space(request)) for c in i.checks() if state in ("any", c["Status"])]
        return web.json_response(checks, headers=self.headers(self.state_index))

    async def _register(self, request: web.Request) -> web.Response:
        body = await request.json()
        check = body.get("Check") or {}
        await self.register(Instance(
            id=body.get("ID") or body["Name"], name=body["Name"], address=body.get("Address", ""),
            port=int(body.get("Port") or 0), tags=list(body.get("Tags") or []),
            status=check.get("Status", "passing") if check else "passing", namespace=self._space(request)))
        return web.Response(status=200)

    async def _deregister(self, request: web.Request) -> web.Response:
        await self.deregister(request.match_info["id"], self._space(request))
        return web.Response(status=200)
