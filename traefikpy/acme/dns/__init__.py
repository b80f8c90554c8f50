"""DNS-01 challenge providers (``certificatesResolvers.<name>.acme.dnsChallenge.provider``).

Traefik delegates DNS-01 to lego's providers, configured through environment variables; this
package implements three of them with lego's variable names and semantics:

* ``rfc2136`` (:mod:`.rfc2136`): RFC 2136 dynamic updates, optionally TSIG-signed, to any
  authoritative server that accepts them (BIND, Knot, PowerDNS...).
* ``exec`` (:mod:`.exec`): an external program called ``present|cleanup <fqdn> <value>``.
* ``httpreq`` (:mod:`.httpreq`): a JSON ``POST`` to ``<endpoint>/present`` and ``/cleanup``.

The ACME client gets a provider with :func:`dns_provider`, calls ``present`` before it answers the
challenge, waits with :func:`wait_propagation` until the TXT record is served, and calls
``cleanup`` afterwards.  ``fqdn`` is ``_acme-challenge.<domain>.`` and ``value`` is
``base64url(sha256(keyAuthorization))`` without padding (:func:`challenge_record`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import ipaddress
import logging
import os
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol, cast, runtime_checkable

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.CNAME
import dns.rdtypes.ANY.NS
import dns.rdtypes.ANY.TXT
import dns.rdtypes.IN.A

from traefikpy.config.base import parse_duration

log = logging.getLogger("traefikpy.acme.dns")

__all__ = [
    "authoritative_nameservers",
    "DEFAULT_POLLING_INTERVAL",
    "DEFAULT_PROPAGATION_TIMEOUT",
    "DEFAULT_TTL",
    "PROVIDERS",
    "DNSChallengeError",
    "DNSProvider",
    "challenge_record",
    "cleanup_challenge",
    "dns_provider",
    "find_zone",
    "follow_cname",
    "parse_nameserver",
    "present_challenge",
    "query",
    "resolve_ip",
    "system_nameservers",
    "wait_propagation",
]

# lego's dns01 defaults (DefaultPropagationTimeout, DefaultPollingInterval, DefaultTTL).
DEFAULT_PROPAGATION_TIMEOUT = 60.0
DEFAULT_POLLING_INTERVAL = 2.0
DEFAULT_TTL = 120

PROVIDERS = ("exec", "httpreq", "rfc2136")
MAX_CNAME_HOPS = 50  # lego's maxCNAMEFollow


class DNSChallengeError(RuntimeError):
    """A provider could not publish or remove the challenge record (message names the provider)."""


@runtime_checkable
class DNSProvider(Protocol):
    """What the ACME client needs from a DNS-01 provider.

    The concrete providers also accept keyword-only ``token`` and ``key_auth`` on ``present`` and
    ``cleanup`` (needed by ``EXEC_MODE=RAW`` / ``HTTPREQ_MODE=RAW``); :func:`present_challenge`
    passes them when a provider wants them.
    """

    propagation_timeout: float
    polling_interval: float
    ttl: int

    async def present(self, domain: str, fqdn: str, value: str) -> None: ...

    async def cleanup(self, domain: str, fqdn: str, value: str) -> None: ...


def dns_provider(name: str, env: Mapping[str, str] | None = None) -> DNSProvider:
    """The provider called ``name`` (Traefik's ``dnsChallenge.provider``), configured from ``env``
    (default ``os.environ``).  Raises ``ValueError`` naming the problem for an unknown provider, a
    missing variable or an invalid value."""
    environ: Mapping[str, str] = os.environ if env is None else env
    key = name.strip().lower()
    if key == "rfc2136":
        from traefikpy.acme.dns.rfc2136 import RFC2136Provider

        return RFC2136Provider.from_env(environ)
    if key == "exec":
        from traefikpy.acme.dns.exec import ExecProvider

        return ExecProvider.from_env(environ)
    if key == "httpreq":
        from traefikpy.acme.dns.httpreq import HTTPReqProvider

        return HTTPReqProvider.from_env(environ)
    raise ValueError(f"unknown DNS challenge provider {name!r} (supported: {', '.join(PROVIDERS)})")


def challenge_record(domain: str, key_authorization: str) -> tuple[str, str]:
    """``(fqdn, value)`` of the TXT record for ``domain``: ``_acme-challenge.<domain>.`` (a leading
    ``*.`` is dropped, as for wildcard orders) and the unpadded base64url SHA-256 of the key
    authorization (RFC 8555 §8.4)."""
    name = domain.strip().rstrip(".")
    if name.startswith("*."):
        name = name[2:]
    digest = hashlib.sha256(key_authorization.encode()).digest()
    return f"_acme-challenge.{name}.", base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def present_challenge(provider: DNSProvider, domain: str, token: str, key_authorization: str) -> tuple[str, str]:
    """Publish the record for one challenge; returns ``(fqdn, value)`` for the propagation check."""
    fqdn, value = challenge_record(domain, key_authorization)
    if getattr(provider, "wants_key_authorization", False):
        await provider.present(domain, fqdn, value, token=token, key_auth=key_authorization)  # type: ignore[call-arg]
    else:
        await provider.present(domain, fqdn, value)
    return fqdn, value


async def cleanup_challenge(provider: DNSProvider, domain: str, token: str, key_authorization: str) -> None:
    """Remove the record :func:`present_challenge` published."""
    fqdn, value = challenge_record(domain, key_authorization)
    if getattr(provider, "wants_key_authorization", False):
        await provider.cleanup(domain, fqdn, value, token=token, key_auth=key_authorization)  # type: ignore[call-arg]
    else:
        await provider.cleanup(domain, fqdn, value)


# --- environment (lego's env package: VAR, or the content of the file named by VAR_FILE) ---------


class Env:
    """Reads a provider's variables like lego: ``NAME`` or else the file named by ``NAME_FILE``
    (trimmed); empty means unset.  Errors are ``ValueError`` prefixed with the provider's name."""

    def __init__(self, environ: Mapping[str, str], provider: str) -> None:
        self.environ = environ
        self.provider = provider

    def get(self, name: str) -> str | None:
        value = self.environ.get(name, "")
        if value:
            return value
        path = self.environ.get(name + "_FILE", "")
        if not path:
            return None
        try:
            content = Path(path).read_text().strip()
        except OSError as exc:
            raise ValueError(f"{self.provider}: cannot read {name}_FILE {path!r}: {exc.strerror or exc}") from None
        return content or None

    def require(self, *names: str) -> list[str]:
        values = [self.get(name) for name in names]
        missing = [name for name, value in zip(names, values, strict=True) if value is None]
        if missing:
            raise ValueError(f"{self.provider}: some credentials information are missing: {','.join(missing)}")
        return [value for value in values if value is not None]

    def seconds(self, name: str, default: float) -> float:
        raw = self.get(name)
        if raw is None:
            return default
        try:
            value = parse_duration(raw)
        except ValueError as exc:
            raise ValueError(f"{self.provider}: {name}: {exc}") from None
        if value <= 0:
            raise ValueError(f"{self.provider}: {name} must be positive, got {raw!r}")
        return value

    def integer(self, name: str, default: int) -> int:
        raw = self.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"{self.provider}: {name} must be an integer, got {raw!r}") from None
        if value < 0:
            raise ValueError(f"{self.provider}: {name} must not be negative, got {raw!r}")
        return value


