"""The routing table of one entrypoint: highest-priority matching route, without scanning them all.

Order: routes are tried by priority, highest first (priority 0 means "default": the rule's
length, as in Traefik); equal priorities are tried by route name, then insertion order
(Traefik leaves ties unspecified: it sorts a Go map's iteration with an unstable sort).

Theory of operation
-------------------
Most routes require a ``Host`` (see ``Rule.host_index``).  At build time each route goes to:

* the exact-host buckets of every host its rule requires (``Host(`a.example`)``);
* the wildcard buckets of every ``*.suffix`` it requires, keyed like ``.example.com``;
* otherwise the one *generic* list, for rules that can match any host.

A request can only match routes of its own host bucket, of its host's wildcard bucket, or
generic routes.  At build time every exact bucket absorbs the wildcard bucket that covers its
host, and every bucket records, for each of its routes, how many generic routes sort before it
(``cut``).  Lookup is then: one dict get, and one merged walk of the bucket and the generic list
in global priority order, stopping at the first match -- no per-request sorting, no memory
multiplied by the number of hosts.  A route found in its bucket is tested without the ``Host``
matchers that put it there (``Rule.indexed_match``); routes whose rule is only ``Host`` matchers
(``host_only``) are accepted from their bucket without evaluating anything, and when such a
route comes first in its bucket with no generic route before it, the answer is stored with the
bucket: the lookup is then a single dict get.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from typing import Generic, NamedTuple, TypeVar

from traefikpy.rules.matchers import wildcard_key
from traefikpy.rules.parser import default_priority
from traefikpy.rules.request import Routable
from traefikpy.rules.rule import Rule

T = TypeVar("T")

SortKey = tuple[int, str, int]


class Route(NamedTuple, Generic[T]):
    """One router of an entrypoint: ``priority`` 0 means the default (rule length)."""

    name: str
    rule: Rule
    priority: int
    target: T


class _Entry(Generic[T]):
    __slots__ = ("route", "priority", "key", "match", "host_only", "target")

    def __init__(self, route: Route[T], seq: int) -> None:
        self.route = route
        self.priority = route.priority or default_priority(route.rule.text)
        self.key: SortKey = (-self.priority, route.name, seq)
        rule = route.rule
        # Found through the host index, the Host part of the rule is already proven.
        match = rule.indexed_match if rule.host_index is not None else rule.match
        self.host_only = match is None
        self.match = match or rule.match
        self.target = route.target


_Bucket = tuple[tuple[int, _Entry[T]], ...]
# What a host maps to: the answer when it is already known at build time (the first candidate
# is a Host-only rule with no generic route before it), else _UNKNOWN; and the bucket.
_Slot = tuple[object, _Bucket[T]]
_UNKNOWN = object()
_EMPTY: _Slot[object] = (_UNKNOWN, ())


class RoutingTable(Generic[T]):
    """Routes of one entrypoint, indexed by host; :meth:`lookup` finds the winner."""

    __slots__ = ("_exact", "_wild", "_generic", "_count")

    def __init__(self, routes: Iterable[Route[T]]) -> None:
        entries = sorted((_Entry(route, seq) for seq, route in enumerate(routes)), key=lambda e: e.key)
        exact: dict[str, list[_Entry[T]]] = {}
        wild: dict[str, list[_Entry[T]]] = {}
        generic: list[_Entry[T]] = []
        for entry in entries:
            index = entry.route.rule.host_index
            if index is None:
                generic.append(entry)
                continue
            for host in index[0]:
                exact.setdefault(host, []).append(entry)
            for key in index[1]:
                wild.setdefault(key, []).append(entry)
        generic_keys = [entry.key for entry in generic]
        self._generic: tuple[_Entry[T], ...] = tuple(generic)
        self._wild: dict[str, _Slot[T]] = {key: _slot(bucket, generic_keys) for key, bucket in wild.items()}
        self._exact: dict[str, _Slot[T]] = {}
        for host, bucket in exact.items():
            covering = wild.get(wildcard_key(host)) if host else None
            if covering:  # merge the wildcard routes that also cover this host
                seen = {id(entry) for entry in bucket}
                bucket = sorted(bucket + [e for e in covering if id(e) not in seen], key=lambda e: e.key)
            self._exact[host] = _slot(bucket, generic_keys)
        self._count = len(entries)

    def _slot(self, req: Routable) -> _Slot[T]:
        """The host-indexed routes that may match ``req`` (none for an empty host)."""
        host = req.host
        slot = self._exact.get(host)
        if slot is None:
            slot = self._wild.get(wildcard_key(host)) if self._wild and host else None
            if slot is None:
                return _EMPTY  # type: ignore[return-value]
        return slot

    def lookup(self, req: Routable) -> T | None:
        """The target of the highest-priority route whose rule matches ``req``, or None."""
        # The common case (an exact host) without a method call: this is the per-request hot path.
        slot = self._exact.get(req.host)
        if slot is None:
            slot = self._slot(req)
        known, bucket = slot
        if known is not _UNKNOWN:
            return known  # type: ignore[return-value]
        generic = self._generic
        pos = 0
        for cut, entry in bucket:
            while pos < cut:
                candidate = generic[pos]
                if candidate.match(req):
                    return candidate.target
                pos += 1
            if entry.host_only or entry.match(req):
                return entry.target
        for candidate in generic[pos:] if pos else generic:
            if candidate.match(req):
                return candidate.target
        return None

    def explain(self, req: Routable) -> list[tuple[str, int, bool, list[tuple[str, bool]]]]:
        """Every route :meth:`lookup` may try for ``req``, in try order, with its result and the
        result of each of its matcher calls: ``(name, priority, matched, rule.explain(req))``.
        Routes of other hosts are left out (they cannot match)."""
        bucket = self._slot(req)[1]
        order: list[_Entry[T]] = []
        pos = 0
        for cut, entry in bucket:
            order.extend(self._generic[pos:cut])
            pos = max(pos, cut)
            order.append(entry)
        order.extend(self._generic[pos:])
        return [
            (e.route.name, e.priority, e.route.rule.match(req), e.route.rule.explain(req)) for e in order
        ]

    def routes(self) -> list[Route[T]]:
        """All routes in global priority order."""
        entries: dict[int, _Entry[T]] = {id(e): e for e in self._generic}
        for slots in (self._exact, self._wild):
            for _, bucket in slots.values():
                entries.update((id(e), e) for _, e in bucket)
        return [e.route for e in sorted(entries.values(), key=lambda e: e.key)]

    def __len__(self) -> int:
        return self._count

    def __repr__(self) -> str:
        return (
            f"<RoutingTable routes={self._count} hosts={len(self._exact)} "
            f"wildcards={len(self._wild)} generic={len(self._generic)}>"
        )


def _slot(bucket: list[_Entry[T]], generic_keys: list[SortKey]) -> _Slot[T]:
    """Pair each entry with the number of generic routes that sort before it (its ``cut``), and
    resolve the answer now when the first candidate is a Host-only rule that nothing precedes."""
    cuts = tuple((bisect_left(generic_keys, entry.key), entry) for entry in bucket)
    first_cut, first = cuts[0]
    return (first.target if first_cut == 0 and first.host_only else _UNKNOWN), cuts
