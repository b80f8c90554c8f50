"""The synchronous ACME side, on the ``acme`` library (run it in a worker thread).

:class:`ACMEAccount` registers (or reuses) the account and runs orders: one CSR per domain set,
one challenge per authorization (solved through a :class:`Solver` that the async side
implements), polling, finalization, ``preferredChain``.  Every POST is retried on ``badNonce``
(:class:`NonceRetryNetwork`; the library retries only once).
"""

from __future__ import annotations

import datetime
import logging
import os
import tempfile
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import certifi
import requests
from acme import challenges, errors, messages
from acme import client as acme_client
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from josepy.b64 import b64encode
from josepy.jwa import ES256, ES384, RS256, JWASignature
from josepy.jwk import JWK, JWKEC, JWKRSA

from traefikpy.acme.storage import KEY_TYPES, Account
from traefikpy.config.static import ACME

log = logging.getLogger("traefikpy.acme")

ACCOUNT_KEY_BITS = 4096
"""Traefik's account key: RSA 4096, stored as PKCS#1 DER."""

ORDER_TIMEOUT = 180.0
"""How long one order may take (authorizations and finalization)."""

NONCE_RETRIES = 20

CA_BUNDLE_PREFIX = "traefikpy-acme-ca-"
"""Name prefix of the CA bundle files :func:`ca_bundle` assembles (removed when the resolver closes)."""


class ACMEError(Exception):
    """An order or registration that failed (the message says why)."""


class Solver(Protocol):
    """Makes a challenge answerable (``present``) and removes it (``cleanup``); called from the
    worker thread.  ``kind`` is ``http-01``, ``tls-alpn-01`` or ``dns-01``; ``value`` is the key
    authorization."""

    def challenge_types(self, wildcard: bool) -> Sequence[str]: ...

    def present(self, kind: str, domain: str, token: str, value: str) -> None: ...

    def cleanup(self, kind: str, domain: str, token: str, value: str) -> None: ...


class NonceRetryNetwork(acme_client.ClientNetwork):
    """``ClientNetwork`` whose POSTs retry a ``badNonce`` error (a fresh nonce comes with it)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.nonce_retries = 0

    def post(self, *args: Any, **kwargs: Any) -> requests.Response:
        for attempt in range(NONCE_RETRIES):
            try:
                return self._post_once(*args, **kwargs)
            except messages.Error as error:
                if error.code != "badNonce" or attempt == NONCE_RETRIES - 1:
                    raise
                self.nonce_retries += 1
                log.debug("ACME: badNonce, retrying (%d)", attempt + 1)
        raise AssertionError("unreachable")


class TLSALPN01Response(challenges.ChallengeResponse):
    """The RFC 8737 challenge response (an empty object): acme 5 no longer ships TLS-ALPN-01."""

    typ = "tls-alpn-01"

    def __bool__(self) -> bool:
        # acme sends an empty payload (POST-as-GET) for a falsy object, and a fieldless
        # ImmutableMap is falsy: the answer must be the JSON object "{}".
        return True


def challenge_type(challb: messages.ChallengeBody) -> str:
    """The challenge's type, also for types the library does not model (``tls-alpn-01``)."""
    chall = challb.chall
    if isinstance(chall, challenges.UnrecognizedChallenge):
        return str(chall.jobj.get("type", ""))
    typ = getattr(chall, "typ", "")
    return typ if isinstance(typ, str) else ""


# keys and CSRs

def generate_key(key_type: str) -> bytes:
    """A certificate private key (PEM, traditional format as lego writes) for ``keyType``."""
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    if key_type == "EC256":
        key = ec.generate_private_key(ec.SECP256R1())
    elif key_type == "EC384":
        key = ec.generate_private_key(ec.SECP384R1())
    else:
        key = rsa.generate_private_key(65537, int(KEY_TYPES.get(key_type, "4096")))
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def make_csr(key_pem: bytes, domains: Sequence[str]) -> bytes:
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey))
    builder = x509.CertificateSigningRequestBuilder()
    if len(domains[0]) <= 64:
        builder = builder.subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domains[0])]))
    builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in domains]), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def choose_chain(chains: Sequence[str], preferred: str) -> str:
    """The chain whose top certificate's issuer common name is ``preferred`` (else the first)."""
    if preferred:
        for chain in chains:
            try:
                certs = x509.load_pem_x509_certificates(chain.encode())
            except ValueError:
                continue
            issuers = [a.value for a in certs[-1].issuer.get_attributes_for_oid(NameOID.COMMON_NAME)]
            if preferred in issuers:
                return chain
    return chains[0]


