"""HTTP middlewares: one factory per Traefik middleware type, registered by its config key.

A factory is ``build(options, next, name, ctx) -> Handler`` (``ctx``: :class:`BuildContext`): it precomputes everything from the option
model at build time and returns the handler that wraps ``next``.  :data:`REGISTRY` is the only list
of them; the composition root (``traefikpy.app``) hands it to the compiler.
"""

from __future__ import annotations

from traefikpy.proxy.http import MiddlewareFactory

REGISTRY: dict[str, MiddlewareFactory] = {}
