"""The API test rig: a real App with two providers (``file`` and ``docker``), the API on the
``traefik`` entry point (``api.insecure``), a real backend, and a real HTTP client.

``Rig.get(path)`` returns ``(status, headers, body)`` with the body parsed as JSON when it is
JSON.  The middleware registry is a tiny one of the tests' own (``basicAuth`` checking htpasswd
``{SHA}`` hashes, ``addPrefix``), so these tests do not depend on the middlewares package.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import socket
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import aiohttp
from yarl import URL

from tests.harness import FeedProvider
from tests.proxy.backends import Backend
from traefikpy.app import App
from traefikpy.config.sources import load_static
from traefikpy.proxy.http import BuildContext, Exchange, Handler

# "admin" / "secret" as an htpasswd {SHA} entry
ADMIN = "admin:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ="


def check_sha(password: str, secret: str) -> bool:
    """htpasswd ``{SHA}`` check (the only hash the tests' basicAuth needs)."""
    digest = "{SHA}" + base64.b64encode(hashlib.sha1(password.encode()).digest()).decode()
    return hmac.compare_digest(digest, secret)


def basic_auth(cfg: Any, nxt: Handler, name: str, ctx: BuildContext) -> Handler:
    users = {}
    for entry in cfg.users or []:
        user, _, secret = entry.partition(":")
        users[user] = secret

    async def handler(ex: Exchange) -> None:
        header = ex.header(b"authorization") or b""
        if header[:6].lower() == b"basic ":
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            if user in users and check_sha(password, users[user]):
                await nxt(ex)
                return
        await ex.respond(401, b"401 Unauthorized\n", [(b"WWW-Authenticate", b'Basic realm="traefik"')])

    return handler


def add_prefix(cfg: Any, nxt: Handler, name: str, ctx: BuildContext) -> Handler:
    prefix = cfg.prefix.encode()

    async def handler(ex: Exchange) -> None:
        ex.raw_path = prefix + ex.raw_path
        ex.path = ex.raw_path.decode("latin-1")
        await nxt(ex)

    return handler


REGISTRY = {"basicAuth": basic_auth, "addPrefix": add_prefix}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Rig:
    def __init__(self, app: App, file: FeedProvider, docker: FeedProvider, session: aiohttp.ClientSession,
                 backend: Backend) -> None:
        self.app = app
        self.file = file
        self.docker = docker
        self.session = session
        self.backend = backend

    def url(self, path: str, entrypoint: str = "traefik") -> str:
        return f"http://127.0.0.1:{self.app.port(entrypoint)}{path}"

    async def push(self, file: Mapping[str, Any] | None = None, docker: Mapping[str, Any] | None = None) -> None:
        """Publish configurations, one provider at a time, each time waiting until it is live."""
        for provider, config in ((self.file, file), (self.docker, docker)):
            if config is None:
                continue
            before = self.app.reloads
            provider.push(config)
            for _ in range(500):
                if self.app.reloads > before:
                    break
                await asyncio.sleep(0.01)
            else:
                raise TimeoutError("configuration not applied")

    async def get(self, path: str, entrypoint: str = "traefik", **kwargs: Any) -> tuple[int, Any, Any]:
        # encoded=True: the path goes out byte for byte (the client would re-quote a bad escape)
        async with self.session.get(URL(self.url(path, entrypoint), encoded=True), allow_redirects=False,
                                    **kwargs) as resp:
            raw = await resp.read()
            body: Any = raw
            if resp.headers.get("Content-Type", "").startswith("application/json"):
                body = json.loads(raw)
            return resp.status, resp.headers, body

    async def json(self, path: str) -> Any:
        status, _, body = await self.get(path)
        assert status == 200, (path, status, body)
        return body


@contextlib.asynccontextmanager
async def rig(flags: Sequence[str] = ("--api.insecure=true",),
              entrypoints: Sequence[str] = ("web", "traefik")) -> AsyncIterator[Rig]:
    argv = [f"--entryPoints.{ep}.address=127.0.0.1:0" for ep in entrypoints]
    static = load_static([*argv, *flags], {}, search=False)
    file, docker = FeedProvider("file"), FeedProvider("docker")
    app = App(static, providers=[file, docker], middlewares=REGISTRY)
    backend = await Backend.start()
    await app.start()
    session = aiohttp.ClientSession(auto_decompress=False)
    try:
        yield Rig(app, file, docker, session, backend)
    finally:
        await session.close()
        await app.stop()
        await backend.stop()


def sample(backend_url: str, dead_url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The two providers' configurations most tests use: ``x@file`` and ``y@docker`` work, ``broken@file``
    has an invalid rule, ``lost@file`` names a missing service, ``svc@file`` has one dead server."""
    file = {"http": {
        "routers": {
            "x": {"rule": "Host(`x.test`) && PathPrefix(`/app`)", "service": "svc", "middlewares": ["auth"],
                  "entryPoints": ["web"]},
            "broken": {"rule": "Host(`b.test`", "service": "svc", "entryPoints": ["web"]},
            "lost": {"rule": "Host(`l.test`)", "service": "nowhere", "entryPoints": ["web"], "priority": 5},
        },
        "services": {"svc": {"loadBalancer": {
            "servers": [{"url": backend_url}, {"url": dead_url}],
            "healthCheck": {"path": "/echo", "interval": "50ms", "timeout": "500ms"}}}},
        "middlewares": {"auth": {"basicAuth": {"users": [ADMIN]}}},
    }}
    docker = {"http": {
        "routers": {"y": {"rule": "Host(`y.test`)", "service": "svc", "middlewares": ["auth@file"],
                          "entryPoints": ["web"]}},
        "services": {"svc": {"loadBalancer": {"servers": [{"url": backend_url}]}}},
    }}
    return file, docker


async def wait_for(predicate: Any, timeout: float = 5.0) -> None:
    """Poll ``await predicate()`` until true (bounded)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.02)