def _account_jwk(der: bytes) -> tuple[JWK, JWASignature]:
    try:
        key = serialization.load_der_private_key(der, password=None)
    except ValueError as exc:
        raise ACMEError(f"account private key in storage cannot be read: {exc}") from None
    if isinstance(key, rsa.RSAPrivateKey):
        return JWKRSA(key=key), RS256
    if isinstance(key, ec.EllipticCurvePrivateKey):
        alg = ES384 if key.curve.key_size == 384 else ES256
        return JWKEC(key=key), alg
    raise ACMEError("account private key in storage is neither RSA nor EC")


def ca_bundle(cfg: ACME, env: dict[str, str] | None = None) -> str | bool:
    """What ``requests`` verifies the ACME server with: a bundle file built from
    ``caCertificates`` (or ``LEGO_CA_CERTIFICATES``) plus the system pool, else True."""
    env = dict(os.environ) if env is None else env
    paths = list(cfg.ca_certificates)
    if not paths and env.get("LEGO_CA_CERTIFICATES"):
        paths = [p for p in env["LEGO_CA_CERTIFICATES"].replace(",", os.pathsep).split(os.pathsep) if p]
    if not paths:
        return True
    if len(paths) == 1 and "-----BEGIN" not in paths[0] and not cfg.ca_system_cert_pool:
        return paths[0]
    parts: list[bytes] = []
    for path in paths:
        if "-----BEGIN" in path:
            parts.append(path.encode())
            continue
        with open(path, "rb") as handle:
            parts.append(handle.read())
    if cfg.ca_system_cert_pool:
        system = certifi.where()
        with open(system, "rb") as handle:
            parts.append(handle.read())
    fd, bundle = tempfile.mkstemp(prefix=CA_BUNDLE_PREFIX, suffix=".pem")
    with os.fdopen(fd, "wb") as handle:
        handle.write(b"\n".join(parts))
    return bundle


def _same_ca(account: Account, ca_server: str) -> bool:
    """Whether ``account`` was registered with ``ca_server`` (Traefik resets an account whose URI
    does not match the CA; here host and port are compared)."""
    uri = (account.registration or {}).get("uri")
    if not uri:
        return True
    return urllib.parse.urlsplit(str(uri)).netloc.lower() == urllib.parse.urlsplit(ca_server).netloc.lower()


@dataclass
class Issued:
    certificate: bytes  # PEM chain
    key: bytes  # PEM


