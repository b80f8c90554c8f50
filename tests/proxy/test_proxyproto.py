"""PROXY protocol v1/v2 header parsing (pure, table-tested)."""

from __future__ import annotations

import struct

import pytest

from traefikpy.proxy.proxyproto import (
    ABSENT,
    INCOMPLETE,
    V2_SIGNATURE,
    ProxyHeader,
    ProxyProtocolError,
    build_v1,
    build_v2,
    parse,
)

V2_TCP4 = build_v2("203.0.113.7", 51000, "10.0.0.1", 443)
V2_TCP6 = build_v2("2001:db8::7", 51001, "2001:db8::1", 443)
V2_LOCAL = build_v2("", 0, "", 0, local=True)


def _v2(ver_cmd: int, fam: int, payload: bytes) -> bytes:
    return V2_SIGNATURE + bytes([ver_cmd, fam]) + struct.pack("!H", len(payload)) + payload


PARSE_CASES = [
    {
        "desc": "v1 tcp4",
        "data": b"PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\nGET / HTTP/1.1\r\n",
        "want": ProxyHeader(1, False, "192.0.2.1", 56324, "198.51.100.1", 443, 45),
    },
    {
        "desc": "v1 tcp6",
        "data": b"PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n",
        "want": ProxyHeader(1, False, "2001:db8::1", 1, "2001:db8::2", 2, 40),
    },
    {"desc": "v1 unknown", "data": b"PROXY UNKNOWN\r\n", "want": ProxyHeader(1, True, consumed=15)},
    {
        "desc": "v1 unknown with addresses",
        "data": b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\nxx",
        "want": ProxyHeader(1, True, consumed=35),
    },
    {
        "desc": "v2 tcp4",
        "data": V2_TCP4 + b"GET",
        "want": ProxyHeader(2, False, "203.0.113.7", 51000, "10.0.0.1", 443, len(V2_TCP4)),
    },
    {
        "desc": "v2 tcp6",
        "data": V2_TCP6,
        "want": ProxyHeader(2, False, "2001:db8::7", 51001, "2001:db8::1", 443, len(V2_TCP6)),
    },
    {"desc": "v2 local", "data": V2_LOCAL, "want": ProxyHeader(2, True, consumed=16)},
    {
        "desc": "v2 with a TLV",
        "data": _v2(0x21, 0x11, bytes([1, 2, 3, 4, 5, 6, 7, 8]) + struct.pack("!HH", 1, 2) + b"\x04\x00\x02ab"),
        "want": ProxyHeader(2, False, "1.2.3.4", 1, "5.6.7.8", 2, 16 + 17, tlvs=((4, b"ab"),)),
    },
    {"desc": "v2 unspec family", "data": _v2(0x21, 0x00, b""), "want": ProxyHeader(2, True, consumed=16)},
    {"desc": "plain http", "data": b"GET / HTTP/1.1\r\n", "want": ABSENT},
    {"desc": "tls client hello", "data": b"\x16\x03\x01\x02\x00", "want": ABSENT},
    {"desc": "starts like PROXY but is not", "data": b"POST / HTTP/1.1", "want": ABSENT},
    {"desc": "CR then not v2", "data": b"\r\n\r\nxx", "want": ABSENT},
    {"desc": "empty", "data": b"", "want": INCOMPLETE},
    {"desc": "v1 prefix", "data": b"PRO", "want": INCOMPLETE},
    {"desc": "v1 without CRLF yet", "data": b"PROXY TCP4 1.2.3.4", "want": INCOMPLETE},
    {"desc": "v2 partial signature", "data": V2_SIGNATURE[:5], "want": INCOMPLETE},
    {"desc": "v2 partial header", "data": V2_TCP4[:20], "want": INCOMPLETE},
]


@pytest.mark.parametrize("case", PARSE_CASES, ids=[c["desc"] for c in PARSE_CASES])
def test_parse(case: dict) -> None:
    assert parse(case["data"]) == case["want"]


BAD_CASES = [
    {"desc": "v1 bad family", "data": b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"},
    {"desc": "v1 bad ip", "data": b"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n"},
    {"desc": "v1 family mismatch", "data": b"PROXY TCP4 ::1 ::2 1 2\r\n"},
    {"desc": "v1 port out of range", "data": b"PROXY TCP4 1.2.3.4 5.6.7.8 70000 2\r\n"},
    {"desc": "v1 missing field", "data": b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"},
    {"desc": "v1 bare LF", "data": b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"},
    {"desc": "v1 too long", "data": b"PROXY TCP4 " + b"1" * 120},
    {"desc": "v2 wrong version", "data": _v2(0x11, 0x11, bytes(12))},
    {"desc": "v2 bad command", "data": _v2(0x2F, 0x11, bytes(12))},
    {"desc": "v2 bad family", "data": _v2(0x21, 0x51, bytes(12))},
    {"desc": "v2 short address block", "data": _v2(0x21, 0x11, bytes(6))},
    {"desc": "v2 truncated TLV", "data": _v2(0x21, 0x11, bytes(12) + b"\x04\x00")},
    {"desc": "v2 TLV overflows", "data": _v2(0x21, 0x11, bytes(12) + b"\x04\x00\x09ab")},
]


@pytest.mark.parametrize("case", BAD_CASES, ids=[c["desc"] for c in BAD_CASES])
def test_parse_rejects(case: dict) -> None:
    with pytest.raises(ProxyProtocolError):
        parse(case["data"])


def test_build_v1_round_trip() -> None:
    header = build_v1("192.0.2.9", 1234, "192.0.2.10", 80)
    parsed = parse(header)
    assert isinstance(parsed, ProxyHeader)
    assert (parsed.src_ip, parsed.src_port, parsed.consumed) == ("192.0.2.9", 1234, len(header))
