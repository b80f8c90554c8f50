"""A certificates resolver (``certificatesResolvers.<name>.acme``): the async side.

Like Traefik's ACME provider, a :class:`Resolver` is also a configuration provider (named
``<resolver>.acme``): its snapshots carry its certificates as ``tls.certificates`` of the
``default`` store, so an obtained or renewed certificate reaches the TLS store on the next
compile and is served on new handshakes without a restart.

* Domains: after each compile the App calls :meth:`Resolver.routers_changed`; routers whose
  ``tls.certResolver`` (or their entry point's ``http.tls.certResolver``) names this resolver give
  their ``tls.domains`` (main + sans, one certificate each) or else the hosts of their rule's
  ``Host`` matchers (one certificate for them all).  Sets already covered by a stored certificate
  are not ordered again.
* One worker per resolver runs orders one at a time (the ``acme`` library is blocking: each order
  runs in a daemon thread, like ``asyncio.to_thread`` but without holding up the shutdown of the
  loop when the CA hangs); a failed set waits with exponential backoff before its next attempt.
* Renewal: every ``renewInterval`` the stored certificates are checked; one with less than
  ``renewPeriod`` left is ordered again (Traefik's periods by ``certificatesDuration`` when unset).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from typing import Any, TypeVar

from cryptography import x509

from traefikpy.acme.challenges import Challenges
from traefikpy.acme.client import CA_BUNDLE_PREFIX, ACMEAccount, ACMEError, ca_bundle
from traefikpy.acme.dns import (
    authoritative_nameservers,
    cleanup_challenge,
    dns_provider,
    present_challenge,
    system_nameservers,
    wait_propagation,
)
from traefikpy.acme.storage import CertRecord, ResolverData, Storage, StorageError
from traefikpy.aio import TaskGroup
from traefikpy.config.dynamic import DynamicConfig
from traefikpy.config.merge import Merged
from traefikpy.config.static import ACME, Propagation, StaticConfig
from traefikpy.tls.manager import rule_domains

log = logging.getLogger("traefikpy.acme")

BACKOFF_INITIAL = 2.0
BACKOFF_MAX = 3600.0

HOUR = 3600.0
T = TypeVar("T")


async def in_thread(fn: Callable[..., T], *args: Any, name: str = "acme") -> T:
    """``fn(*args)`` in a new daemon thread.  Unlike ``asyncio.to_thread`` (the loop's default
    executor, joined when the loop shuts down), a CA that hangs cannot delay the shutdown: on
    cancellation the thread is abandoned and its result dropped."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(result: T | None, exc: BaseException | None) -> None:
        if future.done():
            return
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            result, exc = fn(*args), None
        except BaseException as error:  # handed to the awaiting task
            result, exc = None, error
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(deliver, result, exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return await future


def renew_durations(hours: int) -> tuple[float, float]:
    """Traefik's (renew period, check interval) in seconds for ``certificatesDuration`` hours."""
    if hours >= 365 * 24:
        return 4 * 30 * 24 * HOUR, 7 * 24 * HOUR
    if hours >= 3 * 30 * 24:
        return 30 * 24 * HOUR, 24 * HOUR
    if hours >= 7 * 24:
        return 24 * HOUR, HOUR
    if hours >= 24:
        return 6 * HOUR, 600.0
    return 1200.0, 60.0


DomainKey = tuple[str, ...]


def domain_key(domains: Sequence[str]) -> DomainKey:
    """Main first, then the sorted other names (lower-case, no duplicates)."""
    clean = [d.strip().lower().rstrip(".") for d in domains if d.strip()]
    if not clean:
        return ()
    main = clean[0]
    return (main, *sorted({d for d in clean[1:] if d != main}))


def covers(names: Sequence[str], domain: str) -> bool:
    if domain in names:
        return True
    _, dot, rest = domain.partition(".")
    return bool(dot) and not domain.startswith("*.") and f"*.{rest}" in names


def not_after(cert_pem: bytes) -> datetime.datetime | None:
    try:
        return x509.load_pem_x509_certificate(cert_pem).not_valid_after_utc
    except ValueError:
        return None


class Resolver:
    """One ACME certificates resolver: storage, orders, renewal, and its provider snapshots."""

    def __init__(self, name: str, cfg: ACME, storage: Storage, challenges: Challenges,
                 static: StaticConfig | None = None, env: Mapping[str, str] | None = None) -> None:
        self.resolver = name
        self.name = f"{name}.acme"  # as a provider
        self.throttle: float | None = 0.0
        self.cfg = cfg
        self.storage = storage
        self.challenges = challenges
        self.static = static
        self.env = env
        period, interval = renew_durations(cfg.certificates_duration)
        self.renew_period = cfg.renew_period or period
        self.renew_interval = cfg.renew_interval or interval
        self.data = ResolverData()
        self.error = ""  # why the resolver cannot work (storage refused)
        self.orders = 0  # orders attempted
        self.issued = 0  # certificates obtained
        self.failures: dict[DomainKey, tuple[int, float]] = {}  # key -> (failures, next attempt)
        self.last_error: dict[DomainKey, str] = {}
        self._pending: dict[DomainKey, str] = {}  # key -> reason ("new" / "renewal")
        self._inflight: DomainKey | None = None
        self._wake = asyncio.Event()
        self._version = 0
        self._published = asyncio.Condition()
        self._tasks = TaskGroup(f"acme:{name}")
        self._account: ACMEAccount | None = None
        self._verify: str | bool = True
        self._loop: asyncio.AbstractEventLoop | None = None
        self._dns: Any = None
        self._load()

    # storage

    def _load(self) -> None:
        try:
            self.data = self.storage.load(self.resolver)
        except StorageError as exc:
            self.error = str(exc)
            log.error("certificates resolver %s: unable to use storage: %s", self.resolver, exc)
            return
        if self.data.account is not None and self.data.account.email != self.cfg.email:
            log.info("certificates resolver %s: account e-mail changed, a new account will be registered",
                     self.resolver)

    def _save(self) -> None:
        try:
            self.storage.save(self.resolver, self.data)
        except (StorageError, OSError) as exc:
            log.error("certificates resolver %s: cannot write %s: %s", self.resolver, self.storage.path, exc)

    # lifecycle

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.error:
            return
        if self.cfg.dns_challenge is not None and self.cfg.dns_challenge.provider:
            try:
                self._dns = dns_provider(self.cfg.dns_challenge.provider, self.env)
            except Exception as exc:  # unknown provider, missing settings
                self.error = f"DNS provider {self.cfg.dns_challenge.provider!r}: {exc}"
                log.error("certificates resolver %s: %s", self.resolver, self.error)
                return
        self._tasks.spawn(self._worker(), "orders")
        self._tasks.spawn(self._renewals(), "renewals")

    async def close(self) -> None:
        await self._tasks.close()
        if isinstance(self._verify, str) and os.path.basename(self._verify).startswith(CA_BUNDLE_PREFIX):
            with contextlib.suppress(OSError):
                os.unlink(self._verify)  # the CA bundle ca_bundle() assembled

    # provider

    def certificates_config(self) -> DynamicConfig:
        certs = [{"certFile": c.certificate.decode(), "keyFile": c.key.decode(), "stores": [c.store or "default"]}
                 for c in self.data.certificates if c.certificate and c.key]
        return DynamicConfig.model_validate({"tls": {"certificates": certs}} if certs else {})

    async def watch(self) -> AsyncIterator[DynamicConfig]:
        seen = -1
        while True:
            async with self._published:
                await self._published.wait_for(lambda seen=seen: self._version != seen)  # type: ignore[misc]
                seen = self._version
            yield self.certificates_config()

    async def _publish(self) -> None:
        async with self._published:
            self._version += 1
            self._published.notify_all()

    # domains

    def wanted(self, merged: Merged) -> list[DomainKey]:
        """The domain sets that routers ask this resolver for."""
        out: list[DomainKey] = []
        entrypoints = self.static.entry_points if self.static is not None else {}
        for name, router in merged.config.http.routers.items():
            resolver = router.tls.cert_resolver if router.tls is not None else ""
            sets = [[d.main, *d.sans] for d in router.tls.domains if d.main] if router.tls is not None else []
            if not resolver:
                for ep_name in router.entry_points or list(entrypoints):
                    ep = entrypoints.get(ep_name)
                    ep_tls = ep.http.tls if ep is not None and ep.http is not None else None
                    if ep_tls is not None and ep_tls.cert_resolver:
                        resolver = ep_tls.cert_resolver
                        sets = sets or [[d.main, *d.sans] for d in ep_tls.domains if d.main]
                        break
            if resolver != self.resolver:
                continue
            sets = sets or [rule_domains(router.rule)]
            self._add_sets(out, sets, f"router {name}")
        store = merged.config.tls.stores.get("default")
        generated = store.default_generated_cert if store is not None else None
        if generated is not None and generated.resolver == self.resolver and generated.domain is not None:
            self._add_sets(out, [[generated.domain.main, *generated.domain.sans]], "defaultGeneratedCert")
        return out

    def _add_sets(self, out: list[DomainKey], sets: list[list[str]], who: str) -> None:
        for names in sets:
            key = domain_key(names)
            if not key:
                continue
            if any(d.startswith("*.") for d in key) and self.cfg.dns_challenge is None:
                log.error("%s: unable to generate a wildcard certificate for %s: ACME needs a dnsChallenge",
                          who, key[0])
                continue
            if key not in out:
                out.append(key)

    def covered(self, key: DomainKey) -> bool:
        for record in self.data.certificates:
            names = [d.lower() for d in record.domains]
            if all(covers(names, d) for d in key):
                return True
        return False

    def routers_changed(self, merged: Merged, served: Callable[[str], object] | None = None) -> None:
        """Order what routers need and no certificate covers (called after each compile):
        neither one of this resolver nor, with ``served`` (name -> certificate of the TLS store or
        None), a certificate the store already has for every name, as Traefik does."""
        if self.error:
            return
        wanted = self.wanted(merged)
        for key in [k for k, reason in self._pending.items() if reason == "new" and k not in wanted]:
            del self._pending[key]  # no router asks for it any more: stop retrying
            self.failures.pop(key, None)
        for key in wanted:
            if self.covered(key) or (served is not None and all(served(d) is not None for d in key)):
                continue
            coming = [k for k in (*self._pending, self._inflight) if k]
            if any(all(covers(k, d) for d in key) for k in coming):
                continue  # an order in progress or pending will cover these names
            self._pending[key] = "new"
            self._wake.set()

    # orders

    def _next_due(self) -> tuple[DomainKey | None, float]:
        """The next pending set whose backoff is over, else how long until one is."""
        now = time.monotonic()
        wait = float("inf")
        for key in self._pending:
            _, due = self.failures.get(key, (0, 0.0))
            if due <= now:
                return key, 0.0
            wait = min(wait, due - now)
        return None, wait

    async def _worker(self) -> None:
        while True:
            key, wait = self._next_due()
            if key is None:
                self._wake.clear()
                try:
                    async with asyncio.timeout(None if wait == float("inf") else wait):
                        await self._wake.wait()
                except TimeoutError:
                    pass
                continue
            reason = self._pending.pop(key)
            self._inflight = key
            try:
                await self._order(key, reason)
            finally:
                self._inflight = None

    async def _order(self, key: DomainKey, reason: str) -> None:
        self.orders += 1
        log.info("certificates resolver %s: ordering a certificate for %s (%s)", self.resolver, ", ".join(key), reason)
        try:
            issued = await in_thread(self._obtain_blocking, key, name=f"acme-{self.resolver}")
        except Exception as exc:  # any failure: backoff, the worker keeps going
            if not isinstance(exc, (ACMEError, StorageError, OSError)):
                log.exception("certificates resolver %s: unexpected error", self.resolver)
            count = self.failures.get(key, (0, 0.0))[0] + 1
            delay = min(BACKOFF_INITIAL * 2 ** (count - 1), BACKOFF_MAX)
            self.failures[key] = (count, time.monotonic() + delay)
            self.last_error[key] = str(exc)
            self._pending.setdefault(key, reason)  # retried after the backoff
            log.error("certificates resolver %s: unable to obtain a certificate for %s: %s (retry in %.0fs)",
                      self.resolver, ", ".join(key), exc, delay)
            return
        self.failures.pop(key, None)
        self.last_error.pop(key, None)
        self.issued += 1
        record = CertRecord(key[0], key[1:], issued.certificate, issued.key, "default")
        self.data.certificates = [c for c in self.data.certificates if domain_key(c.domains) != key] + [record]
        self._save()
        log.info("certificates resolver %s: certificate for %s obtained", self.resolver, ", ".join(key))
        await self._publish()

    def _obtain_blocking(self, key: DomainKey) -> Any:
        if self._account is None:
            self._verify = ca_bundle(self.cfg)
            self._account = ACMEAccount(self.cfg, self.data.account, self._verify)
        account = self._account
        account.register()
        if self.data.account is not account.account:  # saved once registered, as Traefik does
            self.data.account = account.account
            self._save()
        return account.obtain(list(key), self)

    # renewal

    def due_for_renewal(self, now: datetime.datetime | None = None) -> list[DomainKey]:
        now = now or datetime.datetime.now(datetime.UTC)
        out = []
        for record in self.data.certificates:
            end = not_after(record.certificate)
            if end is not None and (end - now).total_seconds() < self.renew_period:
                out.append(domain_key(record.domains))
        return out

    async def _renewals(self) -> None:
        while True:
            for key in self.due_for_renewal():
                if key and key != self._inflight and key not in self._pending:
                    self._pending[key] = "renewal"
                    self._wake.set()
            await asyncio.sleep(self.renew_interval)

    # Solver (called from the worker thread)

    def challenge_types(self, wildcard: bool) -> Sequence[str]:
        kinds = []
        if not wildcard:
            if self.cfg.http_challenge is not None:
                kinds.append("http-01")
            if self.cfg.tls_challenge is not None:
                kinds.append("tls-alpn-01")
        if self.cfg.dns_challenge is not None:
            kinds.append("dns-01")
        return kinds

    def present(self, kind: str, domain: str, token: str, value: str) -> None:
        if kind == "http-01":
            self.challenges.add_token(token, value)
            if self.cfg.http_challenge is not None and self.cfg.http_challenge.delay > 0:
                time.sleep(self.cfg.http_challenge.delay)
        elif kind == "tls-alpn-01":
            self.challenges.add_alpn(domain, value)
        elif kind == "dns-01":
            fqdn, digest = self._dns_call(present_challenge(self._dns, domain, token, value))
            dns = self.cfg.dns_challenge
            prop = (dns.propagation if dns is not None else None) or Propagation()
            if prop.delay_before_checks > 0:
                time.sleep(prop.delay_before_checks)
            if not prop.disable_checks:
                self._dns_call(self._propagated(fqdn, digest, list(dns.resolvers) if dns is not None else [], prop))

    async def _propagated(self, fqdn: str, value: str, resolvers: list[str], prop: Propagation) -> None:
        """lego's checks: every recursive nameserver (``requireAllRNS``), then the zone's
        authoritative nameservers (unless ``disableANSChecks``) serve the TXT value."""
        nameservers = resolvers or system_nameservers()
        timeout, interval = self._dns.propagation_timeout, self._dns.polling_interval
        if prop.require_all_rns and nameservers:
            await wait_propagation(fqdn, value, nameservers, timeout, interval)
        if not prop.disable_ans_checks and nameservers:
            authoritative = await authoritative_nameservers(fqdn, nameservers)
            await wait_propagation(fqdn, value, authoritative, timeout, interval)

    def cleanup(self, kind: str, domain: str, token: str, value: str) -> None:
        if kind == "http-01":
            self.challenges.remove_token(token)
        elif kind == "tls-alpn-01":
            self.challenges.remove_alpn(domain)
        elif kind == "dns-01":
            self._dns_call(cleanup_challenge(self._dns, domain, token, value))

    def _dns_call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a DNS provider coroutine on the event loop from the worker thread."""
        if self._dns is None or self._loop is None:
            coro.close()
            raise ACMEError("dnsChallenge has no usable provider")
        timeout = 2 * float(getattr(self._dns, "propagation_timeout", 60.0) or 60.0) + 30.0
        try:
            return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)
        except Exception as exc:
            raise ACMEError(f"DNS-01 ({self.cfg.dns_challenge.provider if self.cfg.dns_challenge else ''}): "
                            f"{type(exc).__name__}: {exc}") from None


def build_resolvers(static: StaticConfig, challenges: Challenges) -> list[Resolver]:
    """One :class:`Resolver` per ``certificatesResolvers.<name>.acme`` (one storage per file)."""
    storages: dict[str, Storage] = {}
    out = []
    for name, resolver in static.certificates_resolvers.items():
        if resolver.acme is None:
            continue
        path = resolver.acme.storage
        storage = storages.setdefault(path, Storage(path))
        out.append(Resolver(name, resolver.acme, storage, challenges, static))
    return out
