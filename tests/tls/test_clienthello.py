"""The ClientHello reader on real ClientHellos produced by Python's ssl module."""

from __future__ import annotations

import ssl

import pytest

from traefikpy.tls.clienthello import read_client_hello


def client_hello(server_name: str | None) -> bytes:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname=server_name)
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return outgoing.read()


HELLO = client_hello("App.Example.COM")
CASES = [
    {"desc": "plain HTTP", "data": b"GET / HTTP/1.1\r\n", "tls": False, "complete": True, "sni": ""},
    {"desc": "empty", "data": b"", "tls": True, "complete": False, "sni": ""},
    {"desc": "first byte only", "data": HELLO[:1], "tls": True, "complete": False, "sni": ""},
    {"desc": "half a hello", "data": HELLO[: len(HELLO) // 2], "tls": True, "complete": False, "sni": ""},
    {"desc": "full hello, SNI lower-cased", "data": HELLO, "tls": True, "complete": True, "sni": "app.example.com"},
    {"desc": "hello without SNI", "data": client_hello(None), "tls": True, "complete": True, "sni": ""},
    {"desc": "garbage after handshake byte", "data": b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00",
     "tls": True, "complete": True, "sni": ""},
]


@pytest.mark.parametrize("case", CASES, ids=[c["desc"] for c in CASES])
def test_read_client_hello(case: dict[str, object]) -> None:
    hello = read_client_hello(case["data"])  # type: ignore[arg-type]
    assert (hello.tls, hello.complete, hello.server_name) == (case["tls"], case["complete"], case["sni"])
