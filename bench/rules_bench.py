"""Micro-benchmark of RoutingTable.lookup: ns per lookup for 10, 1,000 and 100,000 routers.

Run: ``python bench/rules_bench.py``.  Two series: tables of ``Host(`hN.example`)`` routers
only (the answer is known per host: one dict get), and the same plus three generic routers
(``PathPrefix``/``Method``) with longer rules, so every lookup walks the generic list before the
host's router.  Requests hit existing hosts in a scattered order, so large tables also pay
for cache misses.  Bounded: 20,000 lookups per measurement, best of 5.
"""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from traefikpy.rules import Route, RouteRequest, RoutingTable, parse_rule  # noqa: E402

LOOKUPS = 20_000
ROUNDS = 5


def build(count: int, with_generic: bool) -> RoutingTable[int]:
    routes = [Route(f"r{i}", parse_rule(f"Host(`h{i}.example`)"), 0, i) for i in range(count)]
    if with_generic:
        generic = ["PathPrefix(`/internal`)", "Method(`PURGE`)", "PathPrefix(`/api`) && Method(`POST`)"]
        routes += [Route(f"g{i}", parse_rule(rule), 0, -1) for i, rule in enumerate(generic)]
    return RoutingTable(routes)


def measure(table: RoutingTable[int], requests: list[RouteRequest]) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter_ns()
        for request in requests:
            table.lookup(request)
        best = min(best, (time.perf_counter_ns() - start) / len(requests))
    return best


def main() -> None:
    for with_generic in (False, True):
        print("Host routers" + (" + 3 generic routers tried first" if with_generic else " only"))
        for count in (10, 1_000, 100_000):
            gc.disable()
            started = time.perf_counter()
            table = build(count, with_generic)
            built = time.perf_counter() - started
            gc.enable()
            requests = [
                RouteRequest(b"GET", f"h{(i * 7919) % count}.example", "/app", b"", [], "127.0.0.1")
                for i in range(LOOKUPS)
            ]
            ns = measure(table, requests)
            print(f"  {count:>7} routers: {ns:6.0f} ns/lookup   (build {built:.2f} s, {table!r})")


if __name__ == "__main__":
    main()
