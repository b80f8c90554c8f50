"""Load-balancing strategies: pure, synchronous choosers of one item among the available ones.

Each picker is built once per balancer from its fixed list of items (servers, or child services
for ``weighted``/``highestRandomWeight``) and answers ``pick(pickable, client_ip)``, where
``pickable`` is the balancer's current list of items that may be chosen (up and not fenced).
No I/O, no clock: randomness comes from an injected ``random.Random`` so tests are seeded.

Traefik v3 strategies
    ``wrr``       smooth weighted round robin by Earliest Deadline First: each item's next deadline
                  is ``previous + 1/weight``; the earliest deadline wins (ties: first scheduled).
                  Unavailable items are skipped but their turns still pass, like Traefik's heap.
    ``p2c``       power of two random choices: two distinct random items, the one with fewer
                  in-flight requests wins (the first on a tie).  Weights are ignored, as in Traefik.
    ``hrw``       rendezvous hashing on the client IP: score ``weight / -ln(h / 2**64)`` with ``h``
                  the FNV-1a 64 hash of the IP continued with the item's name; highest score wins.
    ``leasttime`` lowest ``avg_ttfb_ms * (1 + inflight) / weight``; ties broken by EDF (``wrr``).
Additions from NGINX
    ``leastconn`` lowest ``inflight / weight``; ties broken by EDF.
    ``iphash``    consistent hash ring (160 points per weight unit, CRC32) keyed by client IP:
                  when a server goes down only its clients move, to the next server on the ring.
"""

from __future__ import annotations

import bisect
import heapq
import math
import random
import zlib
from collections.abc import Callable, Sequence
from functools import reduce
from typing import Generic, Protocol, TypeVar

from traefikpy.services.server import NoHealthyServer, Server


class WeightedItem(Protocol):
    @property
    def weight(self) -> int: ...


T = TypeVar("T", bound=WeightedItem)

STRATEGIES = ("wrr", "p2c", "hrw", "leasttime", "leastconn", "iphash")
SERVER_ONLY = frozenset({"p2c", "leasttime", "leastconn"})  # need in-flight/latency counters

_FNV64_OFFSET = 14695981039346656037
_FNV64_PRIME = 1099511628211
_MASK64 = (1 << 64) - 1
_TWO64 = 18446744073709551616.0


class Picker(Protocol[T]):
    def pick(self, pickable: Sequence[T], client_ip: str) -> T: ...


def fnv1a64(data: bytes, seed: int = _FNV64_OFFSET) -> int:
    """FNV-1a 64-bit hash of ``data`` continuing from ``seed`` (Traefik's hrw hash)."""
    value = seed
    for byte in data:
        value = ((value ^ byte) * _FNV64_PRIME) & _MASK64
    return value


class _Edf(Generic[T]):
    """Earliest-Deadline-First schedule over a fixed list (Traefik's ``wrr`` heap)."""

    __slots__ = ("items", "_heap", "_seq", "_deadlines", "_positions", "current")

    def __init__(self, items: Sequence[T]) -> None:
        self.items = list(items)
        self.current = 0.0
        self._seq = 0
        # [deadline, seq, index]: seq makes equal deadlines FIFO (first scheduled, first served).
        self._heap: list[list[float]] = []
        self._deadlines = [0.0] * len(self.items)
        self._positions = {id(item): index for index, item in enumerate(self.items)}
        for index, item in enumerate(self.items):
            self._deadlines[index] = self.current + 1.0 / item.weight
            self._push(index)

    def _push(self, index: int) -> None:
        self._seq += 1
        heapq.heappush(self._heap, [self._deadlines[index], float(self._seq), float(index)])

    def next(self, available: Callable[[T], bool]) -> T:
        """The next available item; callers guarantee at least one item is available."""
        heap = self._heap
        while True:
            entry = heapq.heappop(heap)
            index = int(entry[2])
            item = self.items[index]
            self.current = entry[0]
            self._deadlines[index] = entry[0] + 1.0 / item.weight
            self._push(index)
            if available(item):
                return item

    def among(self, candidates: Sequence[T]) -> T:
        """EDF tie-break among ``candidates`` (a subset of ``items``): earliest deadline wins."""
        best_index = -1
        best = math.inf
        positions = self._positions
        for item in candidates:
            index = positions[id(item)]
            if self._deadlines[index] < best:
                best, best_index = self._deadlines[index], index
        chosen = self.items[best_index]
        self._deadlines[best_index] = best + 1.0 / chosen.weight
        return chosen


class WrrPicker(Generic[T]):
    """Traefik's ``wrr``: smooth weighted round robin (EDF)."""

    name = "wrr"

    def __init__(self, items: Sequence[T], available: Callable[[T], bool]) -> None:
        self._edf = _Edf(items)
        self._available = available

    def pick(self, pickable: Sequence[T], client_ip: str) -> T:
        if not pickable:
            raise NoHealthyServer()
        if len(pickable) == 1 and len(self._edf.items) == 1:
            return pickable[0]
        return self._edf.next(self._available)


class P2CPicker:
    """Traefik's ``p2c``: the less loaded of two distinct random servers (weights ignored)."""

    name = "p2c"

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def pick(self, pickable: Sequence[Server], client_ip: str) -> Server:
        count = len(pickable)
        if count == 0:
            raise NoHealthyServer()
        if count == 1:
            return pickable[0]
        first = self._rng.randrange(count)
        second = self._rng.randrange(count - 1)
        if second >= first:
            second += 1
        a, b = pickable[first], pickable[second]
        return b if b.inflight < a.inflight else a


