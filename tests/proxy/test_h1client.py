"""The upstream connection's response parsing, fed byte by byte (no sockets needed here)."""

from __future__ import annotations

from typing import Any

import pytest

from traefikpy.proxy.errors import UpstreamClosed, UpstreamProtocolError
from traefikpy.proxy.h1client import BUSY, DEAD, IDLE, UpstreamConnection
from traefikpy.proxy.upstream import Transport, Upstreams


class FakeTransport:
    def __init__(self) -> None:
        self.closed = False
        self.paused = False

    def write(self, data: bytes) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False


@pytest.fixture
async def conn() -> UpstreamConnection:
    upstreams = Upstreams([Transport()])
    c = UpstreamConnection(upstreams.pool("http://127.0.0.1:9"))
    c.connection_made(FakeTransport())  # type: ignore[arg-type]
    return c


def _response(conn: UpstreamConnection, *packets: bytes, head_only: bool = False) -> dict[str, Any]:
    conn.begin(head_only)
    for packet in packets:
        conn.data_received(packet)
    return {
        "status": conn.status,
        "raw_head": conn.raw_head,
        "headers": list(conn.headers),
        "hop": None if conn.hop is None else list(conn.hop),
        "length": conn.length,
        "keep_alive": conn.keep_alive,
        "complete": conn.complete,
        "body": conn.take_body(),
        "trailers": conn.trailers,
        "error": conn.error,
    }


NGINX = (
    b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
    b"Connection: keep-alive\r\n\r\nhello"
)


async def test_repeated_head_parses_identically(conn: UpstreamConnection) -> None:
    first = _response(conn, NGINX)
    second = _response(conn, NGINX)  # byte-identical head: taken from the known-heads cache
    third = _response(conn, NGINX[:40], NGINX[40:])  # split: parsed again by llhttp
    assert first == second == third
    assert first["hop"] == [b"connection"] and conn.hop_only_keepalive
    assert first["body"] == b"hello" and first["keep_alive"] and first["complete"]


async def test_known_head_with_unexpected_body_length_falls_back(conn: UpstreamConnection) -> None:
    _response(conn, NGINX)
    got = _response(conn, NGINX + b"EXTRA")  # more bytes than the length: let llhttp decide
    assert got["body"] == b"hello"


async def test_head_response_stops_after_head(conn: UpstreamConnection) -> None:
    got = _response(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", head_only=True)
    assert got["complete"] and got["body"] == b"" and got["length"] == 1000
    assert _response(conn, NGINX)["body"] == b"hello"  # the parser was renewed


async def test_interim_responses_skipped(conn: UpstreamConnection) -> None:
    got = _response(conn, b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\n" + NGINX)
    assert got["status"] == 200
    assert got["raw_head"].startswith(b"HTTP/1.1 200 OK")
    assert (b"Link", b"x") not in got["headers"]


async def test_chunked_with_trailers(conn: UpstreamConnection) -> None:
    got = _response(
        conn, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n"
    )
    assert got["body"] == b"abc" and got["trailers"] == [(b"X-T", b"1")]
    assert got["hop"] == [b"transfer-encoding"] and conn.chunked


async def test_close_delimited_body_ends_with_the_connection(conn: UpstreamConnection) -> None:
    conn.begin(False)
    conn.data_received(b"HTTP/1.1 200 OK\r\n\r\npart")
    assert not conn.complete
    conn.connection_lost(None)
    assert conn.complete and not conn.keep_alive and conn.take_body() == b"part"


async def test_close_before_head_is_an_error(conn: UpstreamConnection) -> None:
    conn.begin(False)
    conn.connection_lost(None)
    assert isinstance(conn.error, UpstreamClosed)
    assert conn.state == DEAD


async def test_garbage_is_a_protocol_error(conn: UpstreamConnection) -> None:
    got = _response(conn, b"NOT HTTP AT ALL\r\n\r\n")
    assert isinstance(got["error"], UpstreamProtocolError)
    assert conn.state == DEAD


async def test_truncated_body_is_a_protocol_error(conn: UpstreamConnection) -> None:
    conn.begin(False)
    conn.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345")
    conn.connection_lost(None)
    assert isinstance(conn.error, UpstreamProtocolError)


async def test_unsolicited_bytes_while_idle_close_the_connection(conn: UpstreamConnection) -> None:
    _response(conn, NGINX)
    conn.state = IDLE
    conn.data_received(b"HTTP/1.1 408 Request Timeout\r\n\r\n")
    assert conn.state == DEAD and conn.transport.is_closing()


async def test_flow_control_pauses_reading(conn: UpstreamConnection) -> None:
    conn.begin(False)
    conn.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 2000000\r\n\r\n")
    for _ in range(20):
        conn.data_received(b"x" * 50_000)
    assert conn.transport.paused  # type: ignore[attr-defined]
    assert len(conn.take_body()) == 1_000_000
    assert not conn.transport.paused  # type: ignore[attr-defined]
    assert conn.state == BUSY
