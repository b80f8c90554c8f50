"""Request-head rules of the HTTP/1.1 server: header classes, rejections and their responses.

Kept apart from the protocol so the tables can be read (and tested) without a socket.  The
responses to malformed requests follow Go's ``net/http`` server, which Traefik runs on: a short
``text/plain`` body such as ``400 Bad Request: missing required Host header`` and the connection
is closed.
"""

from __future__ import annotations

from typing import Final

from traefikpy.proxy.forwarded import MANAGED, is_managed
from traefikpy.proxy.http import REASONS

# Header classes of request headers (the server caches them by raw name).
H_PLAIN: Final = 0
H_HOST: Final = 1
H_CONNECTION: Final = 2
H_DROP: Final = 3  # hop-by-hop, consumed by the server (Keep-Alive, Proxy-Connection, Trailer)
H_TRANSFER_ENCODING: Final = 4
H_TE: Final = 5
H_UPGRADE: Final = 6
H_EXPECT: Final = 7
H_CONTENT_LENGTH: Final = 8
H_MANAGED: Final = 9  # X-Forwarded-* and X-Real-Ip: kept only from trusted peers
H_XFF: Final = 10
H_ALIAS: Final = 11  # X_Forwarded_For-style alias of a managed header

REQUEST_HEADER_CLASS: Final[dict[bytes, int]] = {
    b"host": H_HOST,
    b"connection": H_CONNECTION,
    b"keep-alive": H_DROP,
    b"proxy-connection": H_DROP,
    b"trailer": H_DROP,
    b"transfer-encoding": H_TRANSFER_ENCODING,
    b"te": H_TE,
    b"upgrade": H_UPGRADE,
    b"expect": H_EXPECT,
    b"content-length": H_CONTENT_LENGTH,
    **{name: H_MANAGED for name in MANAGED},
    b"x-forwarded-for": H_XFF,
}



def classify_request_header(name: bytes) -> int:
    """The class of a request header name (any case)."""
    lname = name.lower()
    kind = REQUEST_HEADER_CLASS.get(lname, H_PLAIN)
    if kind == H_PLAIN and lname[:1] == b"x" and b"_" in lname and is_managed(lname):
        return H_ALIAS
    return kind


# Upgrades the server itself would have to speak; never forwarded (h2c is not served yet).
IGNORED_UPGRADES: Final = frozenset({b"h2c"})

MAX_DISCARD: Final = 256 * 1024
"""Unread request body a keep-alive connection may still skip after the response (Go's
``maxPostHandlerReadBytes``); with more left over the connection is closed instead."""


class Reject(Exception):
    """A request that must be refused before it reaches the handler."""

    def __init__(self, status: int, detail: str = "") -> None:
        super().__init__(detail or str(status))
        self.status = status
        self.detail = detail


def reject_response(status: int, detail: str = "") -> bytes:
    """The complete response sent for a rejected request (the connection closes after it)."""
    reason = REASONS.get(status, b"Bad Request")
    body = b"%d %s" % (status, reason)
    if detail:
        body += b": " + detail.encode("ascii", "replace")
    return (
        b"HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n"
        b"Connection: close\r\n\r\n%s" % (status, reason, len(body), body)
    )


def parser_error_status(message: str) -> tuple[int, str]:
    """Map an llhttp error message to Go's answer: unsupported transfer codings are 501."""
    lower = message.lower()
    if "transfer-encoding" in lower and "content-length" not in lower:
        return 501, "unsupported transfer encoding"
    return 400, ""


def connection_tokens(values: list[bytes]) -> set[bytes]:
    """Lower-case tokens of the ``Connection`` header(s)."""
    tokens: set[bytes] = set()
    for value in values:
        for token in value.split(b","):
            token = token.strip().lower()
            if token:
                tokens.add(token)
    return tokens