# --- DNS queries ------------------------------------------------------------------------------------


def parse_nameserver(address: str, default_port: int = 53) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 address → ``(host, port)``."""
    text = address.strip()
    if not text:
        raise ValueError("empty nameserver address")
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"invalid nameserver address {address!r}")
        port_text = rest[1:] if rest else ""
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, ""  # a hostname, IPv4 or bare IPv6 address
    if not host:
        raise ValueError(f"invalid nameserver address {address!r}")
    if not port_text:
        return host, default_port
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"invalid port in nameserver address {address!r}") from None
    if not 0 < port < 65536:
        raise ValueError(f"invalid port in nameserver address {address!r}")
    return host, port


async def resolve_ip(host: str) -> str:
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_DGRAM)
    if not infos:
        raise DNSChallengeError(f"cannot resolve nameserver {host!r}")
    return str(infos[0][4][0])


async def query(name: str, rdtype: str, nameserver: str, timeout: float = 5.0, recursion: bool = True) -> dns.message.Message:
    """One query to ``nameserver`` (``host[:port]``) over UDP, retried over TCP when truncated."""
    host, port = parse_nameserver(nameserver)
    where = await resolve_ip(host)
    request = dns.message.make_query(name, rdtype)
    if not recursion:
        request.flags &= ~dns.flags.RD
    response, _ = await dns.asyncquery.udp_with_fallback(request, where, timeout=timeout, port=port)
    return response


def _cname_target(response: dns.message.Message, owner: dns.name.Name) -> dns.name.Name | None:
    for rrset in response.answer:
        if rrset.name == owner and rrset.rdtype == dns.rdatatype.CNAME:
            return cast(dns.rdtypes.ANY.CNAME.CNAME, next(iter(rrset))).target
    return None


def txt_values(response: dns.message.Message, fqdn: str) -> list[str]:
    """The TXT strings (each record's strings joined) served for ``fqdn`` in ``response``,
    following a CNAME chain inside the answer (a delegated ``_acme-challenge`` name)."""
    owner = dns.name.from_text(fqdn)
    for _ in range(MAX_CNAME_HOPS):
        target = _cname_target(response, owner)
        if target is None:
            break
        owner = target
    values: list[str] = []
    for rrset in response.answer:
        if rrset.name == owner and rrset.rdtype == dns.rdatatype.TXT:
            for rdata in rrset:
                values.append(b"".join(rdata.strings).decode(errors="replace"))
    return values


async def follow_cname(fqdn: str, nameservers: list[str], timeout: float = 10.0) -> str:
    """The name a CNAME chain starting at ``fqdn`` ends on, as ``nameservers`` answer it (lego's
    "effective FQDN": ``_acme-challenge.example.com`` may be delegated to another zone).  Names
    without a CNAME, or that cannot be queried, are returned unchanged."""
    name = dns.name.from_text(fqdn)
    for _ in range(MAX_CNAME_HOPS):
        response: dns.message.Message | None = None
        for server in nameservers:
            try:
                response = await query(name.to_text(), "CNAME", server, timeout)
                break
            except (OSError, dns.exception.DNSException, DNSChallengeError):
                continue
        if response is None or response.rcode() != dns.rcode.NOERROR:
            break
        target = _cname_target(response, name)
        if target is None:
            break
        name = target
    return str(name.to_text())


def txt_rdata(value: str) -> dns.rdtypes.ANY.TXT.TXT:
    return dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, [value.encode()])


async def find_zone(fqdn: str, nameservers: list[str], timeout: float = 10.0) -> str:
    """The zone apex holding ``fqdn``, found like lego: query the SOA of ``fqdn`` and each parent in
    turn; the first name answered with its own SOA (not a CNAME) is the zone.  NXDOMAIN or an
    empty answer moves up; any other response code is an error."""
    if not nameservers:
        raise ValueError("find_zone: no nameserver given")
    name = dns.name.from_text(fqdn)
    last_error = ""
    while len(name) > 1:  # stop before the root
        response: dns.message.Message | None = None
        for server in nameservers:
            try:
                response = await query(name.to_text(), "SOA", server, timeout)
                break
            except (OSError, dns.exception.DNSException, DNSChallengeError) as exc:
                last_error = f"{server}: {type(exc).__name__}: {exc}"
        if response is None:
            raise DNSChallengeError(f"could not find the zone for {fqdn}: no answer for {name} SOA ({last_error})")
        rcode = response.rcode()
        if rcode == dns.rcode.NOERROR:
            if not any(rrset.rdtype == dns.rdatatype.CNAME for rrset in response.answer):
                for rrset in response.answer:
                    if rrset.rdtype == dns.rdatatype.SOA:
                        return str(rrset.name.to_text())
        elif rcode != dns.rcode.NXDOMAIN:
            raise DNSChallengeError(
                f"could not find the zone for {fqdn}: {', '.join(nameservers)} answered "
                f"{dns.rcode.to_text(rcode)} for {name} SOA (is it authoritative for that zone?)"
            )
        name = name.parent()
    raise DNSChallengeError(f"could not find the zone for {fqdn} on {', '.join(nameservers)}")


async def wait_propagation(fqdn: str, value: str, nameservers: list[str], timeout: float, interval: float) -> None:
    """Poll every nameserver (``host[:port]``) until each serves ``value`` in the TXT records of
    ``fqdn`` (lego requires all authoritative nameservers to agree).  Raises ``TimeoutError``
    naming the nameservers still missing it after ``timeout`` seconds."""
    if not nameservers:
        raise ValueError("wait_propagation: no nameserver to check")
    for server in nameservers:
        parse_nameserver(server)
    pending = list(dict.fromkeys(nameservers))
    last: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while True:
        for server in list(pending):
            remaining = deadline - time.monotonic()
            try:
                response = await query(fqdn, "TXT", server, timeout=max(0.2, min(5.0, remaining)))
            except (OSError, dns.exception.DNSException, DNSChallengeError) as exc:
                last[server] = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                continue
            found = txt_values(response, fqdn)
            if value in found:
                pending.remove(server)
            else:
                rcode = dns.rcode.to_text(response.rcode())
                last[server] = f"{rcode}, TXT {found}" if found else f"{rcode}, no TXT record"
        if not pending:
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            detail = "; ".join(f"{server}: {last.get(server, 'no answer')}" for server in pending)
            raise TimeoutError(f"time limit exceeded ({timeout:g}s): TXT {value!r} for {fqdn} not served by {detail}")
        await asyncio.sleep(min(interval, remaining))


def system_nameservers(resolv_conf: str = "/etc/resolv.conf") -> list[str]:
    """The resolvers of ``resolv_conf`` as ``host:53`` (for when no resolvers are configured)."""
    import dns.resolver

    try:
        resolver = dns.resolver.Resolver(filename=resolv_conf)
    except (OSError, dns.exception.DNSException):
        return []
    return [_address(str(server), 53) for server in resolver.nameservers]


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def authoritative_nameservers(fqdn: str, resolvers: list[str], timeout: float = 10.0, port: int = 53) -> list[str]:
    """``ip:port`` of the nameservers of the zone holding ``fqdn``, looked up through ``resolvers``
    (lego checks propagation on these): the zone's NS records, each resolved to its addresses
    (glue from the answer when present)."""
    zone = await find_zone(fqdn, resolvers, timeout)
    response: dns.message.Message | None = None
    last_error = ""
    for server in resolvers:
        try:
            response = await query(zone, "NS", server, timeout)
            break
        except (OSError, dns.exception.DNSException, DNSChallengeError) as exc:
            last_error = f"{server}: {describe(exc)}"
    if response is None or response.rcode() != dns.rcode.NOERROR:
        why = last_error or (dns.rcode.to_text(response.rcode()) if response is not None else "no answer")
        raise DNSChallengeError(f"could not get the nameservers of {zone}: {why}")
    targets = sorted({
        cast(dns.rdtypes.ANY.NS.NS, rdata).target
        for rrset in response.answer if rrset.rdtype == dns.rdatatype.NS
        for rdata in rrset
    })
    glue: dict[dns.name.Name, list[str]] = {}
    for rrset in response.additional:
        if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            glue.setdefault(rrset.name, []).extend(str(cast(dns.rdtypes.IN.A.A, rdata).address) for rdata in rrset)
    out: list[str] = []
    for target in targets:
        addresses = glue.get(target, [])
        if not addresses:
            for rdtype in ("A", "AAAA"):
                for server in resolvers:
                    try:
                        answer = await query(target.to_text(), rdtype, server, timeout)
                    except (OSError, dns.exception.DNSException, DNSChallengeError):
                        continue
                    addresses.extend(
                        str(cast(dns.rdtypes.IN.A.A, rdata).address)
                        for rrset in answer.answer if rrset.rdtype == dns.rdatatype.from_text(rdtype)
                        for rdata in rrset
                    )
                    break
        out.extend(_address(address, port) for address in addresses)
    if not out:
        raise DNSChallengeError(f"could not resolve any nameserver of {zone} ({', '.join(t.to_text() for t in targets) or 'no NS records'})")
    return list(dict.fromkeys(out))


def describe(exc: BaseException) -> str:
    """A one-line description of a network/DNS error for messages."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
