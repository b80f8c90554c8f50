"""A sans-IO reader of the TLS ClientHello: is this TLS, and which server name does it ask for?

Entry points peek the first bytes of each connection (``MSG_PEEK``) to tell a TLS handshake from
plain HTTP on the same port, as Traefik does, and to learn the SNI before the handshake starts,
so the TLS option set (versions, client authentication) is chosen by the name the client asked
for.  :func:`read_client_hello` looks at those bytes and never consumes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

HANDSHAKE: Final = 0x16
CLIENT_HELLO: Final = 0x01
SERVER_NAME_EXT: Final = 0x0000
ALPN_EXT: Final = 0x0010
MAX_HELLO: Final = 16384 + 5
"""A ClientHello larger than one full record is read no further (it is handed to OpenSSL as is)."""


@dataclass(frozen=True, slots=True)
class Hello:
    """What the peeked bytes tell: ``tls`` false means plain HTTP; ``complete`` false means more
    bytes are needed to know the server name; ``server_name`` is lower-cased, "" without SNI;
    ``alpn`` lists the protocols the client offers (the ACME TLS-ALPN-01 check uses it)."""

    tls: bool
    complete: bool
    server_name: str = ""
    alpn: tuple[str, ...] = ()


NOT_TLS: Final = Hello(False, True)
NEED_MORE: Final = Hello(True, False)


def read_client_hello(data: bytes) -> Hello:
    """Classify the first bytes of a connection (see :class:`Hello`)."""
    if not data:
        return NEED_MORE
    if data[0] != HANDSHAKE:
        return NOT_TLS
    if len(data) < 5:
        return NEED_MORE
    record_len = int.from_bytes(data[3:5], "big")
    if len(data) < 5 + record_len and len(data) < MAX_HELLO:
        return NEED_MORE
    try:
        return Hello(True, True, *_extensions(data[5:5 + record_len]))
    except (IndexError, ValueError):
        # Malformed or split over several records: OpenSSL decides; no SNI known beforehand.
        return Hello(True, True, "")


def _extensions(body: bytes) -> tuple[str, tuple[str, ...]]:
    if body[0] != CLIENT_HELLO:
        raise ValueError("not a ClientHello")
    end = 4 + int.from_bytes(body[1:4], "big")
    if end > len(body):
        raise ValueError("ClientHello split over records")
    pos = 4 + 2 + 32  # legacy_version, random
    pos += 1 + body[pos]  # session id
    pos += 2 + int.from_bytes(body[pos:pos + 2], "big")  # cipher suites
    pos += 1 + body[pos]  # compression methods
    if pos >= end:
        return "", ()  # no extensions
    ext_end = pos + 2 + int.from_bytes(body[pos:pos + 2], "big")
    pos += 2
    name, alpn = "", tuple[str, ...]()
    while pos + 4 <= min(ext_end, end):
        kind = int.from_bytes(body[pos:pos + 2], "big")
        size = int.from_bytes(body[pos + 2:pos + 4], "big")
        pos += 4
        if kind == SERVER_NAME_EXT:
            name = _host_name(body[pos:pos + size])
        elif kind == ALPN_EXT:
            alpn = _protocols(body[pos:pos + size])
        pos += size
    return name, alpn


def _protocols(ext: bytes) -> tuple[str, ...]:
    out = []
    pos = 2  # protocol_name_list length
    while pos < len(ext):
        size = ext[pos]
        out.append(ext[pos + 1:pos + 1 + size].decode("ascii", "replace"))
        pos += 1 + size
    return tuple(out)


def _host_name(ext: bytes) -> str:
    pos = 2  # server_name_list length
    while pos + 3 <= len(ext):
        name_type = ext[pos]
        size = int.from_bytes(ext[pos + 1:pos + 3], "big")
        name = ext[pos + 3:pos + 3 + size]
        if len(name) != size:
            raise ValueError("truncated server name")
        if name_type == 0:
            return name.decode("ascii", "replace").lower().rstrip(".")
        pos += 3 + size
    return ""
