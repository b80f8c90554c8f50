"""Fixtures shared by the middleware tests: one real redis-server per test module."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from tests.providers.kv_helpers import RedisServer


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """Port of a fresh redis-server on 127.0.0.1 (no persistence), ready to answer PING."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.spawn()
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", server.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or not server.running():
                raise RuntimeError(f"redis-server did not start: {server.log_path.read_text()[-2000:]}")
            time.sleep(0.05)
        yield server.port
    finally:
        server.kill()
