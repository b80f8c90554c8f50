"""Answers to ACME challenges while an order is open: HTTP-01 tokens and TLS-ALPN-01 certificates.

* HTTP-01: ``acme-http@internal`` answers ``/.well-known/acme-challenge/<token>`` on the
  ``httpChallenge.entryPoint`` at the highest priority, like Traefik's internal router.
* TLS-ALPN-01 (RFC 8737): a handshake offering ALPN ``acme-tls/1`` for a name with an open
  challenge gets a self-signed certificate for that name carrying the critical ``acmeIdentifier``
  extension (1.3.6.1.5.5.7.1.31, the DER OCTET STRING of ``sha256(keyAuthorization)``), and
  negotiates ``acme-tls/1``.  The entry point asks :meth:`Challenges.alpn_context` before its
  usual certificate selection (see ``traefikpy/tls/listener.py``).
"""

from __future__ import annotations

import datetime
import hashlib
import ssl
import threading
from typing import Final

from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier

from traefikpy.proxy.http import Exchange
from traefikpy.tls.certs import StoredCert, self_signed
from traefikpy.tls.manager import ACME_TLS_ALPN
from traefikpy.tls.options import OptionPlan, build_context

HTTP_CHALLENGE_PREFIX: Final = "/.well-known/acme-challenge/"
HTTP_CHALLENGE_ROUTER: Final = "acme-http@internal"
HTTP_CHALLENGE_RULE: Final = f"PathPrefix(`{HTTP_CHALLENGE_PREFIX}`)"
ACME_IDENTIFIER_OID: Final = ObjectIdentifier("1.3.6.1.5.5.7.1.31")


def alpn_challenge_cert(domain: str, key_authorization: str) -> tuple[bytes, bytes]:
    """The self-signed TLS-ALPN-01 certificate (PEM) and key (PEM) for ``domain``."""
    digest = hashlib.sha256(key_authorization.encode()).digest()
    # DER OCTET STRING (tag 0x04, length 32) of the digest
    identifier = x509.UnrecognizedExtension(ACME_IDENTIFIER_OID, b"\x04\x20" + digest)
    return self_signed("ACME challenge", domain, not_before=datetime.timedelta(minutes=5),
                       not_after=datetime.timedelta(days=1), extensions=(identifier,))


class Challenges:
    """The open challenges of every resolver (filled from the ACME worker threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, str] = {}  # token -> key authorization
        self._alpn: dict[str, ssl.SSLContext] = {}  # domain -> challenge context
        self.http_answers = 0  # key authorizations served (HTTP-01)
        self.alpn_answers = 0  # challenge certificates served (TLS-ALPN-01)

    # HTTP-01
    def add_token(self, token: str, key_authorization: str) -> None:
        with self._lock:
            self._tokens[token] = key_authorization

    def remove_token(self, token: str) -> None:
        with self._lock:
            self._tokens.pop(token, None)

    async def http_handler(self, ex: Exchange) -> None:
        """The ``acme-http@internal`` handler: the key authorization of a known token, else 404."""
        token = ex.path[len(HTTP_CHALLENGE_PREFIX):] if ex.path.startswith(HTTP_CHALLENGE_PREFIX) else ""
        answer = self._tokens.get(token) if token else None
        if answer is None:
            await ex.respond(404, b"404 page not found\n")
            return
        self.http_answers += 1
        await ex.respond(200, answer.encode(), content_type=b"text/plain")

    # TLS-ALPN-01
    def add_alpn(self, domain: str, key_authorization: str) -> None:
        cert_pem, key_pem = alpn_challenge_cert(domain, key_authorization)
        ctx = build_context(OptionPlan(alpn=(ACME_TLS_ALPN,)), StoredCert(cert_pem, key_pem, (domain,)))
        with self._lock:
            self._alpn[domain.lower()] = ctx

    def remove_alpn(self, domain: str) -> None:
        with self._lock:
            self._alpn.pop(domain.lower(), None)

    def alpn_context(self, server_name: str) -> ssl.SSLContext | None:
        """The challenge context of ``server_name`` (None when no TLS-ALPN-01 challenge is open)."""
        ctx = self._alpn.get(server_name.lower().rstrip("."))
        if ctx is not None:
            self.alpn_answers += 1
        return ctx
