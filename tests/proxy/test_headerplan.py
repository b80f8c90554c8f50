"""Header plans applied to raw upstream heads give the same head as the parsed-headers path."""

from __future__ import annotations

import pytest

from tests.harness import running_app
from tests.proxy.backends import Backend
from traefikpy.proxy.headerplan import PlanHook, edit_raw_head, plan_hooks_only, response_plan

RAW = b"HTTP/1.1 200 OK\r\nServer: up\r\nX-Drop: 1\r\nContent-Length: 2\r\n"


def test_raw_edit_matches_parsed_edit() -> None:
    outer = PlanHook(response_plan([(b"X-Drop", None), (b"X-Outer", b"o")]))
    inner = PlanHook(response_plan([(b"X-Inner", b"i"), (b"Server", b"mine")]))
    hooks = [outer, inner]  # registration order: the outer middleware registers first
    plans = plan_hooks_only(hooks)
    assert plans is not None
    edited = edit_raw_head(RAW, 200, plans)
    headers = [tuple(line.split(b": ", 1)) for line in RAW.split(b"\r\n")[1:] if line]
    for hook in reversed(hooks):
        hook(200, headers)  # type: ignore[arg-type]
    parsed = b"HTTP/1.1 200 OK\r\n" + b"".join(k + b": " + v + b"\r\n" for k, v in headers)
    assert edited == parsed
    assert edit_raw_head(RAW, 101, plans) == RAW  # informational responses are left alone


def test_plans_touching_framing_take_the_slow_path() -> None:
    assert plan_hooks_only([PlanHook(response_plan([(b"Content-Length", None)]))]) is None
    assert plan_hooks_only([PlanHook(response_plan([(b"X-A", b"1")])), lambda s, h: s]) is None


@pytest.mark.parametrize("path", ["/echo", "/bytes?size=100000"])
async def test_three_headers_middlewares_end_to_end(path: str) -> None:
    backend = await Backend.start()
    try:
        middlewares = {f"h{i}": {"headers": {"customRequestHeaders": {f"X-Req-{i}": "yes"},
                                              "customResponseHeaders": {f"X-Res-{i}": "yes", "X-Backend": ""}}}
                       for i in range(3)}
        config = {"http": {"middlewares": middlewares, "routers": {"r": {
            "rule": "PathPrefix(`/`)", "service": "s", "middlewares": ["h0", "h1", "h2"]}},
            "services": {"s": {"loadBalancer": {"servers": [{"url": backend.url}]}}}}}
        async with running_app(config) as rt:
            for _ in range(3):  # the second response takes the cached raw edit
                resp = await rt.get(path)
                body = await resp.read()
                assert resp.status == 200
                assert [resp.headers.get(f"X-Res-{i}") for i in range(3)] == ["yes"] * 3
                assert "X-Backend" not in resp.headers
                if path == "/echo":
                    assert b"X-Req-0: yes" in body or b"x-req-0" in body.lower()
                else:
                    assert len(body) == 100000
    finally:
        await backend.stop()
