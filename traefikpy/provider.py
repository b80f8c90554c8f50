"""The provider seam: a provider watches its source and yields full configuration snapshots.

A provider is any object with a ``name``, an optional ``throttle`` (seconds; ``None`` means the
global ``providersThrottleDuration``) and ``watch()``: an async generator of *full* snapshots,
never deltas.  Raising from ``watch()`` means "restart me with backoff": the aggregator keeps
serving the last good snapshot of that provider meanwhile.  A generator that simply ends (for
example a file provider without ``watch``) is not restarted.

A snapshot is a :class:`DynamicConfig`, or a :class:`ProviderSnapshot` when the provider found
problems while assembling it (for example the same router defined differently by two files or
two containers): the conflicting element is left out of ``config`` and its error is reported in
``errors`` so the API shows it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from traefikpy.config.dynamic import DynamicConfig


@dataclass(frozen=True)
class ProviderSnapshot:
    """A snapshot plus the problems found while building it.

    ``errors`` keys are ``"<section>.<name>"`` with the provider-local (unqualified) name, e.g.
    ``"http.routers.web"``; values are the messages.
    """

    config: DynamicConfig
    errors: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@runtime_checkable
class Provider(Protocol):
    name: str
    throttle: float | None

    def watch(self) -> AsyncIterator[DynamicConfig | ProviderSnapshot]: ...


def as_snapshot(item: DynamicConfig | ProviderSnapshot) -> ProviderSnapshot:
    return item if isinstance(item, ProviderSnapshot) else ProviderSnapshot(item)
