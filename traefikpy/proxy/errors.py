"""The data plane's exception tree and the one place that maps it to HTTP statuses.

Forwarding raises these *before anything was sent to the client*, so a caller (balancer, retry,
failover, passive health check) can still react.  Each class carries the status Traefik's
``ComputeStatusCode`` would pick: connection and protocol failures are 502, timeouts 504 (a dial
timeout too: Go reports it as a timeout), no usable server 503, a client that went away 499.
"""

from __future__ import annotations

from typing import ClassVar


class ProxyError(Exception):
    """Base of the data-plane errors; ``status`` is the response code to send for it."""

    status: ClassVar[int] = 500


class UpstreamError(ProxyError):
    """Talking to the upstream server failed.

    ``request_sent`` tells retry logic whether the upstream may have seen (part of) the
    request; a connect error never sent anything.
    """

    status: ClassVar[int] = 502

    def __init__(self, message: str, *, request_sent: bool = False) -> None:
        super().__init__(message)
        self.request_sent = request_sent


class UpstreamConnectError(UpstreamError):
    """DNS failure, refused or reset connection, TLS handshake failure: nothing was sent."""


class UpstreamTimeout(UpstreamError):
    """A timeout while talking to the upstream (dial or response header timeout)."""

    status: ClassVar[int] = 504


class UpstreamConnectTimeout(UpstreamTimeout, UpstreamConnectError):
    """``dialTimeout`` elapsed before the connection was established."""


class UpstreamResponseTimeout(UpstreamTimeout):
    """``responseHeaderTimeout`` elapsed before the response head arrived."""


class UpstreamProtocolError(UpstreamError):
    """The upstream sent something that is not a valid HTTP/1.1 response."""


class UpstreamClosed(UpstreamError):
    """The upstream closed the connection before a complete response head."""


class NoHealthyServer(ProxyError):
    """A service has no server that is up (Traefik: ``no available server``)."""

    status: ClassVar[int] = 503


class ClientClosed(ProxyError):
    """The client went away before the response was written (Traefik logs 499)."""

    status: ClassVar[int] = 499


class RequestBodyError(ProxyError):
    """The client sent a malformed request body (bad chunk framing, overhead abuse)."""

    status: ClassVar[int] = 400


class RequestTimeout(RequestBodyError):
    """``readTimeout`` elapsed while the request body was still being read."""

    status: ClassVar[int] = 408


STATUS_TEXT: dict[int, bytes] = {
    499: b"Client Closed Request",
    502: b"Bad Gateway",
    503: b"Service Unavailable",
    504: b"Gateway Timeout",
    500: b"Internal Server Error",
    400: b"Bad Request",
    408: b"Request Timeout",
}
