"""gRPC end to end: a real grpcio client → traefikpy → a real grpcio server (h2c:// and https).

The server registers generic handlers on raw bytes (no code generation): unary echo with
metadata both ways, server streaming, client streaming, bidirectional streaming and a call that
fails with a status and message.  The client calls traefikpy's plain entrypoint over h2c (prior
knowledge, the downstream HTTP/2 server) from a worker thread, so the proxy's loop keeps running.
A raw HTTP/1.1 client checks that ``grpc-status``/``grpc-message`` trailers cross to HTTP/1.1.
"""

from __future__ import annotations

import asyncio
import importlib.util
import struct
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
import trustme

from tests.harness import lb, running_app
from tests.proxy.client import RawClient
from tests.tls.conftest import pem_pair

H2_SERVER = importlib.util.find_spec("traefikpy.proxy.h2server") is not None
needs_h2_server = pytest.mark.skipif(not H2_SERVER, reason="the HTTP/2 downstream server is not there yet")


def _unary(request: bytes, context: grpc.ServicerContext) -> bytes:
    metadata = dict(context.invocation_metadata())
    context.send_initial_metadata((("x-initial", "hello"),))
    context.set_trailing_metadata((("x-trailing", "bye"),))
    return b"echo:" + request + b"|" + metadata.get("x-client", "").encode()


