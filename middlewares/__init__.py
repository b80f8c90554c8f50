"""HTTP middlewares: one factory per Traefik middleware type, registered by its config key.

A factory is ``build(options, next, name, ctx) -> Handler`` (``ctx``: :class:`BuildContext`): it
precomputes everything from the option model at build time and returns the handler that wraps
``next``.  Each module exports ``FACTORIES``; :data:`REGISTRY` below is the only list of them, and
the composition root (``traefikpy.app``) hands it to the compiler.
"""

from __future__ import annotations

from middlewares import (
    auth_basic,
    auth_digest,
    buffering,
    cache,
    circuitbreaker,
    compress,
    content,
    errors_pages,
    forward_auth,
    grpcweb,
    headers,
    inflight,
    ipallowlist,
    passtlsclientcert,
    paths,
    plugins,
    ratelimit,
    redirect,
    retry,
)
from traefikpy.proxy.http import MiddlewareFactory

_MODULES = (
    auth_basic, auth_digest, buffering, cache, circuitbreaker, compress, content, errors_pages,
    forward_auth, grpcweb, headers, inflight, ipallowlist, passtlsclientcert, paths, plugins, ratelimit,
    redirect, retry,
)

REGISTRY: dict[str, MiddlewareFactory] = {}
for _module in _MODULES:
    REGISTRY.update(_module.FACTORIES)