class ACMEAccount:
    """An ACME account on one CA: registration and orders (blocking calls)."""

    def __init__(self, cfg: ACME, stored: Account | None, verify: str | bool = True) -> None:
        self.cfg = cfg
        if stored is not None and stored.private_key and stored.email == cfg.email and _same_ca(stored, cfg.ca_server):
            self.account = stored
        else:
            key = rsa.generate_private_key(65537, ACCOUNT_KEY_BITS)
            der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption())
            self.account = Account(cfg.email, der, KEY_TYPES.get(cfg.key_type, "4096"))
        self.jwk, alg = _account_jwk(self.account.private_key)
        self.net = NonceRetryNetwork(self.jwk, alg=alg, user_agent="traefikpy",
                                     timeout=int(cfg.client_timeout or 120))
        self.net.verify_ssl = verify  # type: ignore[assignment]  # requests takes a CA bundle path too
        self._client: acme_client.ClientV2 | None = None

    @property
    def client(self) -> acme_client.ClientV2:
        if self._client is None:
            directory = acme_client.ClientV2.get_directory(self.cfg.ca_server, self.net)
            self._client = acme_client.ClientV2(directory, self.net)
        return self._client

    def register(self) -> Account:
        """Reuse the stored registration, or register the account key (EAB when configured)."""
        client = self.client
        reg = self.account.registration
        if reg and reg.get("uri"):
            body = messages.Registration.from_json(reg.get("body") or {})
            self.net.account = messages.RegistrationResource(body=body, uri=reg["uri"])
            return self.account
        eab = None
        if self.cfg.eab is not None and self.cfg.eab.kid:
            eab = messages.ExternalAccountBinding.from_data(
                self.jwk.public_key(), self.cfg.eab.kid, self.cfg.eab.hmac_encoded, client.directory)
        new = messages.NewRegistration.from_data(
            email=self.cfg.email or None, terms_of_service_agreed=True, external_account_binding=eab)
        try:
            regr = client.new_account(new)
        except errors.ConflictError as exc:  # the key is registered already
            uri = str(exc.location)
            regr = messages.RegistrationResource(body=messages.Registration(), uri=uri)
            self.net.account = regr
        self.account.registration = {"body": regr.body.to_json(), "uri": regr.uri}
        return self.account

    def obtain(self, domains: Sequence[str], solver: Solver) -> Issued:
        """One order for ``domains`` (the first is the subject): challenges, finalization."""
        try:
            try:
                return self._obtain(domains, solver)
            except messages.Error as exc:
                if exc.code != "accountDoesNotExist" or not self.account.registration:
                    raise
                log.warning("ACME account %s unknown to %s: registering the key again",
                            self.account.registration.get("uri"), self.cfg.ca_server)
                self.account.registration = None
                self.net.account = None  # sign newAccount with the key itself, not a kid
                return self._obtain(domains, solver)
        except messages.Error as exc:
            raise ACMEError(str(exc)) from None
        except errors.ValidationError as exc:
            details = [f"{a.body.identifier.value}: {c.error}" for a in exc.failed_authzrs
                       for c in a.body.challenges if c.error is not None]
            raise ACMEError("challenge failed: " + "; ".join(details)) from None
        except (errors.Error, requests.RequestException) as exc:
            raise ACMEError(f"{type(exc).__name__}: {exc}") from None

    def _obtain(self, domains: Sequence[str], solver: Solver) -> Issued:
        self.register()
        client = self.client
        key_pem = generate_key(self.cfg.key_type)
        orderr = client.new_order(make_csr(key_pem, domains), profile=self.cfg.profile or None)
        deadline = datetime.datetime.now() + datetime.timedelta(seconds=ORDER_TIMEOUT)
        presented: list[tuple[str, str, str, str]] = []
        try:
            answers = []
            for authzr in orderr.authorizations:
                if authzr.body.status == messages.STATUS_VALID:
                    continue
                domain = authzr.body.identifier.value
                challb = self._pick(authzr, solver)
                kind = challenge_type(challb)
                chall = challb.chall
                if isinstance(chall, challenges.UnrecognizedChallenge):
                    token = str(chall.jobj.get("token", ""))
                else:
                    assert isinstance(chall, challenges.KeyAuthorizationChallenge)
                    token = b64encode(chall.token).decode()
                value = f"{token}.{b64encode(self.jwk.thumbprint(hash_function=hashes.SHA256)).decode()}"
                response: challenges.ChallengeResponse = (
                    TLSALPN01Response() if kind == "tls-alpn-01" else chall.response(self.jwk))
                solver.present(kind, domain, token, value)
                presented.append((kind, domain, token, value))
                answers.append((challb, response))
            for challb, response in answers:
                client.answer_challenge(challb, response)
            orderr = client.poll_authorizations(orderr, deadline)
            orderr = client.finalize_order(orderr, deadline, fetch_alternative_chains=bool(self.cfg.preferred_chain))
        finally:
            for kind, domain, token, value in presented:
                try:
                    solver.cleanup(kind, domain, token, value)
                except Exception:
                    log.exception("ACME: cleaning up the %s challenge of %s failed", kind, domain)
        chains = [orderr.fullchain_pem, *(orderr.alternative_fullchains_pem or [])]
        return Issued(choose_chain(chains, self.cfg.preferred_chain).encode(), key_pem)

    @staticmethod
    def _pick(authzr: messages.AuthorizationResource, solver: Solver) -> messages.ChallengeBody:
        wildcard = bool(authzr.body.wildcard)
        offered = {challenge_type(c): c for c in authzr.body.challenges}
        for kind in solver.challenge_types(wildcard):
            if kind in offered:
                return offered[kind]
        raise ACMEError(f"{authzr.body.identifier.value}: no configured challenge among those offered "
                        f"({', '.join(offered)})" + (" (a wildcard needs dnsChallenge)" if wildcard else ""))
