"""Services over services: ``weighted`` (smooth weighted round robin, optional sticky cookie) and
``highestRandomWeight`` (rendezvous hashing of the client IP).

Children with a non-positive weight are ignored, as in Traefik.  With ``healthCheck`` set the
service watches every child (each must report status, i.e. have its own ``healthCheck``) and
skips children that are down; without it every child counts as up.  The sticky cookie value of a
child is the hash of its service name (see :mod:`traefikpy.services.sticky`).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from functools import partial

from traefikpy.proxy.http import Exchange, Handler
from traefikpy.services.balancer import trim_hooks
from traefikpy.services.server import NoHealthyServer, ServiceBuildError
from traefikpy.services.status import StatusNode, watch_child
from traefikpy.services.sticky import StickyCookie, StickyTable
from traefikpy.services.strategies import HrwPicker, Picker, WrrPicker


class Child:
    """A child service of a weighted/hrw service."""

    __slots__ = ("name", "handler", "weight", "up")

    def __init__(self, name: str, handler: Handler, weight: int) -> None:
        self.name = name
        self.handler = handler
        self.weight = weight
        self.up = True

    def __repr__(self) -> str:
        return f"<Child {self.name} w={self.weight} {'up' if self.up else 'down'}>"


def _child_up(child: Child) -> bool:
    return child.up


def _child_name(child: Child) -> str:
    return child.name


class WeightedService(StatusNode):
    """A ``weighted`` (strategy ``wrr``) or ``highestRandomWeight`` (``hrw``) service handler."""

    __slots__ = ("name", "strategy", "children", "pickable", "_picker", "_sticky")
    kind = "weighted"

    def __init__(
        self,
        name: str,
        children: Sequence[Child],
        *,
        strategy: str = "wrr",
        sticky: StickyCookie | None = None,
        wants_health_check: bool = False,
    ) -> None:
        super().__init__(wants_health_check)
        self.name = name
        self.strategy = strategy
        self.children = list(children)
        self.pickable: list[Child] = []
        self._picker: Picker[Child]
        if strategy == "wrr":
            self._picker = WrrPicker(self.children, _child_up)
        elif strategy == "hrw":
            self._picker = HrwPicker(self.children, _child_name)
        else:
            raise ServiceBuildError(f"unsupported strategy {strategy!r} for a service of services")
        self._sticky: StickyTable[Child] | None = None
        if sticky is not None:
            self._sticky = StickyTable(sticky.resolved(name), [(child.name, child) for child in self.children])
        if wants_health_check:
            for child in self.children:
                child.up = watch_child(name, child.name, child.handler, partial(self._child_changed, child))
        self._refresh()

    def _child_changed(self, child: Child, up: bool) -> None:
        child.up = up
        self._refresh()

    def _refresh(self) -> None:
        self.pickable = [child for child in self.children if child.up]
        self._set_up(bool(self.pickable))

    def choose(self, ex: Exchange) -> Child:
        sticky = self._sticky
        if sticky is not None:
            child, rewrite = sticky.lookup(ex)
            if child is not None and child.up:
                if rewrite:
                    ex.on_response(sticky.hook(child))
                return child
        if not self.pickable:
            raise NoHealthyServer(self.name)
        child = self._picker.pick(self.pickable, ex.client_ip)
        if sticky is not None:
            ex.on_response(sticky.hook(child))
        return child

    async def __call__(self, ex: Exchange) -> None:
        hooks = ex.response_hooks
        mark = len(hooks) if hooks else 0
        child = self.choose(ex)
        try:
            await child.handler(ex)
        except BaseException:
            if ex.status == 0:
                trim_hooks(ex, mark)
            raise

    def __repr__(self) -> str:
        kind = "weighted" if self.strategy == "wrr" else "highestRandomWeight"
        children = " ".join(f"{c.name}:{c.weight}{'' if c.up else '(down)'}" for c in self.children)
        sticky = f" sticky={self._sticky.cookie.name}" if self._sticky is not None else ""
        return f"<{kind} {self.name} [{children}]{sticky}>"


def _children(children: Sequence[tuple[str, Handler, int | None]], rng: random.Random | None, shuffle: bool) -> list[Child]:
    kept = [Child(name, handler, 1 if weight is None else weight) for name, handler, weight in children]
    kept = [child for child in kept if child.weight > 0]
    if shuffle:
        (rng if rng is not None else random.Random()).shuffle(kept)
    return kept


def build_weighted(
    name: str,
    children: Sequence[tuple[str, Handler, int | None]],
    *,
    sticky: StickyCookie | None = None,
    health_check: bool = False,
    rng: random.Random | None = None,
    shuffle: bool = True,
) -> WeightedService:
    """A ``weighted`` service over ``(child name, child handler, weight)`` (weight None: 1).
    Raises :class:`ServiceBuildError` when ``health_check`` is set and a child cannot report."""
    return WeightedService(name, _children(children, rng, shuffle), sticky=sticky, wants_health_check=health_check)


def build_highest_random_weight(
    name: str,
    children: Sequence[tuple[str, Handler, int | None]],
    *,
    health_check: bool = False,
) -> WeightedService:
    """A ``highestRandomWeight`` service: the child with the highest rendezvous score for the
    client IP (the same client keeps its child while that child is up)."""
    return WeightedService(name, _children(children, None, False), strategy="hrw", wants_health_check=health_check)
