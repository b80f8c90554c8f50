"""``healthCheck.mode: grpc``: one call of the gRPC Health Checking Protocol v1 over HTTP/2.

``POST /grpc.health.v1.Health/Check`` with an empty ``HealthCheckRequest`` (all services, as
Traefik sends), over cleartext HTTP/2 (prior knowledge) for ``http``/``h2c`` URLs and TLS with
ALPN ``h2`` for ``https``.  The server is healthy when the call ends with ``grpc-status: 0`` and
the ``HealthCheckResponse`` says ``SERVING``.  The caller bounds the call with the check timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl as ssl_module
from urllib.parse import urlsplit

import h2.config
import h2.connection
import h2.events

HEALTH_PATH = "/grpc.health.v1.Health/Check"
SERVING = 1
_EMPTY_REQUEST = b"\x00\x00\x00\x00\x00"  # uncompressed gRPC frame of an empty protobuf message


def serving_status(message: bytes) -> int:
    """The ``status`` field (1, varint) of a framed ``HealthCheckResponse``; 0 (UNKNOWN) when
    absent.  Raises ValueError on a malformed frame."""
    if len(message) < 5 or message[0] != 0:
        raise ValueError("malformed or compressed gRPC message")
    size = int.from_bytes(message[1:5], "big")
    body = message[5 : 5 + size]
    if len(body) != size:
        raise ValueError("truncated gRPC message")
    pos, status = 0, 0
    while pos < len(body):
        key, pos = _varint(body, pos)
        field_number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, pos = _varint(body, pos)
            if field_number == 1:
                status = value
        elif wire_type == 2:
            length, pos = _varint(body, pos)
            pos += length
        elif wire_type == 1:
            pos += 8
        elif wire_type == 5:
            pos += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire_type}")
    return status


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("bad varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


async def grpc_health_check(url: str, *, ssl: ssl_module.SSLContext | bool | None = None, authority: str | None = None) -> bool:
    """True when the gRPC server at ``url`` reports SERVING."""
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    host = parts.hostname or ""
    port = parts.port or (443 if secure else 80)
    context: ssl_module.SSLContext | None = None
    if secure:
        if isinstance(ssl, ssl_module.SSLContext):
            context = ssl
        else:
            context = ssl_module.create_default_context()
            if ssl is False:
                context.check_hostname = False
                context.verify_mode = ssl_module.CERT_NONE
        context.set_alpn_protocols(["h2"])
    reader, writer = await asyncio.open_connection(host, port, ssl=context, server_hostname=host if secure else None)
    try:
        conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        stream = conn.get_next_available_stream_id()
        conn.send_headers(stream, [
            (":method", "POST"), (":scheme", "https" if secure else "http"), (":path", HEALTH_PATH),
            (":authority", authority or parts.netloc), ("content-type", "application/grpc"), ("te", "trailers"),
        ])
        conn.send_data(stream, _EMPTY_REQUEST, end_stream=True)
        writer.write(conn.data_to_send())
        await writer.drain()
        body = bytearray()
        grpc_status: str | None = None
        http_status: str | None = None
        while True:
            data = await reader.read(65536)
            if not data:
                return False
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived | h2.events.TrailersReceived):
                    for name, value in event.headers:
                        if name == b":status":
                            http_status = value.decode("latin-1")
                        elif name == b"grpc-status":
                            grpc_status = value.decode("latin-1")
                elif isinstance(event, h2.events.DataReceived):
                    body += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded | h2.events.StreamReset):
                    if http_status != "200" or grpc_status != "0":
                        return False
                    return serving_status(bytes(body)) == SERVING
                elif isinstance(event, h2.events.ConnectionTerminated):
                    return False
            pending = conn.data_to_send()
            if pending:
                writer.write(pending)
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl_module.SSLError):
            await writer.wait_closed()
