"""Configuration models → data-plane settings: entrypoints, serversTransports, the forward step.

The proxy package works with small settings objects (no pydantic on the hot path); this module is
the one place that translates the static and dynamic models into them.
"""

from __future__ import annotations

from typing import Any

from traefikpy.config.merge import Merged, provider_of, qualify
from traefikpy.config.static import EntryPoint, StaticConfig
from traefikpy.proxy.entrypoint import ENCODED_CHARACTERS, EntryPointSettings
from traefikpy.proxy.h2client import AnyForwarder, create_forwarder
from traefikpy.proxy.http import Done, Exchange, FastHandler, fast_of
from traefikpy.proxy.settle import continue_async
from traefikpy.proxy.upstream import (
    DEFAULT_TRANSPORT,
    ClientCertificate,
    Transport,
    Upstreams,
)
from traefikpy.services import Forward, Server


def entrypoint_settings(name: str, ep: EntryPoint) -> EntryPointSettings:
    transport = ep.transport
    timeouts = transport.responding_timeouts
    http = ep.http
    return EntryPointSettings(
        name=name,
        address=ep.address,
        reuse_port=ep.reuse_port,
        read_timeout=timeouts.read_timeout,
        write_timeout=timeouts.write_timeout,
        idle_timeout=timeouts.idle_timeout,
        grace_timeout=transport.life_cycle.grace_time_out,
        request_accept_grace_timeout=transport.life_cycle.request_accept_grace_timeout,
        max_header_bytes=http.max_header_bytes if http is not None else 1 << 20,
        keep_alive_max_requests=transport.keep_alive_max_requests,
        keep_alive_max_time=transport.keep_alive_max_time,
        forwarded_insecure=ep.forwarded_headers.insecure if ep.forwarded_headers else False,
        forwarded_trusted_ips=tuple(ep.forwarded_headers.trusted_ips) if ep.forwarded_headers else (),
        forwarded_connection=tuple(ep.forwarded_headers.connection) if ep.forwarded_headers else (),
        proxy_protocol=ep.proxy_protocol is not None,
        proxy_protocol_insecure=ep.proxy_protocol.insecure if ep.proxy_protocol else False,
        proxy_protocol_trusted_ips=tuple(ep.proxy_protocol.trusted_ips) if ep.proxy_protocol else (),
        sanitize_path=http.sanitize_path if http is not None else True,
        encode_query_semicolons=http.encode_query_semicolons if http is not None else False,
        denied_encodings=denied_encodings(http.encoded_characters) if http is not None else frozenset(),
        max_concurrent_streams=ep.http2.max_concurrent_streams,
    )


def denied_encodings(options: Any) -> frozenset[bytes]:
    """The escapes ``http.encodedCharacters`` refuses (upper-case: paths are normalised first)."""
    return frozenset(escape for key, escape in ENCODED_CHARACTERS.items() if not getattr(options, key))


def _transport(name: str, model: Any) -> Transport:
    timeouts = model.forwarding_timeouts
    return Transport(
        name=name,
        server_name=getattr(model, "server_name", "") or "",
        insecure_skip_verify=model.insecure_skip_verify,
        root_cas=tuple(model.root_cas or ()),
        certificates=tuple(ClientCertificate(c.cert_file, c.key_file) for c in getattr(model, "certificates", None) or ()),
        max_idle_conns_per_host=model.max_idle_conns_per_host,
        dial_timeout=timeouts.dial_timeout,
        response_header_timeout=timeouts.response_header_timeout,
        idle_conn_timeout=timeouts.idle_conn_timeout,
        disable_http2=bool(getattr(model, "disable_http2", False)),
        read_idle_timeout=float(getattr(timeouts, "read_idle_timeout", 0.0) or 0.0),
        ping_timeout=float(getattr(timeouts, "ping_timeout", 15.0) or 0.0),
    )


def transports(static: StaticConfig, merged: Merged) -> dict[str, Transport]:
    """The static default transport plus every dynamic ``serversTransports`` entry (qualified)."""
    out = {DEFAULT_TRANSPORT: _transport(DEFAULT_TRANSPORT, static.servers_transport)}
    for name, model in merged.config.http.servers_transports.items():
        out[name] = _transport(name, model)
    return out


class Forwarding:
    """The compiler's ``forward_for``: a forward step per load balancer, pools from ``Upstreams``."""

    def __init__(self, upstreams: Upstreams) -> None:
        self.upstreams = upstreams

    def __call__(self, service: str, lb: Any) -> Forward:
        transport = qualify(lb.servers_transport, provider_of(service)) if lb.servers_transport else DEFAULT_TRANSPORT
        if transport not in self.upstreams.transports:
            raise ValueError(f"serversTransport {transport!r} does not exist")
        pass_host = lb.pass_host_header
        upstreams = self.upstreams
        # One Forwarder per server (it caches the rendered request-head pieces); rebuilt when its
        # pool was retired by a serversTransport change.
        # (forwarder, its fast entry) by (url, preservePath)
        forwarders: dict[tuple[str, bool], tuple[AnyForwarder, FastHandler | None]] = {}

        def forwarder_for(server: Server) -> tuple[AnyForwarder, FastHandler | None]:
            key = (server.url, server.preserve_path)
            entry = forwarders.get(key)
            if entry is None or entry[0].pool.retired:
                # http: the HTTP/1.1 Forwarder; h2c and https (ALPN h2): traefikpy.proxy.h2client
                forwarder = create_forwarder(
                    upstreams, server.url, transport, pass_host_header=pass_host,
                    preserve_path=server.preserve_path)
                entry = forwarders[key] = (forwarder, fast_of(forwarder))
            return entry

        async def forward_to(ex: Exchange, server: Server) -> None:
            await forwarder_for(server)[0](ex)

        def forward_fast(ex: Exchange, server: Server, done: Done | None) -> None:
            forwarder, fast = forwarder_for(server)
            if fast is None:
                continue_async(ex, forwarder(ex), done)
            else:
                fast(ex, done)

        forward_to.fast = forward_fast  # type: ignore[attr-defined]
        return forward_to