class HrwPicker(Generic[T]):
    """Traefik's ``hrw``: weighted rendezvous hashing of the client IP."""

    name = "hrw"
    CACHE_SIZE = 8192

    def __init__(self, items: Sequence[T], name_of: Callable[[T], str]) -> None:
        self._keys = {id(item): name_of(item).encode() for item in items}
        # client IP -> (pickable list it was computed for, winner).  Balancers build a new
        # pickable list on every health change, so identity tells whether the answer still holds;
        # hashing every server name in Python per request would cost ~5 us per server.
        self._cache: dict[str, tuple[Sequence[T], T]] = {}

    def score(self, item: T, ip_hash: int) -> float:
        value = fnv1a64(self._keys[id(item)], ip_hash)
        if value == 0:
            return 0.0
        fraction = value / _TWO64
        if fraction >= 1.0:  # float rounding of values near 2**64; -ln(1) would divide by zero
            return math.inf
        return item.weight / -math.log(fraction)

    def pick(self, pickable: Sequence[T], client_ip: str) -> T:
        if not pickable:
            raise NoHealthyServer()
        cached = self._cache.get(client_ip)
        if cached is not None and cached[0] is pickable:
            return cached[1]
        ip_hash = fnv1a64(client_ip.encode())
        best = pickable[0]
        best_score = -1.0
        for item in pickable:
            score = self.score(item, ip_hash)
            if score > best_score:
                best, best_score = item, score
        if len(self._cache) >= self.CACHE_SIZE:
            self._cache.clear()
        self._cache[client_ip] = (pickable, best)
        return best


class LeastTimePicker:
    """Traefik's ``leasttime``: lowest ``avg_ttfb_ms * (1 + inflight) / weight``, EDF on ties."""

    name = "leasttime"

    def __init__(self, items: Sequence[Server]) -> None:
        self._edf = _Edf(items)

    def pick(self, pickable: Sequence[Server], client_ip: str) -> Server:
        if not pickable:
            raise NoHealthyServer()
        if len(pickable) == 1:
            return pickable[0]
        best = math.inf
        candidates: list[Server] = []
        for server in pickable:
            score = server.latency_ms * (1 + server.inflight) / server.weight
            if score < best:
                best, candidates = score, [server]
            elif score == best:
                candidates.append(server)
        return candidates[0] if len(candidates) == 1 else self._edf.among(candidates)


class LeastConnPicker:
    """NGINX's ``least_conn``: lowest ``inflight / weight``, EDF (weighted round robin) on ties."""

    name = "leastconn"

    def __init__(self, items: Sequence[Server]) -> None:
        self._edf = _Edf(items)

    def pick(self, pickable: Sequence[Server], client_ip: str) -> Server:
        if not pickable:
            raise NoHealthyServer()
        if len(pickable) == 1:
            return pickable[0]
        best = math.inf
        candidates: list[Server] = []
        for server in pickable:
            load = server.inflight / server.weight
            if load < best:
                best, candidates = load, [server]
            elif load == best:
                candidates.append(server)
        return candidates[0] if len(candidates) == 1 else self._edf.among(candidates)


class IpHashPicker(Generic[T]):
    """NGINX-style consistent hashing (``hash $remote_addr consistent``) on the client IP."""

    name = "iphash"
    POINTS_PER_WEIGHT = 160
    MAX_POINTS = 200_000  # bounds memory for many heavy-weight servers; ratios are kept

    def __init__(self, items: Sequence[T], name_of: Callable[[T], str], available: Callable[[T], bool]) -> None:
        self._available = available
        self._items = list(items)
        weights = [item.weight for item in self._items] or [1]
        unit = reduce(math.gcd, weights)
        total = sum(weights) // unit * self.POINTS_PER_WEIGHT
        scale = min(1.0, self.MAX_POINTS / total) if total else 1.0
        ring: list[tuple[int, int]] = []
        for index, item in enumerate(self._items):
            points = max(1, int(item.weight // unit * self.POINTS_PER_WEIGHT * scale))
            name = name_of(item)
            for point in range(points):
                ring.append((zlib.crc32(f"{name}#{point}".encode()), index))
        ring.sort()
        self._hashes = [point for point, _ in ring]
        self._owners = [index for _, index in ring]

    def pick(self, pickable: Sequence[T], client_ip: str) -> T:
        if not pickable or not self._hashes:
            raise NoHealthyServer()
        start = bisect.bisect_left(self._hashes, zlib.crc32(client_ip.encode()))
        size = len(self._owners)
        for offset in range(size):
            item = self._items[self._owners[(start + offset) % size]]
            if self._available(item):
                return item
        raise NoHealthyServer()


def server_available(server: Server) -> bool:
    return server.up and not server.fenced


def make_server_picker(strategy: str, servers: Sequence[Server], rng: random.Random) -> Picker[Server]:
    """The picker for a ``loadBalancer`` of ``servers`` (strategy already validated)."""
    if strategy == "wrr":
        return WrrPicker(servers, server_available)
    if strategy == "p2c":
        return P2CPicker(rng)
    if strategy == "hrw":
        return HrwPicker(servers, _url_of)
    if strategy == "leasttime":
        return LeastTimePicker(servers)
    if strategy == "leastconn":
        return LeastConnPicker(servers)
    if strategy == "iphash":
        return IpHashPicker(servers, _url_of, server_available)
    raise ValueError(f"unsupported load-balancer strategy {strategy!r} (expected one of {', '.join(STRATEGIES)})")


def normalize_strategy(strategy: str | None) -> str:
    """Lower-cased strategy name; empty means ``wrr`` (providers that apply no defaults)."""
    value = (strategy or "wrr").strip().lower()
    if value not in STRATEGIES:
        raise ValueError(f"unsupported load-balancer strategy {strategy!r} (expected one of {', '.join(STRATEGIES)})")
    return value


def _url_of(server: Server) -> str:
    return server.url
