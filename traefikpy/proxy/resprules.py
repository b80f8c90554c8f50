"""Response-head rules of the upstream client: which headers are hop-by-hop, framing facts,
and the cache of response heads llhttp already parsed.

Lookups are by raw (as-received) header name, cached, so a response costs one dict lookup per
header.  Kept apart from the connection so the tables read on their own.
"""

from __future__ import annotations

from typing import Final

K_LENGTH: Final = 1
K_CONNECTION: Final = 2
K_CHUNKED: Final = 3  # Transfer-Encoding
K_HOP: Final = 4
K_DATE: Final = 5  # not hop-by-hop: noted so a response without one gets ours, like Go's server
_HOP_KINDS: Final = {
    b"content-length": K_LENGTH,
    b"connection": K_CONNECTION,
    b"transfer-encoding": K_CHUNKED,
    b"keep-alive": K_HOP,
    b"proxy-connection": K_HOP,
    b"proxy-authenticate": K_HOP,
    b"te": K_HOP,
    b"upgrade": K_HOP,
    b"date": K_DATE,
}
RESPONSE_KIND: dict[bytes, int] = {}
"""Kind of a response header by raw name (0: an ordinary header), filled as names are seen."""


Known = tuple[int, int, tuple[tuple[bytes, bytes], ...], tuple[bytes, ...] | None, bool, bool, bool]
KNOWN_HEADS: dict[bytes, Known] = {}
"""Response heads llhttp already parsed (Content-Length framed), by their exact bytes:
(length, status, headers, hop-by-hop names, only-keep-alive, keep-alive, has Date).  A byte-identical head
parses identically, so a complete response that starts with one skips the parser."""

CONNECTION_TOKENS: dict[bytes, list[bytes]] = {}
KEEP_ALIVE_ONLY: Final = [b"keep-alive"]


def connection_tokens(value: bytes) -> list[bytes]:
    tokens = [t.strip().lower() for t in value.split(b",") if t.strip()]
    if len(CONNECTION_TOKENS) < 256:
        CONNECTION_TOKENS[value] = tokens
    return tokens


def classify_response_header(name: bytes) -> int:
    kind = _HOP_KINDS.get(name.lower(), 0)
    if len(RESPONSE_KIND) < 10000:
        RESPONSE_KIND[name] = kind
    return kind
