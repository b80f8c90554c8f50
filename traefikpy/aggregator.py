"""The aggregator: from many providers' snapshot streams to one stream of merged configurations.

Per provider it runs a *supervisor* (drives ``watch()``, restarts it with exponential backoff when
it raises, keeps the last good snapshot) and a *throttled forwarder*: after forwarding a snapshot
it waits ``throttle`` seconds; whatever arrived meanwhile collapses into the newest one (Traefik's
``providersThrottleDuration``: a burst inside the window gives at most two applies).  One *apply
loop* merges the newest snapshot of every provider with names qualified ``name@provider``
(:func:`traefikpy.config.merge.merge_providers`) and publishes the result unless it equals the
previous one.  Consumers read :meth:`Aggregator.merged` (newest wins: a slow consumer skips
intermediate merges, never sees a stale one).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from traefikpy.aio import TaskGroup
from traefikpy.config.merge import Merged, merge_providers
from traefikpy.provider import Provider, ProviderSnapshot, as_snapshot

log = logging.getLogger("traefikpy.aggregator")


@dataclass
class ProviderStatus:
    """What the API and metrics show about one provider."""

    name: str
    snapshots: int = 0  # snapshots received
    forwarded: int = 0  # snapshots passed to the merge after throttling
    restarts: int = 0
    last_error: str | None = None
    last_update: float | None = None  # wall-clock time of the last snapshot


@dataclass
class _Slot:
    provider: Provider
    throttle: float
    status: ProviderStatus
    pending: ProviderSnapshot | None = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)


class Aggregator:
    def __init__(
        self,
        providers: Sequence[Provider],
        throttle: float = 2.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
    ) -> None:
        names = [p.name for p in providers]
        if len(set(names)) != len(names):
            raise ValueError(f"provider names must be unique, got {names}")
        self._slots = {
            p.name: _Slot(p, throttle if p.throttle is None else p.throttle, ProviderStatus(p.name))
            for p in providers
        }
        self._backoff = (backoff_initial, backoff_max)
        self._latest: dict[str, ProviderSnapshot] = {}
        self._changed = asyncio.Event()
        self._merged: Merged | None = None
        self._merged_version = 0
        self._published = asyncio.Condition()
        self.applies = 0  # merges published (unchanged merges are skipped, not counted)
        self._tasks = TaskGroup("aggregator")

    @property
    def status(self) -> dict[str, ProviderStatus]:
        return {name: slot.status for name, slot in self._slots.items()}

    @property
    def current(self) -> Merged | None:
        return self._merged

    async def start(self) -> None:
        for name, slot in self._slots.items():
            self._tasks.spawn(self._supervise(slot), f"supervise:{name}")
            self._tasks.spawn(self._forward(slot), f"throttle:{name}")
        self._tasks.spawn(self._apply_loop(), "apply")

    async def close(self) -> None:
        await self._tasks.close()

    async def _supervise(self, slot: _Slot) -> None:
        delay = self._backoff[0]
        while True:
            try:
                async for item in slot.provider.watch():
                    slot.pending = as_snapshot(item)
                    slot.status.snapshots += 1
                    slot.status.last_update = time.time()
                    slot.status.last_error = None
                    slot.arrived.set()
                    delay = self._backoff[0]
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a provider outage must never stop the others
                slot.status.restarts += 1
                slot.status.last_error = f"{type(exc).__name__}: {exc}"
                log.error("provider %s failed (%s); restarting in %.1fs, last good config kept",
                          slot.provider.name, slot.status.last_error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._backoff[1])

    async def _forward(self, slot: _Slot) -> None:
        while True:
            await slot.arrived.wait()
            slot.arrived.clear()
            snapshot = slot.pending
            if snapshot is None:
                continue
            self._latest[slot.provider.name] = snapshot
            slot.status.forwarded += 1
            self._changed.set()
            if slot.throttle > 0:
                await asyncio.sleep(slot.throttle)

    async def _apply_loop(self) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            merged = merge_providers(self._latest)
            if self._merged is not None and merged == self._merged:
                continue
            self._merged = merged
            self.applies += 1
            async with self._published:
                self._merged_version += 1
                self._published.notify_all()

    async def merged(self) -> AsyncIterator[Merged]:
        """Every new merged configuration, newest first-come: intermediate ones may be skipped."""
        seen = 0
        while True:
            async with self._published:
                await self._published.wait_for(lambda seen=seen: self._merged_version != seen)  # type: ignore[misc]
                seen = self._merged_version
                merged = self._merged
            assert merged is not None
            yield merged

    def __repr__(self) -> str:
        return f"<Aggregator providers={list(self._slots)} applies={self.applies}>"
