"""grpcWeb: the pure translation (content types, trailer frames, base64, CORS) in tables, and a
gRPC-Web exchange through the real router with a backend speaking gRPC framing over HTTP/1.1."""

from __future__ import annotations

import base64
import struct
from collections.abc import AsyncIterator
from typing import Any

import pytest

from middlewares.grpcweb import (
    FACTORIES,
    Base64Decoder,
    actual_cors_headers,
    canonical,
    expose_headers,
    preflight_headers,
    trailer_frame,
    translate_request_type,
    translate_response_type,
)
from tests.harness import lb, running_app
from tests.middlewares.m3_servers import Reply, Request, ScriptServer

REQUEST_TYPES = [
    ("binary", b"application/grpc-web", (b"application/grpc", False)),
    ("binary proto", b"application/grpc-web+proto", (b"application/grpc+proto", False)),
    ("text", b"application/grpc-web-text", (b"application/grpc", True)),
    ("text proto", b"application/grpc-web-text+proto", (b"application/grpc+proto", True)),
    ("parameters kept", b"application/grpc-web+json; charset=utf-8", (b"application/grpc+json; charset=utf-8", False)),
]


@pytest.mark.parametrize(("desc", "value", "want"), REQUEST_TYPES, ids=[c[0] for c in REQUEST_TYPES])
def test_request_type(desc: str, value: bytes, want: tuple[bytes, bool]) -> None:
    assert translate_request_type(value) == want


def test_response_type() -> None:
    assert translate_response_type(b"application/grpc+proto", False) == b"application/grpc-web+proto"
    assert translate_response_type(b"application/grpc", True) == b"application/grpc-web-text"
    assert translate_response_type(b"text/plain", True) == b"text/plain"


CANONICAL = [
    (b"content-type", b"Content-Type"), (b"GRPC-STATUS", b"Grpc-Status"), (b"x", b"X"),
    (b"access-control-allow-origin", b"Access-Control-Allow-Origin"), (b"bad name", b"bad name"),
]


@pytest.mark.parametrize(("name", "want"), CANONICAL, ids=[c[0].decode() for c in CANONICAL])
def test_canonical(name: bytes, want: bytes) -> None:
    assert canonical(name) == want


FRAME_CASES: list[dict[str, Any]] = [
    {"desc": "empty", "trailers": None, "payload": b""},
    {"desc": "lower-cased and sorted", "trailers": [(b"Grpc-Status", b"0"), (b"grpc-message", b"OK")],
     "payload": b"grpc-message: OK\r\ngrpc-status: 0\r\n"},
    {"desc": "repeated names keep their order", "trailers": [(b"x-b", b"2"), (b"X-A", b"1"), (b"x-b", b"3")],
     "payload": b"x-a: 1\r\nx-b: 2\r\nx-b: 3\r\n"},
    {"desc": "line breaks in values become spaces", "trailers": [(b"grpc-message", b"a\r\nb ")],
     "payload": b"grpc-message: a  b\r\n"},
]


@pytest.mark.parametrize("case", FRAME_CASES, ids=[c["desc"] for c in FRAME_CASES])
def test_trailer_frame(case: dict[str, Any]) -> None:
    frame = trailer_frame(case["trailers"])
    assert frame[:1] == b"\x80"
    assert struct.unpack(">I", frame[1:5])[0] == len(case["payload"])
    assert frame[5:] == case["payload"]


def test_expose_headers() -> None:
    headers = [(b"vary", b"Origin"), (b"content-type", b"x"), (b"Vary", b"x"), (b"grpc-status", b"0")]
    assert expose_headers(headers) == b"Vary, Content-Type, Grpc-Status"


B64_CASES: list[dict[str, Any]] = [
    {"desc": "one piece", "pieces": [base64.b64encode(b"hello world")], "want": b"hello world"},
    {"desc": "split anywhere", "pieces": [b"aGVs", b"bG8", b"gd29y", b"bGQ="], "want": b"hello world"},
    {"desc": "padded parts one after the other", "pieces": [b"aGk=", b"dGhlcmU="], "want": b"hithere"},
    {"desc": "line breaks ignored", "pieces": [b"aGVs\r\nbG8="], "want": b"hello"},
    {"desc": "invalid character", "pieces": [b"aG*s"], "error": "invalid base64"},
    {"desc": "truncated", "pieces": [b"aGVsb"], "error": "truncated"},
]


@pytest.mark.parametrize("case", B64_CASES, ids=[c["desc"] for c in B64_CASES])
def test_base64_decoder(case: dict[str, Any]) -> None:
    decoder = Base64Decoder()
    if "error" in case:
        with pytest.raises(ValueError, match=case["error"]):
            for piece in case["pieces"]:
                decoder.feed(piece)
            decoder.finish()
        return
    out = b"".join(decoder.feed(piece) for piece in case["pieces"]) + decoder.finish()
    assert out == case["want"]


VARY = [(b"Vary", b"Origin"), (b"Vary", b"Access-Control-Request-Method"), (b"Vary", b"Access-Control-Request-Headers")]
ALLOWED = [
    (b"Access-Control-Allow-Origin", b"https://app.test"), (b"Access-Control-Allow-Methods", b"POST"),
    (b"Access-Control-Allow-Headers", b"X-Grpc-Web, Content-Type"), (b"Access-Control-Allow-Credentials", b"true"),
    (b"Access-Control-Max-Age", b"600"),
]
PREFLIGHT_CASES: list[dict[str, Any]] = [
    {"desc": "listed origin", "origin": b"https://app.test", "allow": [b"https://app.test"], "want": VARY + ALLOWED},
    {"desc": "wildcard echoes the origin", "origin": b"https://app.test", "allow": [b"*"], "want": VARY + ALLOWED},
    {"desc": "other origin", "origin": b"https://evil.test", "allow": [b"https://app.test"], "want": VARY},
    {"desc": "no origin", "origin": b"", "allow": [b"*"], "want": VARY},
    {"desc": "nothing allowed by default", "origin": b"https://app.test", "allow": [], "want": VARY},
    {"desc": "method not allowed", "origin": b"https://app.test", "allow": [b"*"], "method": b"PUT", "want": VARY},
]


