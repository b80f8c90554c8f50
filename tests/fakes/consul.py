"""A protocol-level fake of Consul's HTTP API (aiohttp) for tests driven by the real client.

:class:`FakeConsul` owns what every Consul endpoint shares (the Raft-like ``index``, blocking
query waits, ACL token check, namespaces, the server's start/stop on a fixed port) and the KV
store.  Other endpoint groups (catalog, health) compose with it: add routes next to
:meth:`FakeConsul.kv_routes` in :meth:`FakeConsul.routes`' list, bump :meth:`FakeConsul.bump` on
every write, and answer blocking queries with :meth:`FakeConsul.block`.

KV behaviour mirrored from Consul (``/v1/kv``):

* ``GET /v1/kv/<key>``: ``[entry]`` or 404; ``?recurse`` lists the prefix (404 when empty);
  ``?keys`` (with ``separator``) lists key names; ``?raw`` returns the bare value.  Entries are
  ``{"LockIndex", "Key", "Flags", "Value" (base64, null for no value), "CreateIndex",
  "ModifyIndex"}``.
* ``X-Consul-Index`` on every read: the highest ModifyIndex of the matched entries and of the
  deletions under the prefix, else the whole table's index.  ``?index=N&wait=D`` blocks until
  that index exceeds N or D (default 5m, at most 10m) passes, then answers the current state.
* ``PUT /v1/kv/<key>`` (body = value; ``?flags``; ``?cas``: 0 = create only) → ``true``/``false``;
  ``DELETE /v1/kv/<key>`` (``?recurse``) → ``true``.
* Namespaces: ``?ns=`` or the ``X-Consul-Namespace`` header, ``default`` otherwise.
* ACL: with ``token`` set, a request without that token (``X-Consul-Token``, ``Authorization:
  Bearer``, ``?token=``) gets 403 ``Permission denied``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from traefikpy.config.base import parse_duration

MAX_WAIT = 600.0


@dataclass
class KVEntry:
    value: bytes | None
    create_index: int
    modify_index: int
    flags: int = 0

    def json(self, key: str) -> dict[str, object]:
        return {"LockIndex": 0, "Key": key, "Flags": self.flags,
                "Value": base64.b64encode(self.value).decode() if self.value is not None else None,
                "CreateIndex": self.create_index, "ModifyIndex": self.modify_index}


@dataclass
class Namespace:
    entries: dict[str, KVEntry] = field(default_factory=dict)
    tombstones: dict[str, int] = field(default_factory=dict)  # deleted key -> index of the delete


class FakeConsul:
    def __init__(self, token: str | None = None) -> None:
        self.token = token
        self.index = 1
        self.kv_index = 0  # the KV table's index (last KV write in any namespace)
        self.namespaces: dict[str, Namespace] = {"default": Namespace()}
        self.requests: list[tuple[str, str]] = []  # (method, path_qs) of every request
        self.port = 0
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    # ---------------------------------------------------------------- shared machinery

    async def bump(self) -> int:
        """Advance the index after a write and wake the blocking queries."""
        self.index += 1
        async with self._changed:
            self._changed.notify_all()
        return self.index

    async def block(self, request: web.Request, current: Callable[[], int]) -> None:
        """Consul's blocking query: wait while ``current()`` ≤ ``?index`` (at most ``?wait``)."""
        raw = request.query.get("index")
        if raw is None:
            return
        index = int(raw)
        wait = min(parse_duration(request.query.get("wait", "5m")), MAX_WAIT)
        deadline = time.monotonic() + wait
        async with self._changed:
            while current() <= index:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                try:
                    await asyncio.wait_for(self._changed.wait(), left)
                except TimeoutError:
                    return

    def denied(self, request: web.Request) -> web.Response | None:
        if self.token is None:
            return None
        given = (request.headers.get("X-Consul-Token") or request.query.get("token")
                 or request.headers.get("Authorization", "").removeprefix("Bearer ").strip())
        if given == self.token:
            return None
        return web.Response(status=403, text="Permission denied")

    def namespace(self, request: web.Request, create: bool = False) -> Namespace | None:
        name = request.query.get("ns") or request.headers.get("X-Consul-Namespace") or "default"
        if create:
            return self.namespaces.setdefault(name, Namespace())
        return self.namespaces.get(name)

    def headers(self, index: int) -> dict[str, str]:
        return {"X-Consul-Index": str(index), "X-Consul-KnownLeader": "true", "X-Consul-LastContact": "0"}

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable[..., object]) -> web.StreamResponse:
        self.requests.append((request.method, request.path_qs))
        denied = self.denied(request)
        if denied is not None:
            return denied
        response = await handler(request)  # type: ignore[misc]
        assert isinstance(response, web.StreamResponse)
        return response

    def routes(self) -> list[web.RouteDef]:
        return self.kv_routes()

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.add_routes(self.routes())
        return app

    async def start(self, port: int = 0, ssl_context: ssl.SSLContext | None = None) -> None:
        """Serve on 127.0.0.1 (``port`` 0: a free one; the same port again after :meth:`stop`),
        over HTTPS with ``ssl_context``."""
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port or self.port, reuse_address=True,
                           ssl_context=ssl_context)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        """Close the listener and every connection (blocking queries see a dropped connection)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    # ---------------------------------------------------------------- KV

    def kv_routes(self) -> list[web.RouteDef]:
        return [
            web.get("/v1/kv/{key:.*}", self._kv_get),
            web.put("/v1/kv/{key:.*}", self._kv_put),
            web.delete("/v1/kv/{key:.*}", self._kv_delete),
        ]

    async def put(self, key: str, value: str | bytes | None, ns: str = "default", flags: int = 0) -> None:
        """Write a key directly (as another Consul client would)."""
        space = self.namespaces.setdefault(ns, Namespace())
        index = await self.bump()
        data = value.encode() if isinstance(value, str) else value
        old = space.entries.get(key)
        space.entries[key] = KVEntry(data, old.create_index if old else index, index, flags)
        space.tombstones.pop(key, None)
        self.kv_index = index

    async def delete(self, key: str, recurse: bool = False, ns: str = "default") -> None:
        space = self.namespaces.setdefault(ns, Namespace())
        doomed = [k for k in space.entries if k.startswith(key)] if recurse else [key] if key in space.entries else []
        if not doomed:
            return
        index = await self.bump()
        for k in doomed:
            del space.entries[k]
            space.tombstones[k] = index
        self.kv_index = index

    def _kv_index(self, space: Namespace | None, prefix: str, recurse: bool) -> int:
        if space is None:
            return self.kv_index or 1
        if recurse:
            found = [e.modify_index for k, e in space.entries.items() if k.startswith(prefix)]
            found += [i for k, i in space.tombstones.items() if k.startswith(prefix)]
        else:
            entry = space.entries.get(prefix)
            found = [entry.modify_index] if entry else [space.tombstones.get(prefix, 0)]
        best = max(found, default=0)
        if not prefix and recurse:
            best = self.kv_index
        return best or self.kv_index or 1

    async def _kv_get(self, request: web.Request) -> web.Response:
        key = request.match_info["key"]
        recurse = "recurse" in request.query
        keys_only = "keys" in request.query
        listing = recurse or keys_only

        def current() -> int:
            return self._kv_index(self.namespace(request), key, listing)

        await self.block(request, current)
        space = self.namespace(request)
        index = current()
        entries = space.entries if space is not None else {}
        if keys_only:
            separator = request.query.get("separator", "")
            names: list[str] = []
            for k in sorted(entries):
                if not k.startswith(key):
                    continue
                if separator and separator in k[len(key):]:
                    k = k[: len(key) + k[len(key):].index(separator) + len(separator)]
                if k not in names:
                    names.append(k)
            if not names:
                return web.Response(status=404, headers=self.headers(index))
            return web.json_response(names, headers=self.headers(index))
        if recurse:
            matched = [entries[k].json(k) for k in sorted(entries) if k.startswith(key)]
        else:
            matched = [entries[key].json(key)] if key in entries else []
        if not matched:
            return web.Response(status=404, headers=self.headers(index))
        if "raw" in request.query and not recurse:
            value = entries[key].value or b""
            return web.Response(body=value, headers=self.headers(index))
        return web.Response(text=json.dumps(matched), content_type="application/json", headers=self.headers(index))

    async def _kv_put(self, request: web.Request) -> web.Response:
        key = request.match_info["key"]
        space = self.namespace(request, create=True)
        assert space is not None
        cas = request.query.get("cas")
        if cas is not None:
            entry = space.entries.get(key)
            if (entry.modify_index if entry else 0) != int(cas):
                return web.json_response(False)
        body = await request.read()
        ns = request.query.get("ns") or request.headers.get("X-Consul-Namespace") or "default"
        await self.put(key, body or None, ns=ns, flags=int(request.query.get("flags", "0")))
        return web.json_response(True)

    async def _kv_delete(self, request: web.Request) -> web.Response:
        ns = request.query.get("ns") or request.headers.get("X-Consul-Namespace") or "default"
        await self.delete(request.match_info["key"], recurse="recurse" in request.query, ns=ns)
        return web.json_response(True)

    def __repr__(self) -> str:
        keys = sum(len(n.entries) for n in self.namespaces.values())
        return f"<FakeConsul {self.address} index={self.index} keys={keys}>"
