"""Filters, sorting and pagination (pure), as Traefik's criterion.go and sort.go define them."""

from __future__ import annotations

from typing import Any

import pytest

from traefikpy.api.query import QueryError, paginate, select

ROUTERS: list[dict[str, Any]] = [
    {"name": "b@file", "provider": "file", "status": "enabled", "rule": "Host(`b.test`)", "service": "svc",
     "middlewares": ["auth"], "entryPoints": ["web"]},
    {"name": "a@docker", "provider": "docker", "status": "disabled", "rule": "PathPrefix(`/api`)",
     "service": "svc@file", "middlewares": ["auth@file"], "entryPoints": ["web", "websecure"], "priority": 100},
    {"name": "c@file", "provider": "file", "status": "warning", "rule": "Host(`c.test`) && Path(`/x`)",
     "service": "other", "entryPoints": []},
]


def names(query: dict[str, str], kind: str = "router", items: list[dict[str, Any]] | None = None) -> list[str]:
    page, _ = select(kind, [dict(i) for i in (items or ROUTERS)], query)
    return [i["name"] for i in page]


@pytest.mark.parametrize(("desc", "query", "expected"), [
    ("no filter: everything, by name", {}, ["a@docker", "b@file", "c@file"]),
    ("search in names, case-insensitive", {"search": "DOCK"}, ["a@docker"]),
    ("search in rules too", {"search": "c.test"}, ["c@file"]),
    ("status is case-insensitive equality", {"status": "Disabled"}, ["a@docker"]),
    ("bare serviceName matches bare references", {"serviceName": "svc"}, ["b@file"]),
    ("qualified serviceName matches by its bare part", {"serviceName": "svc@anything"}, ["b@file"]),
    ("qualified reference needs the exact qualified filter", {"serviceName": "svc@file"}, ["a@docker", "b@file"]),
    ("middlewareName is exact, as written in the router", {"middlewareName": "auth"}, ["b@file"]),
    ("middlewareName qualified", {"middlewareName": "auth@file"}, ["a@docker"]),
    ("filters combine", {"search": "file", "status": "warning"}, ["c@file"]),
    ("unrelated parameters filter nothing", {"foo": "bar"}, ["a@docker", "b@file", "c@file"]),
    ("sort descending", {"direction": "desc"}, ["c@file", "b@file", "a@docker"]),
    ("sort by provider, ties by name", {"sortBy": "provider"}, ["a@docker", "b@file", "c@file"]),
    ("sort by priority: 0 means rule length", {"sortBy": "priority"}, ["b@file", "c@file", "a@docker"]),
    ("sort by status", {"sortBy": "status"}, ["a@docker", "b@file", "c@file"]),
    ("sort by entry point count, descending", {"sortBy": "entryPoints", "direction": "desc"},
     ["a@docker", "b@file", "c@file"]),
    ("unknown sortBy sorts by name", {"sortBy": "color"}, ["a@docker", "b@file", "c@file"]),
])
def test_router_filters_and_sorting(desc: str, query: dict[str, str], expected: list[str]) -> None:
    assert names(query) == expected, desc


SERVICES: list[dict[str, Any]] = [
    {"name": "lb@file", "provider": "file", "status": "enabled", "type": "loadbalancer",
     "loadBalancer": {"servers": [{"url": "a"}, {"url": "b"}]}},
    {"name": "w@file", "provider": "file", "status": "enabled", "type": "weighted", "weighted": {}},
    {"name": "api@internal", "provider": "internal", "status": "enabled"},
]


@pytest.mark.parametrize(("desc", "query", "expected"), [
    ("search in names only", {"search": "internal"}, ["api@internal"]),
    ("sort by type", {"sortBy": "type"}, ["api@internal", "lb@file", "w@file"]),
    ("sort by servers, descending", {"sortBy": "servers", "direction": "desc"}, ["lb@file", "w@file", "api@internal"]),
    ("serviceName does not apply to services", {"serviceName": "nothing"}, ["api@internal", "lb@file", "w@file"]),
])
def test_service_filters_and_sorting(desc: str, query: dict[str, str], expected: list[str]) -> None:
    assert names(query, "service", SERVICES) == expected, desc


@pytest.mark.parametrize(("desc", "query", "total", "expected"), [
    ("defaults: page 1 of 100", {}, 3, (0, 3, 1)),
    ("first of two pages", {"per_page": "2"}, 3, (0, 2, 2)),
    ("last page", {"per_page": "2", "page": "2"}, 3, (2, 3, 1)),
    ("exactly full page: next is 1", {"per_page": "3"}, 3, (0, 3, 1)),
    ("empty list, page 1 is fine", {}, 0, (0, 0, 1)),
])
def test_pagination(desc: str, query: dict[str, str], total: int, expected: tuple[int, int, int]) -> None:
    assert paginate(query, total) == expected, desc


@pytest.mark.parametrize(("desc", "query", "message"), [
    ("page past the end", {"page": "3", "per_page": "2"}, "invalid request: page: 3, per_page: 2"),
    ("zero per_page", {"per_page": "0"}, "invalid request: per_page: 0"),
    ("negative page", {"page": "-1"}, "invalid request: page: -1"),
    ("not a number: Go prints 0", {"page": "x"}, "invalid request: page: 0"),
])
def test_bad_pagination(desc: str, query: dict[str, str], message: str) -> None:
    with pytest.raises(QueryError) as err:
        paginate(query, 3)
    assert str(err.value) == message, desc