@pytest.mark.parametrize("case", PREFLIGHT_CASES, ids=[c["desc"] for c in PREFLIGHT_CASES])
def test_preflight_headers(case: dict[str, Any]) -> None:
    got = preflight_headers(case["origin"], case["allow"], case.get("method", b"post"), b"x-grpc-web, content-type")
    assert got == case["want"]


def test_actual_cors_headers() -> None:
    assert actual_cors_headers(b"https://a", [b"*"], b"POST") == [
        (b"Vary", b"Origin"), (b"Access-Control-Allow-Origin", b"https://a"), (b"Access-Control-Allow-Credentials", b"true"),
    ]
    assert actual_cors_headers(b"https://a", [b"https://b"], b"POST") == [(b"Vary", b"Origin")]


MESSAGE = b"\x00" + struct.pack(">I", 5) + b"hello"
REPLY = b"\x00" + struct.pack(">I", 3) + b"hey"


def _grpc_backend(req: Request) -> Reply:
    if req.method != "POST":
        return Reply(200, b"plain", [(b"Content-Type", b"text/plain")])
    ok = req.header("Content-Type") == "application/grpc+proto" and req.body == MESSAGE
    return Reply(
        200, headers=[(b"Content-Type", b"application/grpc+proto"), (b"Trailer", b"grpc-status")],
        chunks=[REPLY] if ok else [],
        trailers=[(b"Grpc-Status", b"0" if ok else b"3"), (b"Grpc-Message", b"fine" if ok else b"bad request")],
    )


@pytest.fixture
async def grpc_backend() -> AsyncIterator[ScriptServer]:
    server = await ScriptServer.start(_grpc_backend)
    yield server
    await server.stop()


def _config(url: str) -> dict[str, Any]:
    return {"http": {
        "routers": {"r": {"rule": "Host(`a.test`)", "service": "s", "middlewares": ["gw"]}},
        "middlewares": {"gw": {"grpcWeb": {"allowOrigins": ["https://app.test"]}}},
        "services": {"s": lb(url)},
    }}


def _decode_parts(text: bytes) -> bytes:
    decoder = Base64Decoder()
    return decoder.feed(text) + decoder.finish()


async def test_binary_exchange(grpc_backend: ScriptServer) -> None:
    async with running_app(_config(grpc_backend.url), middlewares=FACTORIES) as rt:
        resp = await rt.request("POST", "/pkg.Svc/Call", host="a.test", data=MESSAGE, headers={
            "Content-Type": "application/grpc-web+proto", "Origin": "https://app.test", "X-Grpc-Web": "1",
        })
        body = await resp.read()
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/grpc-web+proto"
        assert resp.headers["Access-Control-Allow-Origin"] == "https://app.test"
        assert "Grpc-Status" not in resp.headers and "Trailer" not in resp.headers
        exposed = resp.headers["Access-Control-Expose-Headers"].split(", ")
        assert {"Content-Type", "Vary", "Access-Control-Allow-Origin"} <= set(exposed)
        assert body == REPLY + trailer_frame([(b"grpc-status", b"0"), (b"grpc-message", b"fine")])
        seen = grpc_backend.requests[-1]
        assert seen.header("Content-Type") == "application/grpc+proto"


async def test_text_exchange(grpc_backend: ScriptServer) -> None:
    async with running_app(_config(grpc_backend.url), middlewares=FACTORIES) as rt:
        encoded = base64.b64encode(MESSAGE)
        resp = await rt.request("POST", "/pkg.Svc/Call", host="a.test", data=encoded,
                                headers={"Content-Type": "application/grpc-web-text+proto"})
        assert resp.headers["Content-Type"] == "application/grpc-web-text+proto"
        assert "Access-Control-Allow-Origin" not in resp.headers  # no Origin: no CORS grant
        assert _decode_parts(await resp.read()) == REPLY + trailer_frame([(b"grpc-status", b"0"), (b"grpc-message", b"fine")])
        assert grpc_backend.requests[-1].body == MESSAGE


async def test_invalid_text_body_is_400(grpc_backend: ScriptServer) -> None:
    async with running_app(_config(grpc_backend.url), middlewares=FACTORIES) as rt:
        resp = await rt.request("POST", "/pkg.Svc/Call", host="a.test", data=b"!!!!",
                                headers={"Content-Type": "application/grpc-web-text"})
        assert resp.status == 400


async def test_preflight_and_pass_through(grpc_backend: ScriptServer) -> None:
    async with running_app(_config(grpc_backend.url), middlewares=FACTORIES) as rt:
        resp = await rt.request("OPTIONS", "/pkg.Svc/Call", host="a.test", headers={
            "Origin": "https://app.test", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-grpc-web,content-type,x-user-agent",
        })
        assert resp.status == 200
        assert resp.headers["Access-Control-Allow-Origin"] == "https://app.test"
        assert resp.headers["Access-Control-Allow-Headers"] == "X-Grpc-Web, Content-Type, X-User-Agent"
        assert resp.headers["Access-Control-Max-Age"] == "600"
        assert grpc_backend.requests == []
        plain = await rt.get("/index.html", host="a.test")
        assert (plain.status, await plain.text()) == (200, "plain")
        assert "Access-Control-Expose-Headers" not in plain.headers
