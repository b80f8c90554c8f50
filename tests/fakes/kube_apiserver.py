"""A protocol-level fake kube-apiserver (aiohttp, real HTTP on 127.0.0.1) for the Ingress provider.

What it speaks, the way the real server does:

- lists: ``GET /api/v1[/namespaces/{ns}]/{services,secrets}``,
  ``/apis/networking.k8s.io/v1[/namespaces/{ns}]/ingresses``, ``/apis/networking.k8s.io/v1/ingressclasses``,
  ``/apis/discovery.k8s.io/v1[/namespaces/{ns}]/endpointslices``; ``labelSelector`` (``k=v``,
  ``k!=v``, ``k``, ``!k``, comma = and); the list's ``metadata.resourceVersion`` is the store's;
- watches: the same paths with ``watch=true&resourceVersion=N``: a chunked stream of JSON lines
  ``{"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR, "object": ...}``; the events after ``N`` are
  replayed from history, then live ones follow; ``allowWatchBookmarks`` adds BOOKMARK events every
  ``bookmark_interval``; ``timeoutSeconds`` ends the stream; a ``resourceVersion`` older than the
  compacted history (:meth:`compact`) gets an ``ERROR`` event with a ``410 Expired`` Status
  (``gone_as_http=True``: an HTTP 410 answer instead);
- ``PUT .../namespaces/{ns}/ingresses/{name}/status``: replaces the status (409 on a stale
  ``resourceVersion``), bumps the resourceVersion, emits MODIFIED; every PUT is recorded in
  ``status_puts``;
- a bearer ``token`` when set (401 otherwise).

:meth:`outage` closes the listening socket and every open connection (connection refused);
:meth:`restore` listens again on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

RESOURCES: dict[str, tuple[str, str, bool]] = {
    # plural -> (group path, kind, namespaced)
    "services": ("/api/v1", "Service", True),
    "secrets": ("/api/v1", "Secret", True),
    "ingresses": ("/apis/networking.k8s.io/v1", "Ingress", True),
    "ingressclasses": ("/apis/networking.k8s.io/v1", "IngressClass", False),
    "endpointslices": ("/apis/discovery.k8s.io/v1", "EndpointSlice", True),
}
API_VERSIONS = {"/api/v1": "v1", "/apis/networking.k8s.io/v1": "networking.k8s.io/v1",
                "/apis/discovery.k8s.io/v1": "discovery.k8s.io/v1"}


@dataclass
class Event:
    rv: int
    plural: str
    type: str
    obj: dict[str, Any]


def _matches_selector(labels: dict[str, str], selector: str) -> bool:
    for term in (t.strip() for t in selector.split(",") if t.strip()):
        if "!=" in term:
            key, value = (p.strip() for p in term.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = (p.strip() for p in term.replace("==", "=").split("=", 1))
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True


class FakeKubeAPI:
    def __init__(self, *, token: str = "", bookmark_interval: float = 0.2, gone_as_http: bool = False,
                 ssl_context: Any = None) -> None:
        self.token = token
        self.ssl_context = ssl_context  # serve HTTPS with it
        self.bookmark_interval = bookmark_interval
        self.gone_as_http = gone_as_http
        self.rv = 100
        self.store: dict[str, dict[tuple[str, str], dict[str, Any]]] = {p: {} for p in RESOURCES}
        self.history: list[Event] = []
        self.compacted = 0  # watches from a resourceVersion below this get 410
        self.status_puts: list[tuple[str, str, Any]] = []
        self.fail_status = 0  # answer this many status PUTs with 500
        self.forbidden: set[str] = set()  # plurals the caller may not read (RBAC): 403
        self.requests: list[tuple[str, str]] = []  # (method, path_qs)
        self.watchers: set[asyncio.Queue[Event | None]] = set()
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._streams: set[web.StreamResponse] = set()

    # -- lifecycle -------------------------------------------------------------------------------
    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self._app(), shutdown_timeout=0.5, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=self.ssl_context)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"{'https' if self.ssl_context is not None else 'http'}://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        for queue in list(self.watchers):
            queue.put_nowait(None)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def outage(self) -> None:
        """The API server goes away: no listener, open watch streams cut."""
        await self.stop()

    async def restore(self) -> None:
        await self.start()

    # -- state changes (tests call these) --------------------------------------------------------
    def _key(self, plural: str, obj: dict[str, Any]) -> tuple[str, str]:
        meta = obj.setdefault("metadata", {})
        namespaced = RESOURCES[plural][2]
        if namespaced:
            meta.setdefault("namespace", "default")
        return (meta.get("namespace", "") if namespaced else "", meta["name"])

    def _emit(self, plural: str, kind: str, obj: dict[str, Any]) -> None:
        event = Event(self.rv, plural, kind, copy.deepcopy(obj))
        self.history.append(event)
        for queue in list(self.watchers):
            queue.put_nowait(event)

    def apply(self, plural: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Create or replace an object (ADDED or MODIFIED)."""
        obj = copy.deepcopy(obj)
        group, kind, _ = RESOURCES[plural]
        obj.setdefault("apiVersion", API_VERSIONS[group])
        obj.setdefault("kind", kind)
        key = self._key(plural, obj)
        existed = key in self.store[plural]
        if existed and "status" not in obj and "status" in self.store[plural][key]:
            obj["status"] = self.store[plural][key]["status"]
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        obj["metadata"].setdefault("uid", f"uid-{plural}-{key[0]}-{key[1]}")
        self.store[plural][key] = obj
        self._emit(plural, "MODIFIED" if existed else "ADDED", obj)
        return obj

    def delete(self, plural: str, namespace: str, name: str) -> None:
        key = ("" if not RESOURCES[plural][2] else namespace, name)
        obj = self.store[plural].pop(key)
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self._emit(plural, "DELETED", obj)

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.store[plural].get((namespace if RESOURCES[plural][2] else "", name))

    def compact(self) -> None:
        """Forget the history (etcd compaction) and end the open watches, as an API server restart
        does: every resourceVersion handed out so far is now too old to watch from (410)."""
        self.rv += 1
        self.compacted = self.rv
        self.history.clear()
        self.end_watches()

    def end_watches(self) -> None:
        """End every open watch stream cleanly (the client watches again from its resourceVersion)."""
        for queue in list(self.watchers):
            queue.put_nowait(None)

    def watch_requests(self, plural: str) -> int:
        return sum(1 for m, p in self.requests if m == "GET" and f"/{plural}?" in p and "watch=true" in p.lower())

    def list_requests(self, plural: str) -> int:
        return sum(1 for m, p in self.requests
                   if m == "GET" and (p.endswith(f"/{plural}") or f"/{plural}?" in p) and "watch=true" not in p.lower())

    # -- HTTP ------------------------------------------------------------------------------------
    def _route(self, path: str) -> tuple[str, str, str, str] | None:
        """(group, namespace, plural, subpath) of a path."""
        for group in API_VERSIONS:
            if not path.startswith(group + "/"):
                continue
            parts = path[len(group) + 1:].split("/")
            namespace = ""
            if len(parts) >= 3 and parts[0] == "namespaces":
                namespace = parts[1]
                parts = parts[2:]
            if not parts or parts[0] not in RESOURCES or RESOURCES[parts[0]][0] != group:
                return None
            return group, namespace, parts[0], "/".join(parts[1:])
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.method, request.path_qs))
        if self.token and request.headers.get("Authorization") != f"Bearer {self.token}":
            return self._status(401, "Unauthorized", "Unauthorized")
        route = self._route(request.path)
        if route is None:
            return self._status(404, "NotFound", f"the server could not find {request.path}")
        group, namespace, plural, sub = route
        if plural in self.forbidden:
            return self._status(403, "Forbidden", f'{plural} is forbidden: User "system:serviceaccount:x" '
                                f'cannot list resource "{plural}"')
        if request.method == "GET" and not sub:
            if request.query.get("watch", "").lower() in ("true", "1"):
                return await self._watch(request, namespace, plural)
            return self._list(request, group, namespace, plural)
        if request.method == "GET" and "/" not in sub:
            obj = self.store[plural].get((namespace, sub))
            if obj is None:
                return self._status(404, "NotFound", f'{plural} "{sub}" not found')
            return web.json_response(obj)
        if request.method == "PUT" and plural == "ingresses" and sub.endswith("/status"):
            return await self._put_status(request, namespace, sub[: -len("/status")])
        return self._status(405, "MethodNotAllowed", "method not allowed")

    @staticmethod
    def _status(code: int, reason: str, message: str) -> web.Response:
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": message, "reason": reason, "code": code}
        return web.json_response(body, status=code)

    def _visible(self, plural: str, namespace: str, selector: str, obj: dict[str, Any]) -> bool:
        meta = obj.get("metadata", {})
        if namespace and meta.get("namespace") != namespace:
            return False
        return not selector or _matches_selector(meta.get("labels") or {}, selector)

    def _list(self, request: web.Request, group: str, namespace: str, plural: str) -> web.Response:
        selector = request.query.get("labelSelector", "")
        items = [copy.deepcopy(o) for _, o in sorted(self.store[plural].items())
                 if self._visible(plural, namespace, selector, o)]
        kind = RESOURCES[plural][1]
        return web.json_response({"kind": f"{kind}List", "apiVersion": API_VERSIONS[group],
                                  "metadata": {"resourceVersion": str(self.rv)}, "items": items})

    async def _watch(self, request: web.Request, namespace: str, plural: str) -> web.StreamResponse:
        selector = request.query.get("labelSelector", "")
        since = int(request.query.get("resourceVersion") or self.rv)
        timeout = float(request.query.get("timeoutSeconds") or 0) or None
        bookmarks = request.query.get("allowWatchBookmarks", "").lower() in ("true", "1")
        gone = since < self.compacted
        if gone and self.gone_as_http:
            return self._status(410, "Expired", f"too old resource version: {since} ({self.compacted})")
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        self._streams.add(resp)
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self.watchers.add(queue)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout if timeout else None
        try:
            if gone:
                status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                          "message": f"too old resource version: {since} ({self.compacted})",
                          "reason": "Expired", "code": 410}
                await resp.write(json.dumps({"type": "ERROR", "object": status}).encode() + b"\n")
                return resp
            for event in [e for e in self.history if e.rv > since]:
                queue.put_nowait(event)
            last_bookmark = loop.time()
            while True:
                wait = self.bookmark_interval if bookmarks else 1.0
                if deadline is not None:
                    wait = min(wait, deadline - loop.time())
                    if wait <= 0:
                        break
                try:
                    event = await asyncio.wait_for(queue.get(), max(wait, 0.001))
                except TimeoutError:
                    event = None
                    if bookmarks and loop.time() - last_bookmark >= self.bookmark_interval:
                        kind = RESOURCES[plural][1]
                        mark = {"kind": kind, "apiVersion": API_VERSIONS[RESOURCES[plural][0]],
                                "metadata": {"resourceVersion": str(self.rv)}}
                        await resp.write(json.dumps({"type": "BOOKMARK", "object": mark}).encode() + b"\n")
                        last_bookmark = loop.time()
                    continue
                if event is None:
                    break
                if event.plural != plural or event.rv <= since:
                    continue
                if not self._visible(plural, namespace, selector, event.obj):
                    continue
                await resp.write(json.dumps({"type": event.type, "object": event.obj}).encode() + b"\n")
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        finally:
            self.watchers.discard(queue)
            self._streams.discard(resp)
        with contextlib.suppress(ConnectionResetError):
            await resp.write_eof()
        return resp

    async def _put_status(self, request: web.Request, namespace: str, name: str) -> web.Response:
        key = (namespace, name)
        current = self.store["ingresses"].get(key)
        if current is None:
            return self._status(404, "NotFound", f'ingresses.networking.k8s.io "{name}" not found')
        body = await request.json()
        self.status_puts.append((namespace, name, copy.deepcopy(body.get("status"))))
        if self.fail_status > 0:
            self.fail_status -= 1
            return self._status(500, "InternalError", "etcdserver: request timed out")
        sent_rv = (body.get("metadata") or {}).get("resourceVersion")
        if sent_rv and sent_rv != current["metadata"]["resourceVersion"]:
            return self._status(409, "Conflict", "the object has been modified; please apply your changes "
                                "to the latest version and try again")
        updated = copy.deepcopy(current)
        updated["status"] = body.get("status") or {}
        self.rv += 1
        updated["metadata"]["resourceVersion"] = str(self.rv)
        self.store["ingresses"][key] = updated
        self._emit("ingresses", "MODIFIED", updated)
        return web.json_response(updated)
