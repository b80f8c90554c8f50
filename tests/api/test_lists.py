"""Filters, sorting and pagination through the running API (the rules are table-tested in test_query)."""

from __future__ import annotations

import pytest

from tests.api.rig import Rig


@pytest.mark.parametrize(("desc", "path", "names", "next_page"), [
    ("search by name", "/api/http/routers?search=docker", ["y@docker"], "1"),
    ("search in rules", "/api/http/routers?search=PathPrefix(%60/app", ["x@file"], "1"),
    ("disabled routers", "/api/http/routers?status=disabled", ["broken@file", "lost@file"], "1"),
    # Traefik compares a bare reference with the filter's part before "@": y@docker's "svc" matches too
    ("routers of a service", "/api/http/routers?serviceName=svc@file", ["broken@file", "x@file", "y@docker"], "1"),
    ("routers with a middleware", "/api/http/routers?middlewareName=auth@file", ["y@docker"], "1"),
    ("first page", "/api/http/routers?per_page=4", ["api@internal", "broken@file", "dashboard@internal", "lost@file"], "2"),
    ("last page", "/api/http/routers?per_page=4&page=2", ["x@file", "y@docker"], "1"),
    ("descending by priority", "/api/http/routers?sortBy=priority&direction=desc&search=%40file",
     ["x@file", "broken@file", "lost@file"], "1"),
    ("services of the docker provider", "/api/http/services?search=docker", ["svc@docker"], "1"),
    ("services by type", "/api/http/services?sortBy=type&direction=desc&per_page=2", ["svc@file", "svc@docker"], "2"),  # ties by name, same direction
    ("middlewares", "/api/http/middlewares?status=enabled", ["auth@file"], "1"),
    ("entry points, paginated", "/api/entrypoints?per_page=1", ["traefik"], "2"),
])
async def test_lists(loaded: Rig, desc: str, path: str, names: list[str], next_page: str) -> None:
    status, headers, body = await loaded.get(path)
    assert status == 200, desc
    assert [item["name"] for item in body] == names, desc
    assert headers["X-Next-Page"] == next_page, desc
