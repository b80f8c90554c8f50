"""The security half of the ``headers`` middleware: what Traefik delegates to unrolled/secure.

* ``allowedHosts`` (unless ``isDevelopment``): the request's Host, or the first non-empty header
  of ``hostsProxyHeaders``, must equal one entry ignoring case (the Host header's port counts);
  otherwise 500 ``Bad Host``.
* A request is HTTPS when it came over TLS or one ``sslProxyHeaders`` header has exactly the
  configured value (a missing header reads as "").
* Response headers, set over whatever the backend sent: ``Strict-Transport-Security``
  (``stsSeconds`` > 0, on HTTPS or with ``forceSTSHeader``, never with ``isDevelopment``),
  ``X-Frame-Options`` (``customFrameOptionsValue``, else ``DENY`` for ``frameDeny``),
  ``X-Content-Type-Options: nosniff``, ``X-XSS-Protection`` (``customBrowserXSSValue``, else
  ``1; mode=block``), ``Public-Key-Pins`` (HTTPS only, not in development),
  ``Content-Security-Policy`` and its ``-Report-Only`` twin (``$NONCE`` becomes a fresh
  ``'nonce-...'`` per request), ``Referrer-Policy``, ``Permissions-Policy``.

The header lists are built once per scheme; only a ``$NONCE`` policy costs work per request.
"""

from __future__ import annotations

import base64
import secrets
from typing import Final

from traefikpy.config.middleware_options import Headers as HeadersOptions
from traefikpy.proxy.http import Exchange
from traefikpy.proxy.http import Headers as HeaderList

_NONCE: Final = "$NONCE"
_NONCE_MARK: Final = b"\x00nonce\x00"

REMOVED_OPTIONS: Final = ("feature_policy", "ssl_redirect", "ssl_temporary_redirect", "ssl_host", "ssl_force_host")
"""Options Traefik v3 removed from the headers middleware (accepted in files, never applied)."""


def has_secure_options(options: HeadersOptions) -> bool:
    """Traefik's ``HasSecureHeadersDefined`` without the options v3 removed."""
    o = options
    return bool(
        o.allowed_hosts or o.hosts_proxy_headers or o.ssl_proxy_headers or o.sts_seconds
        or o.sts_include_subdomains or o.sts_preload or o.force_sts_header or o.frame_deny
        or o.custom_frame_options_value or o.content_type_nosniff or o.browser_xss_filter
        or o.custom_browser_xss_value or o.content_security_policy
        or o.content_security_policy_report_only or o.public_key or o.referrer_policy
        or o.permissions_policy or o.is_development
    )


def _response_headers(o: HeadersOptions, ssl: bool) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if o.sts_seconds != 0 and (ssl or o.force_sts_header) and not o.is_development:
        value = f"max-age={o.sts_seconds}"
        if o.sts_include_subdomains:
            value += "; includeSubDomains"
        if o.sts_preload:
            value += "; preload"
        out.append(("Strict-Transport-Security", value))
    if o.custom_frame_options_value:
        out.append(("X-Frame-Options", o.custom_frame_options_value))
    elif o.frame_deny:
        out.append(("X-Frame-Options", "DENY"))
    if o.content_type_nosniff:
        out.append(("X-Content-Type-Options", "nosniff"))
    if o.custom_browser_xss_value:
        out.append(("X-Xss-Protection", o.custom_browser_xss_value))
    elif o.browser_xss_filter:
        out.append(("X-Xss-Protection", "1; mode=block"))
    if o.public_key and ssl and not o.is_development:
        out.append(("Public-Key-Pins", o.public_key))
    if o.content_security_policy:
        out.append(("Content-Security-Policy", o.content_security_policy))
    if o.content_security_policy_report_only:
        out.append(("Content-Security-Policy-Report-Only", o.content_security_policy_report_only))
    if o.referrer_policy:
        out.append(("Referrer-Policy", o.referrer_policy))
    if o.permissions_policy:
        out.append(("Permissions-Policy", o.permissions_policy))
    return out


def _encode(value: str) -> bytes:
    return value.replace(_NONCE, "'nonce-\x00nonce\x00'").encode("utf-8")


class Secure:
    """Host checks, HTTPS detection and the security response headers of one middleware."""

    __slots__ = ("allowed", "host_headers", "ssl_headers", "plain", "tls", "nonce")

    def __init__(self, options: HeadersOptions) -> None:
        self.allowed = (
            frozenset(h.casefold() for h in options.allowed_hosts)
            if options.allowed_hosts and not options.is_development else None
        )
        self.host_headers = tuple(h.lower().encode("latin-1") for h in options.hosts_proxy_headers)
        self.ssl_headers = tuple(
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in options.ssl_proxy_headers.items()
        )
        self.plain: HeaderList = [(k.encode(), _encode(v)) for k, v in _response_headers(options, False)]
        self.tls: HeaderList = [(k.encode(), _encode(v)) for k, v in _response_headers(options, True)]
        self.nonce = any(_NONCE_MARK in v for _, v in self.tls)

    def host_allowed(self, ex: Exchange) -> bool:
        allowed = self.allowed
        if allowed is None:
            return True
        host: bytes | None = None
        for name in self.host_headers:
            host = ex.header(name)
            if host:
                break
        if not host:
            host = ex.header(b"host") or b""
        return host.decode("latin-1").casefold() in allowed

    def is_ssl(self, ex: Exchange) -> bool:
        if ex.scheme == "https" or ex.tls is not None:
            return True
        return any((ex.header(name) or b"") == value for name, value in self.ssl_headers)

    def headers_for(self, ssl: bool) -> HeaderList:
        """The security headers to set on this response (fresh nonces when configured)."""
        headers = self.tls if ssl else self.plain
        if not self.nonce:
            return headers
        nonce = base64.b64encode(secrets.token_bytes(16)).rstrip(b"=")
        return [(k, v.replace(_NONCE_MARK, nonce)) for k, v in headers]

    def __repr__(self) -> str:
        return f"<Secure allowed={sorted(self.allowed or ())} headers={[k.decode() for k, _ in self.tls]}>"
