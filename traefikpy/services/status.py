"""Health propagation between services, as Traefik's ``healthCheck: {}`` on parent services does.

A service is *up* while at least one of its servers (or child services) is up.  A parent that has
``healthCheck`` set registers an updater on each child and skips children that are down; when its
own up/down state flips it tells its parents in turn.  Only state *changes* propagate.

Traefik refuses to build a parent with ``healthCheck`` when a child cannot report its status
(its own ``healthCheck`` is not set): :meth:`StatusNode.register_status_updater` raises
:class:`~traefikpy.services.server.ServiceBuildError` with Traefik's wording.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from traefikpy.services.server import ServiceBuildError

StatusUpdater = Callable[[bool], None]


@runtime_checkable
class StatusReporter(Protocol):
    """A service handler that can report its up/down state to parents."""

    name: str
    wants_health_check: bool

    @property
    def up(self) -> bool: ...

    def register_status_updater(self, fn: StatusUpdater) -> None: ...


class StatusNode:
    """Base of every service handler: its up state and the parents' updaters."""

    __slots__ = ("wants_health_check", "_up", "_updaters")
    kind = "service"

    def __init__(self, wants_health_check: bool) -> None:
        self.wants_health_check = wants_health_check
        self._up = True
        self._updaters: list[StatusUpdater] = []

    @property
    def up(self) -> bool:
        return self._up

    def register_status_updater(self, fn: StatusUpdater) -> None:
        """Call ``fn(up)`` whenever this service's state flips (parents with ``healthCheck``)."""
        if not self.wants_health_check:
            raise ServiceBuildError(f"healthCheck not enabled in config for this {self.kind} service")
        self._updaters.append(fn)

    def _set_up(self, up: bool) -> None:
        if up is self._up:
            return
        self._up = up
        for fn in self._updaters:
            fn(up)


def watch_child(parent: str, child_name: str, child: Any, fn: StatusUpdater) -> bool:
    """Register ``fn`` on ``child`` for parent ``parent``; returns the child's current state.

    Raises :class:`ServiceBuildError` (the compiler records it) when the child cannot report."""
    if not isinstance(child, StatusReporter):
        raise ServiceBuildError(f"child service {child_name} of {parent} not a status reporter ({type(child).__name__})")
    try:
        child.register_status_updater(fn)
    except ServiceBuildError as exc:
        raise ServiceBuildError(f"cannot register {child_name} as updater for {parent}: {exc}") from None
    return child.up
