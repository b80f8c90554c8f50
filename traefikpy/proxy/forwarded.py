"""``X-Forwarded-*`` handling at the entry point (``entryPoints.<ep>.forwardedHeaders``).

Traefik's ``forwardedheaders.XForwarded`` handler, restated:

1. Unless ``insecure`` is set or the peer is in ``trustedIPs``, every header Traefik manages
   (:data:`MANAGED`, and their ``X_Forwarded_For``-style underscore variants) is removed.
2. Then, where still absent: ``X-Real-Ip`` = peer IP, ``X-Forwarded-Proto`` = http/https
   (ws/wss for a WebSocket handshake), ``X-Forwarded-Port`` = Host's port, else 443 when the
   proto is https/wss or the connection is TLS, else 80, ``X-Forwarded-Host`` = Host;
   ``X-Forwarded-Server`` is always set to this host's name; several ``X-Forwarded-For``
   headers are folded into one.
3. ``X-Forwarded-For`` gets the peer IP appended later, by the forwarder (like Traefik's proxy).

The server classifies headers while parsing (one dict lookup per header) and calls
:meth:`ForwardedPolicy.finish` once per request; nothing here allocates per header.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from typing import Final

from traefikpy.proxy.http import Headers
from traefikpy.proxy.ipcheck import IPChecker
from traefikpy.proxy.target import host_port

MANAGED: Final = frozenset(
    {
        b"x-forwarded-proto", b"x-forwarded-scheme", b"x-forwarded-for", b"x-forwarded-host",
        b"x-forwarded-port", b"x-forwarded-server", b"x-forwarded-uri", b"x-forwarded-method",
        b"x-forwarded-prefix", b"x-forwarded-tls-client-cert", b"x-forwarded-tls-client-cert-info",
        b"x-scheme", b"x-real-ip",
    }
)
"""Lower-case names of the headers Traefik manages (and strips from untrusted peers)."""

XFF: Final = b"x-forwarded-for"
_PROTO: Final = b"x-forwarded-proto"
_PORT: Final = b"x-forwarded-port"
_HOST: Final = b"x-forwarded-host"
_REAL_IP: Final = b"x-real-ip"
_SERVER: Final = b"x-forwarded-server"


def is_managed(lname: bytes) -> bool:
    """``lname`` (lower-case) is a managed header or an underscore variant of one."""
    if lname in MANAGED:
        return True
    return lname[:1] == b"x" and b"_" in lname and lname.replace(b"_", b"-") in MANAGED


class ForwardedPolicy:
    """The precomputed forwarded-headers behaviour of one entry point."""

    __slots__ = ("insecure", "checker", "connection", "hostname", "_server_header")

    def __init__(
        self,
        *,
        insecure: bool = False,
        trusted_ips: Iterable[str] = (),
        connection: Iterable[str] = (),
        hostname: str | None = None,
    ) -> None:
        self.insecure = insecure
        self.checker = IPChecker(trusted_ips)
        # Connection-listed headers that survive until the forwarder strips them.
        self.connection = frozenset(c.strip().lower().encode("latin-1") for c in connection if c.strip())
        name = hostname if hostname is not None else (socket.gethostname() or "localhost")
        self.hostname = name.encode("latin-1", "replace")
        self._server_header = (b"X-Forwarded-Server", self.hostname)

    def trusts(self, peer_ip: str) -> bool:
        """Whether ``X-Forwarded-*`` headers from this peer are kept."""
        return self.insecure or self.checker.contains(peer_ip)

    def finish(
        self,
        headers: Headers,
        seen: dict[bytes, bytes] | None,
        xff_values: list[bytes] | None,
        *,
        client_ip: bytes,
        tls: bool,
        websocket: bool,
        host: bytes | None,
    ) -> None:
        """Append the headers Traefik's entry point adds (see the module docstring).

        ``seen`` maps the managed headers that were kept (trusted peer) to their first value;
        ``xff_values`` holds the kept ``X-Forwarded-For`` values when there were several (the
        server then left them out of ``headers``); ``host`` is the raw Host value.
        """
        append = headers.append
        if seen is None:
            append((b"X-Real-Ip", client_ip))
            proto = (b"wss" if tls else b"ws") if websocket else (b"https" if tls else b"http")
            append((b"X-Forwarded-Proto", proto))
            port = host_port(host) if host else b""
            port = port or (b"443" if tls else b"80")
            append((b"X-Forwarded-Port", port))
            if host:
                append((b"X-Forwarded-Host", host))
            append(self._server_header)
            return
        if _REAL_IP not in seen:
            append((b"X-Real-Ip", client_ip))
        proto = seen.get(_PROTO, b"")
        if not proto:
            proto = (b"wss" if tls else b"ws") if websocket else (b"https" if tls else b"http")
            append((b"X-Forwarded-Proto", proto))
        if _PORT not in seen:
            port = host_port(host) if host else b""
            port = port or (b"443" if proto in (b"https", b"wss") or tls else b"80")
            append((b"X-Forwarded-Port", port))
        if _HOST not in seen and host:
            append((b"X-Forwarded-Host", host))
        if xff_values:
            append((b"X-Forwarded-For", b", ".join(xff_values)))
        if _SERVER in seen:
            headers[:] = [(k, v) for k, v in headers if k.lower() != _SERVER]
        append(self._server_header)

    def __repr__(self) -> str:
        return f"ForwardedPolicy(insecure={self.insecure}, trusted={self.checker!r})"
