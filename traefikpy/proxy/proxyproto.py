"""PROXY protocol v1 (text) and v2 (binary) header parsing: pure, sans-IO.

A load balancer in front of an entry point may prefix each connection with a PROXY header that
carries the original client address.  :func:`parse` looks at the first bytes of a connection and
answers one of three things:

* ``INCOMPLETE``: the bytes so far are a prefix of a PROXY header; read more.
* ``ABSENT``: the connection does not start with a PROXY header (plain HTTP or TLS); like
  go-proxyproto, which Traefik uses, the header is optional.
* a :class:`ProxyHeader` with the number of bytes it used; the payload starts right after.

A malformed header raises :class:`ProxyProtocolError` (the entry point closes the connection).
Whether the addresses are *used* depends on the peer being trusted; that policy lives in the
server, not here.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import Final, Literal

V1_PREFIX: Final = b"PROXY "
V1_MAX_LEN: Final = 107  # the spec's worst case, CRLF included
V2_SIGNATURE: Final = b"\r\n\r\n\x00\r\nQUIT\n"
V2_HEADER_LEN: Final = 16
V2_MAX_PAYLOAD: Final = 65535


class ProxyProtocolError(ValueError):
    """The connection starts with a PROXY signature but the header is invalid."""


@dataclass(frozen=True, slots=True)
class ProxyHeader:
    """A parsed PROXY header.  ``local`` (v2 LOCAL, v1 UNKNOWN) means: keep the socket's own
    addresses.  ``consumed`` is the header length in bytes."""

    version: Literal[1, 2]
    local: bool
    src_ip: str = ""
    src_port: int = 0
    dst_ip: str = ""
    dst_port: int = 0
    consumed: int = 0
    tlvs: tuple[tuple[int, bytes], ...] = ()


class _Marker:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


INCOMPLETE: Final = _Marker("INCOMPLETE")
ABSENT: Final = _Marker("ABSENT")

ParseResult = ProxyHeader | _Marker


def parse(data: bytes) -> ParseResult:
    """Parse a PROXY header at the start of ``data`` (see the module docstring)."""
    if not data:
        return INCOMPLETE
    if data[0] == V1_PREFIX[0]:
        if len(data) < len(V1_PREFIX):
            return INCOMPLETE if V1_PREFIX.startswith(data) else ABSENT
        if not data.startswith(V1_PREFIX):
            return ABSENT
        return _parse_v1(data)
    if data[0] == V2_SIGNATURE[0]:
        if len(data) < len(V2_SIGNATURE):
            return INCOMPLETE if V2_SIGNATURE.startswith(data) else ABSENT
        if not data.startswith(V2_SIGNATURE):
            return ABSENT
        return _parse_v2(data)
    return ABSENT


def _parse_v1(data: bytes) -> ParseResult:
    end = data.find(b"\r\n", 0, V1_MAX_LEN)
    if end < 0:
        if len(data) >= V1_MAX_LEN or b"\n" in data[:V1_MAX_LEN]:
            raise ProxyProtocolError("PROXY v1 header is too long or not terminated by CRLF")
        return INCOMPLETE
    line = data[len(V1_PREFIX) : end]
    parts = line.split(b" ")
    consumed = end + 2
    if parts[0] == b"UNKNOWN":
        # "PROXY UNKNOWN" with anything after it: the receiver must ignore the addresses.
        return ProxyHeader(version=1, local=True, consumed=consumed)
    if len(parts) != 5 or parts[0] not in (b"TCP4", b"TCP6"):
        raise ProxyProtocolError(f"invalid PROXY v1 header {line[:64]!r}")
    family = ipaddress.IPv4Address if parts[0] == b"TCP4" else ipaddress.IPv6Address
    src_ip = _v1_ip(parts[1], family)
    dst_ip = _v1_ip(parts[2], family)
    return ProxyHeader(
        version=1,
        local=False,
        src_ip=src_ip,
        src_port=_v1_port(parts[3]),
        dst_ip=dst_ip,
        dst_port=_v1_port(parts[4]),
        consumed=consumed,
    )


def _v1_ip(raw: bytes, family: type[ipaddress.IPv4Address] | type[ipaddress.IPv6Address]) -> str:
    try:
        return str(family(raw.decode("ascii")))
    except (ValueError, UnicodeDecodeError):
        raise ProxyProtocolError(f"invalid address {raw[:48]!r} in PROXY v1 header") from None


def _v1_port(raw: bytes) -> int:
    # The spec forbids leading zeros; go-proxyproto is lenient about them, and so are we.
    if not raw.isdigit() or len(raw) > 5:
        raise ProxyProtocolError(f"invalid port {raw[:8]!r} in PROXY v1 header")
    port = int(raw)
    if port > 65535:
        raise ProxyProtocolError(f"port {port} out of range in PROXY v1 header")
    return port


_CMD_LOCAL: Final = 0x0
_CMD_PROXY: Final = 0x1
_FAM_UNSPEC: Final = 0x0
_FAM_INET: Final = 0x1
_FAM_INET6: Final = 0x2
_FAM_UNIX: Final = 0x3


def _parse_v2(data: bytes) -> ParseResult:
    if len(data) < V2_HEADER_LEN:
        return INCOMPLETE
    ver_cmd, fam_proto, length = struct.unpack_from("!BBH", data, 12)
    if ver_cmd >> 4 != 2:
        raise ProxyProtocolError(f"unsupported PROXY v2 version {ver_cmd >> 4}")
    command = ver_cmd & 0x0F
    if command not in (_CMD_LOCAL, _CMD_PROXY):
        raise ProxyProtocolError(f"invalid PROXY v2 command {command}")
    total = V2_HEADER_LEN + length
    if len(data) < total:
        return INCOMPLETE
    payload = data[V2_HEADER_LEN:total]
    family, transport = fam_proto >> 4, fam_proto & 0x0F
    if family > _FAM_UNIX or transport > 2:
        raise ProxyProtocolError(f"invalid PROXY v2 address family/protocol 0x{fam_proto:02x}")
    if command == _CMD_LOCAL or family in (_FAM_UNSPEC, _FAM_UNIX):
        # LOCAL: health checks from the proxy itself; UNSPEC/UNIX: nothing usable as a client IP.
        return ProxyHeader(version=2, local=True, consumed=total, tlvs=_tlvs(payload, _addr_len(family)))
    addr_len = _addr_len(family)
    if len(payload) < addr_len:
        raise ProxyProtocolError("PROXY v2 header is shorter than its addresses")
    size = 4 if family == _FAM_INET else 16
    src = ipaddress.ip_address(payload[0:size])
    dst = ipaddress.ip_address(payload[size : 2 * size])
    src_port, dst_port = struct.unpack_from("!HH", payload, 2 * size)
    return ProxyHeader(
        version=2,
        local=False,
        src_ip=str(src),
        src_port=src_port,
        dst_ip=str(dst),
        dst_port=dst_port,
        consumed=total,
        tlvs=_tlvs(payload, addr_len),
    )


def _addr_len(family: int) -> int:
    return {_FAM_INET: 12, _FAM_INET6: 36, _FAM_UNIX: 216}.get(family, 0)


def _tlvs(payload: bytes, start: int) -> tuple[tuple[int, bytes], ...]:
    out: list[tuple[int, bytes]] = []
    pos = min(start, len(payload))
    while pos < len(payload):
        if pos + 3 > len(payload):
            raise ProxyProtocolError("truncated TLV in PROXY v2 header")
        kind, size = payload[pos], struct.unpack_from("!H", payload, pos + 1)[0]
        end = pos + 3 + size
        if end > len(payload):
            raise ProxyProtocolError("TLV longer than the PROXY v2 header")
        out.append((kind, bytes(payload[pos + 3 : end])))
        pos = end
    return tuple(out)


def build_v1(src_ip: str, src_port: int, dst_ip: str, dst_port: int) -> bytes:
    """A v1 header (used by tests and by a future proxyProtocol option of servers transports)."""
    proto = b"TCP6" if ":" in src_ip else b"TCP4"
    return b"PROXY %s %s %s %d %d\r\n" % (proto, src_ip.encode(), dst_ip.encode(), src_port, dst_port)


def build_v2(src_ip: str, src_port: int, dst_ip: str, dst_port: int, *, local: bool = False) -> bytes:
    """A v2 header for a TCP connection (``local=True`` builds a LOCAL command without addresses)."""
    if local:
        return V2_SIGNATURE + bytes([0x20, 0x00]) + struct.pack("!H", 0)
    src, dst = ipaddress.ip_address(src_ip), ipaddress.ip_address(dst_ip)
    fam = 0x11 if src.version == 4 else 0x21
    body = src.packed + dst.packed + struct.pack("!HH", src_port, dst_port)
    return V2_SIGNATURE + bytes([0x21, fam]) + struct.pack("!H", len(body)) + body
