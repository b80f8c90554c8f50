"""ACME certificates resolvers (``certificatesResolvers.<name>.acme``).

* ``storage``: Traefik's ``acme.json`` layout, atomic 0600 writes, too-open files refused;
* ``client``: the blocking ACME exchanges on the ``acme`` library (run in a worker thread);
* ``challenges``: HTTP-01 tokens (``acme-http@internal``) and TLS-ALPN-01 certificates;
* ``resolver``: one resolver's orders, renewals and provider snapshots;
* ``dns``: DNS-01 providers.

:class:`CertResolvers` is what the App wires: the resolvers (also configuration providers),
the HTTP-01 router, the TLS-ALPN-01 lookup, and the domains fed after each compile.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from typing import Any

from traefikpy.acme.challenges import HTTP_CHALLENGE_ROUTER, HTTP_CHALLENGE_RULE, Challenges
from traefikpy.acme.resolver import Resolver, build_resolvers
from traefikpy.compiler import MAX_PRIORITY
from traefikpy.config.merge import Merged
from traefikpy.config.static import StaticConfig

log = logging.getLogger("traefikpy.acme")


class CertResolvers:
    """Every ACME resolver of the static configuration and what they share."""

    def __init__(self, static: StaticConfig) -> None:
        self.challenges = Challenges()
        self.resolvers: list[Resolver] = build_resolvers(static, self.challenges)
        self._reported: set[tuple[str, str]] = set()  # (router, unknown resolver) already logged

    def internal_routes(self, priority: int = MAX_PRIORITY) -> list[tuple[str, str, str, int, Any]]:
        """``acme-http@internal`` on each ``httpChallenge.entryPoint`` (once per entry point)."""
        eps = sorted({r.cfg.http_challenge.entry_point for r in self.resolvers
                      if r.cfg.http_challenge is not None and r.cfg.http_challenge.entry_point})
        return [(ep, HTTP_CHALLENGE_ROUTER, HTTP_CHALLENGE_RULE, priority, self.challenges.http_handler) for ep in eps]

    def alpn_context(self, server_name: str) -> ssl.SSLContext | None:
        return self.challenges.alpn_context(server_name)

    def routers_changed(self, merged: Merged, served: Callable[[str], object] | None = None) -> None:
        """Feed the routers of a new configuration; ``served`` tells which names the TLS store
        already has a certificate for (those are not ordered)."""
        for resolver in self.resolvers:
            resolver.routers_changed(merged, served)
        known = {r.resolver for r in self.resolvers}
        for name, router in merged.config.http.routers.items():
            wanted = router.tls.cert_resolver if router.tls is not None else ""
            if wanted and wanted not in known and (name, wanted) not in self._reported:
                self._reported.add((name, wanted))
                log.error("router %s uses a nonexistent certificate resolver: %s", name, wanted)

    def get(self, name: str) -> Resolver:
        return next(r for r in self.resolvers if r.resolver == name)

    async def start(self) -> None:
        for resolver in self.resolvers:
            await resolver.start()

    async def close(self) -> None:
        await asyncio.gather(*(r.close() for r in self.resolvers))


__all__ = ["CertResolvers", "Challenges", "Resolver"]
