"""Plugins: third-party middlewares installed as Python packages, configured like Traefik's plugins.

A package declares an entry point in the group ``traefikpy.middlewares``; its name is the plugin
name used in the dynamic configuration::

    # the plugin's pyproject.toml
    [project.entry-points."traefikpy.middlewares"]
    example = "traefikpy_example_plugin"

    # dynamic configuration (same shape as Traefik: http.middlewares.<name>.plugin.<plugin>)
    http:
      middlewares:
        my-example:
          plugin:
            example:
              headers: {X-Example: "yes"}

The entry point resolves to an object (a module, a class...) with two attributes:

* ``Config``: a pydantic model class; the middleware's options are validated with
  ``Config.model_validate(options)`` (labels and KV stores give every value as a string, so the
  model should not be strict);
* ``build(config, next, name, ctx) -> Handler``: the same contract as every middleware factory
  (see :mod:`traefikpy.proxy.http`).

Every problem (plugin not installed, import failure, invalid options, a build that raises)
becomes a ``ValueError`` naming the plugin: the compiler disables that middleware and the
routers using it and shows the message in the API.  Installed plugins are discovered once and
again whenever an unknown name is asked for, so a plugin installed while traefikpy runs is
found at the next configuration reload (its module is imported once per process).
"""

from __future__ import annotations

import importlib.metadata
import logging
from typing import Any, Final

from pydantic import BaseModel, ValidationError

from traefikpy.proxy.http import BuildContext, Handler, MiddlewareFactory

ENTRY_POINT_GROUP: Final = "traefikpy.middlewares"

log = logging.getLogger("traefikpy.middlewares.plugins")

_discovered: dict[str, importlib.metadata.EntryPoint] | None = None


def discover(refresh: bool = False) -> dict[str, importlib.metadata.EntryPoint]:
    """The installed plugins by name (entry points of :data:`ENTRY_POINT_GROUP`)."""
    global _discovered
    if _discovered is None or refresh:
        _discovered = {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
    return _discovered


def load_plugin(name: str) -> Any:
    """The object behind plugin ``name``, checked for ``Config`` and ``build``; ValueError else."""
    point = discover().get(name)
    if point is None:
        point = discover(refresh=True).get(name)
    if point is None:
        known = ", ".join(sorted(discover())) or "none"
        raise ValueError(f"plugin {name!r} is not installed (no {ENTRY_POINT_GROUP!r} entry point named "
                         f"{name!r}; installed: {known})")
    try:
        plugin = point.load()
    except Exception as exc:  # any import-time failure of third-party code
        raise ValueError(f"plugin {name!r}: cannot load {point.value}: {type(exc).__name__}: {exc}") from None
    config = getattr(plugin, "Config", None)
    if not (isinstance(config, type) and issubclass(config, BaseModel)):
        raise ValueError(f"plugin {name!r}: {point.value} has no Config pydantic model")
    if not callable(getattr(plugin, "build", None)):
        raise ValueError(f"plugin {name!r}: {point.value} has no build(config, next, name, ctx) function")
    return plugin


def _problems(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "options"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def build_plugin(options: dict[str, dict[str, Any] | None], next_handler: Handler, name: str,
                 ctx: BuildContext) -> Handler:
    """The middleware factory of ``plugin``: ``options`` maps one plugin name to its options."""
    if len(options) != 1:
        raise ValueError(f"a middleware must configure exactly one plugin; found: {', '.join(options) or 'none'}")
    plugin_name, raw = next(iter(options.items()))
    plugin = load_plugin(plugin_name)
    try:
        config = plugin.Config.model_validate(raw or {})
    except ValidationError as exc:
        raise ValueError(f"plugin {plugin_name!r}: invalid options: {_problems(exc)}") from None
    try:
        handler = plugin.build(config, next_handler, name, ctx)
    except ValueError as exc:
        raise ValueError(f"plugin {plugin_name!r}: {exc}") from None
    except Exception as exc:  # a bug in the plugin must not break the whole configuration
        log.error("plugin %r failed to build middleware %s", plugin_name, name, exc_info=exc)
        raise ValueError(f"plugin {plugin_name!r}: build failed: {type(exc).__name__}: {exc}") from None
    if not callable(handler):
        raise ValueError(f"plugin {plugin_name!r}: build returned {type(handler).__name__}, not a handler")
    result: Handler = handler
    return result


FACTORIES: dict[str, MiddlewareFactory] = {"plugin": build_plugin}
