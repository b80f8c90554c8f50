"""Error mapping through the whole router, using the shared harness (real sockets, real backends)."""

from __future__ import annotations

import socket

from tests.harness import lb, running_app
from tests.proxy.backends import Backend, echo_json


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_backend_sees_forwarded_headers_and_path() -> None:
    backend = await Backend.start()
    try:
        async with running_app({"http": {"routers": {"r": {"rule": "PathPrefix(`/echo`)", "service": "s"}},
                                         "services": {"s": lb(backend.url)}}}) as rt:
            resp = await rt.get("/echo/x?y=1", host="site.test")
            assert resp.status == 200
            seen = echo_json(await resp.read())
            assert seen["target"] == "/echo/x?y=1"
            headers = {k.lower(): v for k, v in seen["headers"]}
            assert headers["host"] == "site.test"
            assert headers["x-forwarded-host"] == "site.test"
            assert headers["x-forwarded-proto"] == "http"
            assert headers["x-forwarded-for"] == "127.0.0.1"
            assert headers["x-real-ip"] == "127.0.0.1"
    finally:
        await backend.stop()


async def test_unreachable_server_is_502_and_no_server_is_503() -> None:
    async with running_app({"http": {
        "routers": {"down": {"rule": "Host(`down.test`)", "service": "down"},
                    "empty": {"rule": "Host(`empty.test`)", "service": "empty"}},
        "services": {"down": lb(f"http://127.0.0.1:{closed_port()}"), "empty": lb()}}}) as rt:
        resp = await rt.get("/", host="down.test")
        assert resp.status == 502
        assert (await resp.text()).strip() == "Bad Gateway"
        resp = await rt.get("/", host="empty.test")
        assert resp.status == 503


async def test_response_header_timeout_is_504() -> None:
    backend = await Backend.start()
    try:
        async with running_app({"http": {
            "routers": {"r": {"rule": "Host(`slow.test`)", "service": "s"}},
            "services": {"s": lb(backend.url, serversTransport="fast")},
            "serversTransports": {"fast": {"forwardingTimeouts": {"responseHeaderTimeout": "100ms"}}}}}) as rt:
            resp = await rt.get("/delay?ms=1000", host="slow.test")
            assert resp.status == 504
            assert rt.state("service", "s@file").status == "enabled"
    finally:
        await backend.stop()


async def test_missing_servers_transport_disables_the_service() -> None:
    async with running_app({"http": {
        "routers": {"r": {"rule": "Host(`a.test`)", "service": "s"}},
        "services": {"s": lb("http://127.0.0.1:9", serversTransport="nope")}}}) as rt:
        assert rt.state("service", "s@file").status == "disabled"
        assert "serversTransport 'nope@file' does not exist" in rt.state("service", "s@file").errors[0]
        assert (await rt.get("/", host="a.test")).status == 404