def _server_stream(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
    for i in range(int(request)):
        yield b"item-%d" % i


def _client_stream(requests: Iterator[bytes], context: grpc.ServicerContext) -> bytes:
    parts = list(requests)
    return b"%d:%d" % (len(parts), sum(len(p) for p in parts))


def _bidi(requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
    for request in requests:
        yield request.upper()


def _fail(request: bytes, context: grpc.ServicerContext) -> bytes:
    context.set_trailing_metadata((("x-why", "because"),))
    context.abort(grpc.StatusCode.NOT_FOUND, "no such thing: " + request.decode())
    raise AssertionError("unreachable")


def _start_server(credentials: grpc.ServerCredentials | None = None) -> tuple[grpc.Server, int]:
    handler = grpc.method_handlers_generic_handler("test.Echo", {
        "Unary": grpc.unary_unary_rpc_method_handler(_unary),
        "ServerStream": grpc.unary_stream_rpc_method_handler(_server_stream),
        "ClientStream": grpc.stream_unary_rpc_method_handler(_client_stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(_bidi),
        "Fail": grpc.unary_unary_rpc_method_handler(_fail),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((handler,))
    if credentials is None:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    return server, port


@pytest.fixture
def grpc_h2c() -> Iterator[int]:
    server, port = _start_server()
    yield port
    server.stop(0).wait()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def grpc_tls(ca: trustme.CA) -> Iterator[int]:
    cert = ca.issue_cert("127.0.0.1", "grpc.internal")
    credentials = grpc.ssl_server_credentials(
        [(cert.private_key_pem.bytes(), b"".join(c.bytes() for c in cert.cert_chain_pems))]
    )
    server, port = _start_server(credentials)
    yield port
    server.stop(0).wait()


def _config(url: str, transport: dict[str, Any] | None = None) -> dict[str, Any]:
    service = lb(url)
    http: dict[str, Any] = {
        "routers": {"grpc": {"rule": "PathPrefix(`/test.Echo/`)", "service": "g"}},
        "services": {"g": service},
    }
    if transport is not None:
        http["serversTransports"] = {"t": transport}
        service["loadBalancer"]["serversTransport"] = "t"
    return {"http": http}


def _calls(port: int) -> dict[str, Any]:
    """Every call through traefikpy (runs in a worker thread)."""
    out: dict[str, Any] = {}
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        unary = channel.unary_unary("/test.Echo/Unary")
        response, call = unary.with_call(b"ping", metadata=(("x-client", "c1"),), timeout=5)
        out["unary"] = response
        out["initial"] = dict(call.initial_metadata())
        out["trailing"] = dict(call.trailing_metadata())
        stream = channel.unary_stream("/test.Echo/ServerStream")
        out["server_stream"] = list(stream(b"5", timeout=5))
        client_stream = channel.stream_unary("/test.Echo/ClientStream")
        out["client_stream"] = client_stream(iter([b"a", b"bb", b"ccc"]), timeout=5)
        bidi = channel.stream_stream("/test.Echo/Bidi")
        out["bidi"] = list(bidi(iter([b"x", b"yz"]), timeout=5))
        fail = channel.unary_unary("/test.Echo/Fail")
        try:
            fail(b"thing-7", timeout=5)
        except grpc.RpcError as exc:
            out["fail"] = (exc.code(), exc.details(), dict(exc.trailing_metadata() or ()))
        # Many unary calls at once share the connections.
        pool = futures.ThreadPoolExecutor(max_workers=16)
        out["many"] = list(pool.map(lambda i: unary(b"%d" % i, timeout=5), range(64)))
        pool.shutdown()
    return out


def _check(out: dict[str, Any]) -> None:
    assert out["unary"] == b"echo:ping|c1"
    assert out["initial"]["x-initial"] == "hello"
    assert out["trailing"]["x-trailing"] == "bye"
    assert out["server_stream"] == [b"item-%d" % i for i in range(5)]
    assert out["client_stream"] == b"3:6"
    assert out["bidi"] == [b"X", b"YZ"]
    code, details, trailing = out["fail"]
    assert code == grpc.StatusCode.NOT_FOUND
    assert details == "no such thing: thing-7"
    assert trailing["x-why"] == "because"
    assert out["many"] == [b"echo:%d|" % i for i in range(64)]


@needs_h2_server
async def test_grpc_client_to_h2c_server(grpc_h2c: int) -> None:
    async with running_app(_config(f"h2c://127.0.0.1:{grpc_h2c}")) as rt:
        out = await asyncio.to_thread(_calls, rt.app.port("web"))
        from traefikpy.proxy.h2client import h2_upstreams

        stats = h2_upstreams(rt.app.upstreams).stats()
    _check(out)
    assert stats["opened"] == 1  # everything multiplexed on one upstream connection


@needs_h2_server
async def test_grpc_client_to_tls_server(grpc_tls: int, ca: trustme.CA, tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    config = _config(f"https://127.0.0.1:{grpc_tls}", {"rootCAs": [str(ca_file)]})
    async with running_app(config) as rt:
        out = await asyncio.to_thread(_calls, rt.app.port("web"))
    _check(out)


def _frame(message: bytes) -> bytes:
    return b"\x00" + struct.pack(">I", len(message)) + message


async def test_grpc_status_trailers_reach_an_http11_client(grpc_h2c: int) -> None:
    async with running_app(_config(f"h2c://127.0.0.1:{grpc_h2c}")) as rt:
        client = await RawClient.connect(rt.app.port("web"))
        ok = await client.request(
            "POST", "/test.Echo/Unary", body=_frame(b"raw"),
            headers=[("Content-Type", "application/grpc"), ("TE", "trailers"), ("x-client", "h1")],
        )
        failed = await client.request(
            "POST", "/test.Echo/Fail", body=_frame(b"x"),
            headers=[("Content-Type", "application/grpc"), ("TE", "trailers")],
        )
        await client.close()
    assert ok.status == 200
    assert ok.header("content-type") == "application/grpc"
    assert ok.body == _frame(b"echo:raw|h1")
    assert ok.header("transfer-encoding") == "chunked"
    assert (b"grpc-status", b"0") in ok.trailers
    assert (b"x-trailing", b"bye") in ok.trailers
    # A failed call without messages is "trailers-only": its status is in the head.
    assert failed.status == 200
    status = failed.header("grpc-status") or dict(failed.trailers).get(b"grpc-status", b"").decode()
    message = failed.header("grpc-message") or dict(failed.trailers).get(b"grpc-message", b"").decode()
    assert status == "5"
    assert message == "no such thing: x"


async def test_grpc_server_down_is_unavailable() -> None:
    server, port = _start_server()
    server.stop(0).wait()
    async with running_app(_config(f"h2c://127.0.0.1:{port}")) as rt:
        client = await RawClient.connect(rt.app.port("web"))
        resp = await client.request("POST", "/test.Echo/Unary", body=_frame(b"x"),
                                    headers=[("Content-Type", "application/grpc")])
        await client.close()
    assert resp.status == 502


def _tls_calls(port: int, root: bytes) -> dict[str, Any]:
    credentials = grpc.ssl_channel_credentials(root_certificates=root)
    options = (("grpc.ssl_target_name_override", "grpc.test"),)
    out: dict[str, Any] = {}
    with grpc.secure_channel(f"127.0.0.1:{port}", credentials, options=options) as channel:
        out["unary"] = channel.unary_unary("/test.Echo/Unary")(b"tls", metadata=(("x-client", "c2"),), timeout=5)
        out["stream"] = list(channel.unary_stream("/test.Echo/ServerStream")(b"3", timeout=5))
        try:
            channel.unary_unary("/test.Echo/Fail")(b"t", timeout=5)
        except grpc.RpcError as exc:
            out["fail"] = (exc.code(), exc.details())
    return out


@needs_h2_server
async def test_grpc_client_over_tls_entrypoint_to_h2c_server(grpc_h2c: int, ca: trustme.CA) -> None:
    config = _config(f"h2c://127.0.0.1:{grpc_h2c}")
    config["http"]["routers"]["grpc"]["tls"] = {}
    config["tls"] = {"certificates": [pem_pair(ca, "grpc.test")]}
    async with running_app(config) as rt:
        out = await asyncio.to_thread(_tls_calls, rt.app.port("web"), ca.cert_pem.bytes())
    assert out["unary"] == b"echo:tls|c2"
    assert out["stream"] == [b"item-0", b"item-1", b"item-2"]
    assert out["fail"] == (grpc.StatusCode.NOT_FOUND, "no such thing: t")


def _ping_pong(port: int) -> list[bytes]:
    """Bidirectional streaming in lock step: each message is sent only after the answer to the
    previous one arrived, so both directions must stream through the proxy while open."""
    import queue

    outbox: queue.Queue[bytes | None] = queue.Queue()

    def requests() -> Iterator[bytes]:
        while (item := outbox.get(timeout=5)) is not None:
            yield item

    answers: list[bytes] = []
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        outbox.put(b"m0")
        for answer in channel.stream_stream("/test.Echo/Bidi")(requests(), timeout=10):
            answers.append(answer)
            outbox.put(b"m%d" % len(answers) if len(answers) < 5 else None)
    return answers


@needs_h2_server
async def test_grpc_bidi_streams_in_lock_step(grpc_h2c: int) -> None:
    async with running_app(_config(f"h2c://127.0.0.1:{grpc_h2c}")) as rt:
        answers = await asyncio.to_thread(_ping_pong, rt.app.port("web"))
    assert answers == [b"M0", b"M1", b"M2", b"M3", b"M4"]
