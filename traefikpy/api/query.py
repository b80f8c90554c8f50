"""List queries of the API, as Traefik's ``pkg/api/criterion.go`` and ``sort.go`` define them (pure).

* Filters: ``search`` (case-insensitive substring of the name, and of the rule for routers),
  ``status`` (case-insensitive equality), ``serviceName`` and ``middlewareName`` (routers only).
  With none of them set, nothing is filtered.
* Sorting: ``sortBy`` (``name`` by default; routers also ``provider``, ``priority``, ``status``,
  ``rule``, ``service``, ``entryPoints``; services ``type``, ``servers``, ``provider``, ``status``;
  middlewares ``type``, ``provider``, ``status``) and ``direction`` (``asc`` default, or ``desc``);
  ties are broken by name in the same direction.
* Pagination: ``page`` (1) and ``per_page`` (100), both positive integers; a page starting past
  the end is a 400.  ``X-Next-Page`` is the next page number, or 1 on the last page.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_PER_PAGE = 100

Item = dict[str, Any]
Query = Mapping[str, str]


class QueryError(ValueError):
    """A bad query parameter: answered with 400 and ``{"message": str(error)}``."""


@dataclass(frozen=True)
class Criterion:
    search: str = ""
    status: str = ""
    service_name: str = ""
    middleware_name: str = ""

    @classmethod
    def from_query(cls, query: Query) -> Criterion | None:
        """The filters of ``query``, or None when none is set (Traefik keeps everything)."""
        crit = cls(query.get("search", ""), query.get("status", ""), query.get("serviceName", ""),
                   query.get("middlewareName", ""))
        if not (crit.search or crit.status or crit.service_name or crit.middleware_name):
            return None
        return crit

    def with_status(self, status: str) -> bool:
        return not self.status or status.lower() == self.status.lower()

    def search_in(self, *values: str) -> bool:
        if not self.search:
            return True
        needle = self.search.lower()
        return any(needle in value.lower() for value in values)

    def filter_service(self, service: str) -> bool:
        """A router's service as configured: ``svc@p`` must equal the filter; a bare ``svc``
        is compared with the filter's part before ``@``."""
        if not self.service_name:
            return True
        if "@" in service:
            return self.service_name == service
        return self.service_name.partition("@")[0] == service

    def filter_middleware(self, middlewares: Sequence[str]) -> bool:
        return not self.middleware_name or self.middleware_name in middlewares


def keep(kind: str, item: Item, crit: Criterion | None) -> bool:
    """Whether ``item`` (a representation with ``name``, ``status``...) passes the filters."""
    if crit is None:
        return True
    status = item.get("status", "")
    name = item.get("name", "")
    if kind != "router":
        return crit.with_status(status) and crit.search_in(name)
    return (crit.with_status(status) and crit.search_in(item.get("rule", ""), name)
            and crit.filter_service(item.get("service", ""))
            and crit.filter_middleware(item.get("middlewares") or []))


def effective_priority(item: Item) -> int:
    """A router's priority as the routing table uses it (0 means the rule's length)."""
    priority = item.get("priority") or 0
    return int(priority) if priority else len(item.get("rule", ""))


def _servers(item: Item) -> int:
    return len((item.get("loadBalancer") or {}).get("servers") or [])


_SORT_KEYS: dict[str, dict[str, Callable[[Item], Any]]] = {
    "router": {
        "provider": lambda i: i.get("provider", ""),
        "priority": effective_priority,
        "status": lambda i: i.get("status", ""),
        "rule": lambda i: i.get("rule", ""),
        "service": lambda i: i.get("service", ""),
        "entryPoints": lambda i: len(i.get("entryPoints") or []),
    },
    "service": {
        "type": lambda i: i.get("type", ""),
        "servers": _servers,
        "provider": lambda i: i.get("provider", ""),
        "status": lambda i: i.get("status", ""),
    },
    "middleware": {
        "type": lambda i: i.get("type", ""),
        "provider": lambda i: i.get("provider", ""),
        "status": lambda i: i.get("status", ""),
    },
}


def sort_items(kind: str, items: list[Item], query: Query) -> None:
    """Sort ``items`` in place by ``sortBy``/``direction``; unknown keys sort by name."""
    descending = query.get("direction", "asc") != "asc"
    key = _SORT_KEYS.get(kind, {}).get(query.get("sortBy", ""))
    if key is None:
        items.sort(key=lambda i: i.get("name", ""), reverse=descending)
        return
    sort_key = key
    items.sort(key=lambda i: (sort_key(i), i.get("name", "")), reverse=descending)


def _int_param(query: Query, key: str, default: int) -> int:
    raw = query.get(key, "")
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0  # Go's strconv.Atoi yields 0 on error, and Traefik prints that 0
    if value <= 0:
        raise QueryError(f"invalid request: {key}: {value}")
    return value


def paginate(query: Query, total: int) -> tuple[int, int, int]:
    """``(start, end, next_page)`` of the page ``query`` asks for among ``total`` items."""
    per_page = _int_param(query, "per_page", DEFAULT_PER_PAGE)
    page = _int_param(query, "page", 1)
    start = (page - 1) * per_page
    if start != 0 and start >= total:
        raise QueryError(f"invalid request: page: {page}, per_page: {per_page}")
    end = min(start + per_page, total)
    next_page = page + 1 if page * per_page < total else 1
    return start, end, next_page


def select(kind: str, items: list[Item], query: Query) -> tuple[list[Item], int]:
    """Filter, sort and paginate ``items``: the page and the ``X-Next-Page`` value."""
    crit = Criterion.from_query(query)
    kept = [item for item in items if keep(kind, item, crit)]
    sort_items(kind, kept, query)
    start, end, next_page = paginate(query, len(kept))
    return kept[start:end], next_page
