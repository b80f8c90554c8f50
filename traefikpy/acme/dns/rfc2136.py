"""The ``rfc2136`` DNS-01 provider: RFC 2136 dynamic updates, TSIG-signed when a key is given.

Variables (lego's names; each may also be given as ``<NAME>_FILE`` holding the value):

=============================== =========================================================
``RFC2136_NAMESERVER``          ``host`` or ``host:port`` of the primary server (required)
``RFC2136_TSIG_KEY``            TSIG key name (leave the TSIG variables unset for no TSIG)
``RFC2136_TSIG_SECRET``         base64 secret of that key
``RFC2136_TSIG_ALGORITHM``      default ``hmac-md5.sig-alg.reg.int.``; ``hmac-sha1.``,
                                ``hmac-sha224.``, ``hmac-sha256.``, ``hmac-sha384.``,
                                ``hmac-sha512.`` (trailing dot optional)
``RFC2136_TSIG_FILE``           a BIND key file (``key "name" { algorithm ..; secret ".."; };``)
                                instead of the three variables above
``RFC2136_TTL``                 TTL of the TXT record (120)
``RFC2136_PROPAGATION_TIMEOUT`` how long to wait for the record to be served (60s)
``RFC2136_POLLING_INTERVAL``    time between propagation checks (2s)
``RFC2136_SEQUENCE_INTERVAL``   interval between sequential challenges (60s)
``RFC2136_DNS_TIMEOUT``         timeout of one DNS exchange (10s)
=============================== =========================================================

A CNAME at the record's name (``_acme-challenge.example.com`` delegated elsewhere) is followed
on the nameserver, like lego's CNAME support (``LEGO_DISABLE_CNAME_SUPPORT=true`` turns it off).
The zone is found like lego does, by asking the nameserver for the SOA of the record's name and
then of each parent.  ``present`` adds the value to the TXT RRset (other values stay, so the apex
and wildcard challenges of one order, which share a name, can be published together);
``cleanup`` deletes exactly that value.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import dns.asyncquery
import dns.exception
import dns.name
import dns.rcode
import dns.tsig
import dns.update

from traefikpy.acme.dns import (
    DEFAULT_POLLING_INTERVAL,
    DEFAULT_PROPAGATION_TIMEOUT,
    DEFAULT_TTL,
    DNSChallengeError,
    Env,
    describe,
    find_zone,
    follow_cname,
    parse_nameserver,
    resolve_ip,
    txt_rdata,
)

log = logging.getLogger("traefikpy.acme.dns.rfc2136")

DEFAULT_ALGORITHM = "hmac-md5.sig-alg.reg.int."

# Accepted spellings (lower case, trailing dot) → dnspython's algorithm names.
ALGORITHMS: dict[str, dns.name.Name] = {
    "hmac-md5.sig-alg.reg.int.": dns.tsig.HMAC_MD5,
    "hmac-md5.": dns.tsig.HMAC_MD5,
    "hmac-sha1.": dns.tsig.HMAC_SHA1,
    "hmac-sha224.": dns.tsig.HMAC_SHA224,
    "hmac-sha256.": dns.tsig.HMAC_SHA256,
    "hmac-sha384.": dns.tsig.HMAC_SHA384,
    "hmac-sha512.": dns.tsig.HMAC_SHA512,
}

_KEY_BLOCK = re.compile(r'key\s+"?([^"\s{]+)"?\s*\{(.*?)\}\s*;', re.S)
_ALGORITHM = re.compile(r'algorithm\s+"?([^";\s]+)"?\s*;')
_SECRET = re.compile(r'secret\s+"([^"]+)"\s*;')


def algorithm_name(name: str) -> dns.name.Name:
    key = name.strip().lower()
    if not key.endswith("."):
        key += "."
    try:
        return ALGORITHMS[key]
    except KeyError:
        supported = ", ".join(sorted({k for k in ALGORITHMS if k != "hmac-md5."}))
        raise ValueError(f"rfc2136: unsupported TSIG algorithm {name!r} (supported: {supported})") from None


_COMMENT_OR_STRING: Final = re.compile(r'"[^"]*"|#[^\n]*|//[^\n]*|/\*.*?\*/', re.S)


def read_tsig_file(path: str) -> tuple[str, str, str]:
    """``(key name, algorithm, secret)`` of the first key in a BIND key file (``tsig-keygen`` output)."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ValueError(f"rfc2136: read TSIG file {path}: {exc.strerror or exc}") from None
    # Comments (#, //, /* */) go; quoted strings stay whole: a base64 secret may contain "//".
    text = _COMMENT_OR_STRING.sub(lambda m: m.group(0) if m.group(0).startswith('"') else " ", text)
    match = _KEY_BLOCK.search(text)
    if not match:
        raise ValueError(f"rfc2136: read TSIG file {path}: no key block found")
    body = match.group(2)
    algorithm, secret = _ALGORITHM.search(body), _SECRET.search(body)
    if not algorithm or not secret:
        missing = "algorithm" if not algorithm else "secret"
        raise ValueError(f"rfc2136: read TSIG file {path}: the key has no {missing}")
    return match.group(1), algorithm.group(1), secret.group(1)


