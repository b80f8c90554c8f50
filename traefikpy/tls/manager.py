"""The TLS state of one configuration, and the manager that swaps it with each graph.

:class:`TLSRuntime` is built from a merged configuration: the default certificate store, the
option sets (each checked once), and per entrypoint the index ``host -> option set`` that Traefik
builds from the ``Host`` matchers of TLS routers (two routers giving one host different option
sets make that host use ``default``).  ``context_for(entrypoint, sni)`` gives the SSL context of a
new handshake; contexts are made on first use and cached per (option set, certificate).

:class:`TLSManager` holds the current runtime.  The App calls ``update`` with every new merged
configuration; new handshakes read ``current``, so added, replaced or removed certificates apply
without a restart while established connections keep theirs.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable, Iterable
from typing import Any, Final

from traefikpy.config.merge import Merged, provider_of, qualify
from traefikpy.config.static import StaticConfig
from traefikpy.rules import RuleError, parse_rule
from traefikpy.rules.matchers import HostMatcher
from traefikpy.rules.rule import leaves
from traefikpy.tls.certs import CertificateError, CertStore, StoredCert, generated_default, load_certificate
from traefikpy.tls.options import OptionPlan, build_context, plan_options

log = logging.getLogger("traefikpy.tls")

DEFAULT = "default"
ACME_TLS_ALPN = "acme-tls/1"

_SNI_ATTR: Final = "_traefikpy_sni"


def _remember_sni(ssl_object: object, server_name: str | None, _ctx: ssl.SSLContext) -> None:
    # Called by OpenSSL during the handshake (before any request): keep the SNI the client sent
    # on the SSL object itself (an ssl.SSLObject or SSLSocket: plain Python objects).
    if server_name:
        setattr(ssl_object, _SNI_ATTR, server_name.lower().rstrip("."))


def server_name_of(ssl_object: object) -> str:
    """The SNI the client sent on the TLS connection of ``ssl_object`` ("" without one)."""
    name: str = getattr(ssl_object, _SNI_ATTR, "")
    return name


def rule_domains(rule: str) -> list[str]:
    """The hosts of the ``Host`` matchers of ``rule`` (Traefik's ``ParseDomains``)."""
    try:
        parsed = parse_rule(rule)
    except RuleError:
        return []
    return [leaf.matcher.host for leaf in leaves(parsed.tree) if isinstance(leaf.matcher, HostMatcher)]


def host_options(routers: Iterable[tuple[str, str, str]]) -> tuple[dict[str, str], dict[str, str]]:
    """``host -> option set`` from ``(router, rule, option set)`` of TLS routers, and the routers
    whose host another router gives other options (``router -> host``): such hosts use default."""
    out: dict[str, str] = {}
    owners: dict[str, dict[str, str]] = {}  # host -> option set -> a router using it
    conflicts: dict[str, str] = {}
    for router, rule, option in routers:
        for host in rule_domains(rule):
            seen = out.get(host)
            out[host] = DEFAULT if seen is not None and seen != option else option
            owners.setdefault(host, {}).setdefault(option, router)
            if len(owners[host]) > 1:
                for name in owners[host].values():
                    conflicts[name] = host
                conflicts[router] = host
    return out, conflicts


def find_option(index: dict[str, str], host: str) -> str:
    return index.get(host.lower().rstrip("."), DEFAULT)


class Caches:
    """What survives reloads: parsed certificates and SSL contexts, keyed by content (a reload
    that leaves TLS alone re-reads files but parses nothing and builds no context)."""

    def __init__(self) -> None:
        self.certs: dict[tuple[bytes, bytes], StoredCert] = {}
        self.contexts: dict[tuple[OptionPlan, tuple[bytes, bytes]], ssl.SSLContext] = {}

    def keep_only(self, runtime: TLSRuntime) -> None:
        """Forget what ``runtime`` does not use (removed certificates, changed option sets)."""
        certs = runtime.store.certificates()
        keys = {cert.key for cert in certs}
        plans = set(runtime.plans.values())
        self.certs = {k: v for k, v in self.certs.items() if k in keys}
        self.contexts = {k: v for k, v in self.contexts.items() if k[0] in plans and k[1] in keys}


class TLSRuntime:
    """Certificates, option sets and host indexes of one merged configuration."""

    def __init__(self, merged: Merged, static: StaticConfig, caches: Caches | None = None) -> None:
        self.caches = caches if caches is not None else Caches()
        self.errors: dict[str, str] = {}
        self.router_errors: dict[str, tuple[str, bool]] = {}  # router -> (message, critical)
        tls = merged.config.tls
        self.plans: dict[str, OptionPlan] = {DEFAULT: OptionPlan()}
        for name, opts in tls.options.items():
            try:
                self.plans[name] = plan_options(opts)
            except (ValueError, CertificateError) as exc:
                self.errors[f"tls.options.{name}"] = str(exc)
        self.store = self._store(merged)
        self.hosts: dict[str, dict[str, str]] = {}
        self._misdirected: dict[tuple[str, str, str], bool] = {}
        entrypoints = {n: ep for n, ep in static.entry_points.items() if ep.listen.protocol == "tcp"}
        per_ep: dict[str, list[tuple[str, str, str]]] = {}
        defaults = sorted(n for n, ep in entrypoints.items() if ep.as_default) or sorted(entrypoints)
        for name, router in merged.config.http.routers.items():
            for ep_name in router.entry_points or defaults:
                ep = entrypoints.get(ep_name)
                ep_tls = ep.http.tls if ep is not None and ep.http is not None else None
                if router.tls is None and ep_tls is None:
                    continue
                option = (router.tls.options if router.tls is not None else "") or (ep_tls.options if ep_tls else "")
                option = qualify(option, provider_of(name)) if option and option != DEFAULT else DEFAULT
                if option not in self.plans:
                    # Traefik: the router is broken and handshakes for its hosts are refused.
                    reason = "invalid" if option in tls.options else "unknown"
                    self.router_errors[name] = (f"{reason} TLS options: {option}", True)
                per_ep.setdefault(ep_name, []).append((name, router.rule, option))
        for ep_name, items in per_ep.items():
            self.hosts[ep_name], conflicts = host_options(items)
            for router_name, host in conflicts.items():
                self.router_errors.setdefault(router_name, (
                    f"found different TLS options for routers on the same host {host}, "
                    "so using the default TLS options instead", False))

    def _store(self, merged: Merged) -> CertStore:
        tls = merged.config.tls
        store = tls.stores.get(DEFAULT)
        default = generated_default()
        user_default: StoredCert | None = None
        if store is not None and store.default_certificate is not None:
            dc = store.default_certificate
            try:
                user_default = default = load_certificate(dc.cert_file, dc.key_file, self.caches.certs)
            except CertificateError as exc:
                self.errors["tls.stores.default.defaultCertificate"] = str(exc)
        result = CertStore(default)
        for i, cert in enumerate(tls.certificates):
            if cert.stores and DEFAULT not in cert.stores:
                self.errors[f"tls.certificates[{i}]"] = f"store(s) {', '.join(cert.stores)} do not exist: only {DEFAULT} is used"
                continue
            try:
                result.add(load_certificate(cert.cert_file, cert.key_file, self.caches.certs))
            except CertificateError as exc:
                self.errors[f"tls.certificates[{i}]"] = str(exc)
        if user_default is not None:
            result.add(user_default)
        generated = store.default_generated_cert if store is not None and user_default is None else None
        if generated is not None and generated.domain is not None and generated.domain.main:
            # defaultGeneratedCert: the resolver's certificate for that domain, once it has it
            found = result.match(generated.domain.main)
            if found is not None:
                result.default = found
        return result

    def option_for(self, entrypoint: str, host: str) -> str:
        return find_option(self.hosts.get(entrypoint, {}), host)

    def misdirected(self, entrypoint: str, host: str, sni: str) -> bool:
        """Traefik's 421 rule: does ``host`` map to other TLS options than ``sni`` (cached)?"""
        key = (entrypoint, host, sni)
        answer = self._misdirected.get(key)
        if answer is None:
            answer = self.option_for(entrypoint, host) != self.option_for(entrypoint, sni)
            if len(self._misdirected) >= 4096:
                self._misdirected.clear()
            self._misdirected[key] = answer
        return answer

    def context_for(self, entrypoint: str, server_name: str, local_ip: str = "") -> ssl.SSLContext | None:
        """The context of a handshake asking for ``server_name`` (without SNI the certificate is
        looked up by the local address, as Traefik does); None refuses the handshake: sniStrict
        without a certificate, or a host whose routers name broken or unknown options."""
        option = self.option_for(entrypoint, server_name) if server_name else DEFAULT
        plan = self.plans.get(option)
        if plan is None:
            return None
        cert = self.store.select(server_name or local_ip, plan.sni_strict)
        if cert is None:
            return None
        key = (plan, cert.key)
        ctx = self.caches.contexts.get(key)
        if ctx is None:
            try:
                ctx = build_context(plan, cert)
            except (CertificateError, ssl.SSLError) as exc:
                log.error("TLS options %s: %s; using the default certificate", option, exc)
                ctx = build_context(plan, generated_default())
            ctx.sni_callback = _remember_sni
            self.caches.contexts[key] = ctx
        return ctx


class TLSManager:
    """Holds the :class:`TLSRuntime` of the current configuration."""

    def __init__(self, static: StaticConfig) -> None:
        self.static = static
        self.caches = Caches()
        self.current = TLSRuntime(Merged(_empty()), static, self.caches)
        # server name -> the TLS-ALPN-01 challenge context, when an ACME order has one open
        self.acme_challenge: Callable[[str], ssl.SSLContext | None] | None = None

    def acme_tls_context(self, server_name: str) -> ssl.SSLContext | None:
        """The ``acme-tls/1`` challenge context for ``server_name`` (the client offered that ALPN)."""
        return self.acme_challenge(server_name) if self.acme_challenge is not None and server_name else None

    def update(self, merged: Merged, state: Any = None) -> TLSRuntime:
        """Build the runtime of ``merged`` and make it current; errors go to ``state`` (a
        :class:`~traefikpy.runtime.RuntimeState`) when given."""
        runtime = TLSRuntime(merged, self.static, self.caches)
        self.caches.keep_only(runtime)
        if state is not None:
            for key, message in runtime.errors.items():
                log.error("%s: %s", key, message)
                state.errors.append(f"{key}: {message}")
            for router, (message, critical) in runtime.router_errors.items():
                state.get("http", "router", router).add_error(message, critical=critical)
        self.current = runtime
        return runtime


def _empty() -> Any:
    from traefikpy.config.dynamic import DynamicConfig

    return DynamicConfig()
