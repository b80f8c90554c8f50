"""Shared helpers of the access-control middleware tests (basic/digest/forward auth, IP lists,
limits, client certificates): in-memory exchanges for the pure parts, and the registry of the
middlewares under test for the end-to-end runs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from middlewares import (
    auth_basic,
    auth_digest,
    forward_auth,
    inflight,
    ipallowlist,
    passtlsclientcert,
    ratelimit,
)
from traefikpy.proxy.h1body import EmptyBody
from traefikpy.proxy.http import Exchange

REGISTRY: dict[str, Any] = {
    **auth_basic.FACTORIES, **auth_digest.FACTORIES, **forward_auth.FACTORIES, **inflight.FACTORIES,
    **ipallowlist.FACTORIES, **ratelimit.FACTORIES, **passtlsclientcert.FACTORIES,
}

INSECURE_FORWARDED = ["--entryPoints.web.forwardedHeaders.insecure=true"]
"""Entry point flag keeping the client's X-Forwarded-For (the IP strategies read it)."""


def exchange(
    headers: Iterable[tuple[str, str]] = (),
    *,
    client_ip: str = "127.0.0.1",
    method: str = "GET",
    target: str = "/",
    host: str = "a.test",
    tls: Any = None,
) -> Exchange:
    """An Exchange as the server would build it (no body, no writer: pure checks only)."""
    path, _, query = target.partition("?")
    return Exchange(
        method=method.encode(), raw_path=path.encode(), query=query.encode(), version=b"1.1",
        headers=[(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers], host=host,
        scheme="https" if tls is not None else "http", client_ip=client_ip, client_port=40000,
        entrypoint="web", body=EmptyBody(0), writer=None,  # type: ignore[arg-type]
        tls=tls,
    )


class BuildCtx:
    """A BuildContext for calling factories directly (build errors); spawns on the running loop."""

    def service(self, name: str) -> Any:
        raise ValueError(f"no service {name}")

    def spawn(self, coro: Any, name: str) -> Any:
        import asyncio

        return asyncio.get_running_loop().create_task(coro, name=name)