class RFC2136Provider:
    """Publishes ``_acme-challenge`` TXT records with RFC 2136 UPDATE messages."""

    def __init__(
        self,
        nameserver: str,
        *,
        tsig_key: str | None = None,
        tsig_secret: str | None = None,
        tsig_algorithm: str = DEFAULT_ALGORITHM,
        ttl: int = DEFAULT_TTL,
        propagation_timeout: float = DEFAULT_PROPAGATION_TIMEOUT,
        polling_interval: float = DEFAULT_POLLING_INTERVAL,
        sequence_interval: float = DEFAULT_PROPAGATION_TIMEOUT,
        dns_timeout: float = 10.0,
        follow_cnames: bool = True,
    ) -> None:
        host, port = parse_nameserver(nameserver)
        self.nameserver = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if bool(tsig_key) != bool(tsig_secret):
            given, other = ("RFC2136_TSIG_KEY", "RFC2136_TSIG_SECRET") if tsig_key else ("RFC2136_TSIG_SECRET", "RFC2136_TSIG_KEY")
            raise ValueError(f"rfc2136: {given} is set but {other} is not (set both for TSIG, or neither)")
        self.keyring: dict[dns.name.Name, dns.tsig.Key] | None = None
        self.keyname: dns.name.Name | None = None
        self.algorithm = algorithm_name(tsig_algorithm)
        if tsig_key and tsig_secret:
            try:
                base64.b64decode(tsig_secret, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("rfc2136: RFC2136_TSIG_SECRET is not valid base64") from None
            self.keyname = dns.name.from_text(tsig_key.strip().lower())
            self.keyring = {self.keyname: dns.tsig.Key(self.keyname, tsig_secret, self.algorithm)}
        self.ttl = ttl
        self.propagation_timeout = propagation_timeout
        self.polling_interval = polling_interval
        self.sequence_interval = sequence_interval
        self.dns_timeout = dns_timeout
        self.follow_cnames = follow_cnames

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> RFC2136Provider:
        env = Env(environ, "rfc2136")
        (nameserver,) = env.require("RFC2136_NAMESERVER")
        key, secret = env.get("RFC2136_TSIG_KEY"), env.get("RFC2136_TSIG_SECRET")
        algorithm = env.get("RFC2136_TSIG_ALGORITHM") or DEFAULT_ALGORITHM
        tsig_file = environ.get("RFC2136_TSIG_FILE", "")
        if tsig_file:
            key, algorithm, secret = read_tsig_file(tsig_file)
        propagation = env.seconds("RFC2136_PROPAGATION_TIMEOUT", env.seconds("RFC2136_TIMEOUT", DEFAULT_PROPAGATION_TIMEOUT))
        return cls(
            nameserver,
            tsig_key=key,
            tsig_secret=secret,
            tsig_algorithm=algorithm,
            ttl=env.integer("RFC2136_TTL", DEFAULT_TTL),
            propagation_timeout=propagation,
            polling_interval=env.seconds("RFC2136_POLLING_INTERVAL", DEFAULT_POLLING_INTERVAL),
            sequence_interval=env.seconds("RFC2136_SEQUENCE_INTERVAL", DEFAULT_PROPAGATION_TIMEOUT),
            dns_timeout=env.seconds("RFC2136_DNS_TIMEOUT", 10.0),
            follow_cnames=environ.get("LEGO_DISABLE_CNAME_SUPPORT", "").lower() not in ("1", "true", "yes"),
        )

    def __repr__(self) -> str:
        key = self.keyname.to_text() if self.keyname else None
        return f"RFC2136Provider(nameserver={self.nameserver!r}, tsig_key={key!r})"

    async def present(self, domain: str, fqdn: str, value: str) -> None:
        try:
            await self._change("add", fqdn, value)
        except DNSChallengeError as exc:
            raise DNSChallengeError(f"rfc2136: failed to insert {fqdn} TXT: {exc}") from exc

    async def cleanup(self, domain: str, fqdn: str, value: str) -> None:
        try:
            await self._change("delete", fqdn, value)
        except DNSChallengeError as exc:
            raise DNSChallengeError(f"rfc2136: failed to remove {fqdn} TXT: {exc}") from exc

    async def _change(self, action: str, fqdn: str, value: str) -> None:
        fqdn = fqdn if fqdn.endswith(".") else fqdn + "."
        if self.follow_cnames:
            fqdn = await follow_cname(fqdn, [self.nameserver], self.dns_timeout)
        zone = await find_zone(fqdn, [self.nameserver], self.dns_timeout)
        update = dns.update.UpdateMessage(
            zone, keyring=self.keyring, keyname=self.keyname, keyalgorithm=self.algorithm
        )
        if action == "add":
            update.add(fqdn, self.ttl, txt_rdata(value))
        else:
            update.delete(fqdn, txt_rdata(value))
        host, port = parse_nameserver(self.nameserver)
        where = await resolve_ip(host)
        try:
            response, _ = await dns.asyncquery.udp_with_fallback(update, where, timeout=self.dns_timeout, port=port)
        except dns.tsig.PeerBadKey:
            raise DNSChallengeError(
                f"{self.nameserver} does not know the TSIG key {self.keyname} (BADKEY): check RFC2136_TSIG_KEY"
            ) from None
        except dns.tsig.PeerBadSignature:
            raise DNSChallengeError(
                f"{self.nameserver} rejected the TSIG signature of key {self.keyname} (BADSIG): "
                "check RFC2136_TSIG_SECRET and RFC2136_TSIG_ALGORITHM"
            ) from None
        except dns.tsig.PeerBadTime:
            raise DNSChallengeError(f"{self.nameserver} rejected the TSIG time (BADTIME): check the clocks") from None
        except (dns.tsig.PeerError, dns.tsig.BadSignature) as exc:
            raise DNSChallengeError(f"TSIG error with {self.nameserver}: {describe(exc)}") from None
        except dns.exception.Timeout:
            raise DNSChallengeError(
                f"DNS update failed: no answer from {self.nameserver} within {self.dns_timeout:g}s"
            ) from None
        except (OSError, dns.exception.DNSException) as exc:
            raise DNSChallengeError(f"DNS update failed: {self.nameserver}: {describe(exc)}") from None
        rcode = response.rcode()
        if rcode != dns.rcode.NOERROR:
            hint = ""
            if rcode == dns.rcode.REFUSED:
                hint = " (does the zone allow updates with this key?)" if self.keyname else " (the server may require a TSIG key)"
            elif rcode == dns.rcode.NOTAUTH:
                hint = f" (is {self.nameserver} the primary server for {zone}?)"
            raise DNSChallengeError(f"DNS update failed: server replied: {dns.rcode.to_text(rcode)}{hint}")
        log.debug("rfc2136: %s %s TXT %r in zone %s via %s", action, fqdn, value, zone, self.nameserver)
