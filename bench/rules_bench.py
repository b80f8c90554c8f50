"""Micro-benchmark of RoutingTable.lookup: ns per lookup for 10, 1,000 and 100,000 routers.

Run: ``python bench/rules_bench.py``.  Each table holds ``Host(`hN.example`)`` routers plus a
few generic routers (``PathPrefix``/``Method``) so the merged walk of host bucket and generic
list is exercised; requests hit existing hosts in a scattered order.  Bounded: 20,000 lookups
per measurement, best of 5.
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


def build(count: int) -> RoutingTable[int]:
    routes = [Route(f"r{i}", parse_rule(f"Host(`h{i}.example`)"), 0, i) for i in range(count)]
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
    for count in (10, 1_000, 100_000):
        gc.disable()
        started = time.perf_counter()
        table = build(count)
        built = time.perf_counter() - started
        gc.enable()
        requests = [
            RouteRequest(b"GET", f"h{(i * 7919) % count}.example", "/app", b"", [], "127.0.0.1")
            for i in range(LOOKUPS)
        ]
        print(f"{count:>7} routers: {measure(table, requests):7.0f} ns/lookup   (build {built:.2f} s, {table!r})")


if __name__ == "__main__":
    main()
