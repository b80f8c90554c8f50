"""Prometheus metrics with Traefik v3's names and labels, and the ``prometheus@internal`` service.

:class:`PrometheusMetrics` owns one ``CollectorRegistry`` (one per App, so tests can run several)
with the ``traefik_*`` families Traefik exports: config reloads, open connections, per entry
point / router / service request counts, durations and byte counts, service retries, server
health and TLS certificate expiry.  Existing Traefik dashboards work unchanged.

Hot path: :meth:`PrometheusMetrics.observe` is called once per request after the handler ends.
It adds to one plain record (:class:`traefikpy.metrics_series.Stats`, no locks) per
``(entrypoint, router, service, code, method, protocol)``: one tuple key, one dict lookup, five
additions.  The entry point, router and service levels sum those records when Prometheus
scrapes.  After each reload :meth:`PrometheusMetrics.reloaded` moves the records of routers and
services that are gone out of their router/service series (they are deleted, as in Traefik) while
the entry point keeps counting them.

``headerLabels`` (``{label: header}``) adds one label per entry to the three ``requests_total``
families, valued with the request's first value of that header (empty when absent, and always
for ``Host``, as in Traefik); only then does a request pay for one pass over its headers to
extend the key.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from bisect import bisect_left
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID
from prometheus_client import CollectorRegistry, Counter, Gauge, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from traefikpy.config.static import Prometheus
from traefikpy.metrics_series import Key, Level, Stats
from traefikpy.proxy.http import Exchange

# Traefik exports no ``*_created`` series; dashboards do not expect them.
disable_created_metrics()  # type: ignore[no-untyped-call]

log = logging.getLogger("traefikpy.metrics")

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_CODES = {code: str(code) for code in range(100, 600)}

OpenConnections = Callable[[], Mapping[str, int]]
"""Returns ``{entrypoint: open connection count}`` at scrape time."""


def protocol_of(ex: Exchange) -> str:
    """Traefik's ``protocol`` label: ``websocket`` for a WebSocket upgrade, else ``http``."""
    return "websocket" if ex.upgrade.lower() == b"websocket" else "http"


class _OpenConnections(Collector):
    """``traefik_open_connections``: read from the listeners at scrape time (no hot-path cost)."""

    def __init__(self, source: OpenConnections) -> None:
        self.source = source

    def describe(self) -> Iterable[Metric]:
        # the registry asks for names at registration, before the listeners exist
        yield self._family()

    def collect(self) -> Iterable[Metric]:
        family = self._family()
        for entrypoint, count in sorted(self.source().items()):
            family.add_metric([entrypoint, "TCP"], count)
        yield family

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily("traefik_open_connections", "How many open connections exist, by entry point and protocol",
                                 labels=["entrypoint", "protocol"])


class PrometheusMetrics:
    """Every ``traefik_*`` family of one running App, and the per-request observer."""

    def __init__(self, config: Prometheus, open_connections: OpenConnections | None = None,
                 add_internals: bool = False) -> None:
        self.config = config
        self.add_internals = add_internals
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        buckets = sorted(config.buckets) or [0.1, 0.3, 1.2, 5.0]
        self.reloads = Counter("traefik_config_reloads", "Config reloads", registry=reg)
        self.last_reload_success = Gauge("traefik_config_last_reload_success",
                                         "Last config reload success (Unix timestamp)", registry=reg)
        if open_connections is not None:
            reg.register(_OpenConnections(open_connections))
        self.header_labels = header_labels(config.header_labels)
        extra = [label for label, _ in self.header_labels]
        self._header_names = tuple(header.lower().encode("latin-1") for _, header in self.header_labels)
        # header name -> slot; two labels may name one header (they share its slot).  Host gets
        # no slot, so its label stays empty: Go moves Host out of the header map (Traefik
        # documents it and points to X-Forwarded-Host).
        self._header_index: dict[bytes, int] = {}
        for name in self._header_names:
            if name != b"host":
                self._header_index.setdefault(name, len(self._header_index))
        empty = len(self._header_index)
        self._header_slots = tuple(self._header_index.get(name, empty) for name in self._header_names)
        # (entrypoint, router, service, status, method, protocol[, header values...]) -> its record
        self.records: dict[Key, Stats] = {}
        self._bounds = buckets
        self._first_bound = buckets[0]
        self._bucket_count = len(buckets) + 1
        self.entrypoint = (Level("entrypoint", ["code", "method", "protocol", "entrypoint"], buckets, self.records,
                                 self._entrypoint_labels, extra) if config.add_entry_points_labels else None)
        self.router = (Level("router", ["code", "method", "protocol", "router", "service"], buckets, self.records,
                             self._router_labels, extra) if config.add_routers_labels else None)
        self.service = (Level("service", ["code", "method", "protocol", "service"], buckets, self.records,
                              self._service_labels, extra) if config.add_services_labels else None)
        for level in (self.entrypoint, self.router, self.service):
            if level is not None:
                reg.register(level)
        self.retries = Counter("traefik_service_retries", "How many request retries happened on a service.",
                               ["service"], registry=reg)
        self.server_up = Gauge("traefik_service_server_up", "service server is up, described by gauge value of 0 or 1.",
                               ["service", "url"], registry=reg)
        self.certs_not_after = Gauge("traefik_tls_certs_not_after", "Certificate expiration timestamp",
                                     ["cn", "serial", "sans"], registry=reg)

    # -- per request -------------------------------------------------------------------------
    def observe(self, ex: Exchange, duration: float, response_bytes: int) -> None:
        """Record one finished request (``duration`` in seconds; an ``observability.Observer``)."""
        service = ex.service
        upgrade = ex.upgrade
        key: Key = (ex.entrypoint, ex.router, service, ex.status, ex.method,
                    "websocket" if upgrade and upgrade.lower() == b"websocket" else "http")
        if self._header_names:
            key += self._header_values(ex)
        stats = self.records.get(key)
        if stats is None:
            stats = self.records[key] = Stats(self._bucket_count)
        stats.count += 1
        stats.total += duration
        # most requests land in the first bucket: one comparison instead of a bisect call
        stats.buckets[0 if duration <= self._first_bound else bisect_left(self._bounds, duration)] += 1
        stats.request_bytes += ex.body.length or 0
        stats.response_bytes += response_bytes
        if ex.extras is not None and service and self.service is not None:
            attempts = ex.extras.get("retry_attempts")
            if attempts and (self.add_internals or not service.endswith("@internal")):
                self.retries.labels(service).inc(attempts)

    def _header_values(self, ex: Exchange) -> tuple[str, ...]:
        """Go's ``Header.Get`` of each ``headerLabels`` header: the first value, else ""."""
        index = self._header_index
        found: list[str | None] = [None] * (len(index) + 1)  # the last slot stays empty (Host)
        for name, value in ex.headers:
            slot = index.get(name.lower())
            if slot is not None and found[slot] is None:
                found[slot] = value.decode("latin-1")
        return tuple([found[slot] or "" for slot in self._header_slots])

    # -- scrape time: a record key onto each level's labels (None: not counted there) ------------
    def _counted(self, key: Key) -> tuple[str, str, str] | None:
        """``(code, method, protocol)`` of a record, or None for an ``@internal`` service's
        requests unless ``addInternals``."""
        if not self.add_internals and key[2].endswith("@internal"):
            return None
        status, method = key[3], key[4]
        return (_CODES.get(status) or str(status),
                method.decode("utf-8", "replace") if method.isascii() else "NON_UTF8_HTTP_METHOD", key[5])

    def _entrypoint_labels(self, key: Key) -> tuple[str, ...] | None:
        base = self._counted(key)
        return None if base is None else (*base, key[0], *key[6:])

    def _router_labels(self, key: Key) -> tuple[str, ...] | None:
        base = self._counted(key) if key[1] else None
        return None if base is None else (*base, key[1], key[2], *key[6:])

    def _service_labels(self, key: Key) -> tuple[str, ...] | None:
        base = self._counted(key) if key[2] else None
        return None if base is None else (*base, key[2], *key[6:])

    # -- control plane -------------------------------------------------------------------------
    def reloaded(self, routers: Collection[str], services: Collection[str], success: bool = True) -> None:
        """Count a reload and delete the series of routers and services no longer configured."""
        self.reloads.inc()
        if success:
            self.last_reload_success.set(time.time())
        # Requests of a router or service that is gone leave its series (Traefik deletes them)
        # but stay counted on their entry point: their record moves to one without the name.
        for key in list(self.records):
            router, service = key[1], key[2]
            kept_service = service if service in services else ""
            kept_router = router if router in routers and service in services else ""
            if (kept_router, kept_service) != (router, service):
                stats = self.records.pop(key)
                if self._counted(key) is None:
                    continue  # an @internal service's requests: never counted, nothing to keep
                moved = (key[0], kept_router, kept_service, *key[3:])
                into = self.records.get(moved)
                if into is None:
                    self.records[moved] = stats
                else:
                    into.add(stats)
        for labels in list(_label_sets(self.retries)):
            if labels[0] not in services:
                self.retries.remove(*labels)
        for labels in list(_label_sets(self.server_up)):
            if labels[0] not in services:
                self.server_up.remove(*labels)

    def sync_servers(self, statuses: Iterable[tuple[str, str, bool]]) -> None:
        """Replace ``traefik_service_server_up`` with ``(service, url, up)`` of every server of a
        health-checked service (after a reload: removed servers disappear)."""
        self.server_up.clear()
        for service, url, up in statuses:
            self.server_up.labels(service, url).set(1 if up else 0)

    def server_status(self, service: str, url: str, up: bool) -> None:
        """The ``CompileContext.on_status`` sink: a server's health changed."""
        self.server_up.labels(service, url).set(1 if up else 0)

    def set_certificates(self, cert_pems: Iterable[bytes]) -> None:
        """``traefik_tls_certs_not_after``: replace the series with the certificates in use (PEM
        chains); the App calls it after each reload, call it too when certificates change
        outside a reload (ACME renewals)."""
        self.certs_not_after.clear()
        for pem in cert_pems:
            series = certificate_series(pem)
            if series is not None:
                cn, serial, sans, not_after = series
                self.certs_not_after.labels(cn, serial, ",".join(sans)).set(not_after)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


_BASE_LABELS = frozenset({"code", "method", "protocol", "entrypoint", "router", "service"})


def header_labels(config: Mapping[str, str]) -> list[tuple[str, str]]:
    """``headerLabels`` as ``(label, header)`` pairs sorted by label.  A label that is not a valid
    Prometheus name, or that is one of the series' own labels, is left out with an error logged
    (Traefik would stop serving its metrics)."""
    out = []
    for label, header in sorted(config.items()):
        if not _LABEL_NAME.fullmatch(label) or label.startswith("__") or label in _BASE_LABELS:
            log.error("metrics.prometheus.headerLabels: %r is not a usable label name; ignored", label)
            continue
        if not header:
            log.error("metrics.prometheus.headerLabels: label %r names no header; ignored", label)
            continue
        out.append((label, header))
    return out


CertSeries = tuple[str, str, tuple[str, ...], float]


@functools.lru_cache(maxsize=4096)
def certificate_series(cert_pem: bytes) -> CertSeries | None:
    """``(cn, serial, sans, not_after)`` of the first certificate of a PEM chain, as Traefik labels
    ``traefik_tls_certs_not_after`` (decimal serial, DNS names); None when it does not parse.
    Cached by content: reloads pass the same certificates again."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        return None
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = cns[0].value if cns else ""
    try:
        sans = tuple(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
                     .get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        sans = ()
    return (cn if isinstance(cn, str) else cn.decode(), str(cert.serial_number), sans,
            cert.not_valid_after_utc.timestamp())


def _label_sets(metric: Any) -> list[tuple[str, ...]]:
    # prometheus_client keeps children by label values; this is the one way to list them.
    with metric._lock:
        return list(metric._metrics)


class MetricsHandler:
    """``prometheus@internal``: the text exposition of the registry."""

    def __init__(self, metrics: PrometheusMetrics) -> None:
        self.metrics = metrics

    async def __call__(self, ex: Exchange) -> None:
        if ex.method not in (b"GET", b"HEAD"):
            await ex.respond(405, b"Method Not Allowed\n")
            return
        await ex.respond(200, self.metrics.exposition(), content_type=CONTENT_TYPE_LATEST.encode())


__all__ = ["MetricsHandler", "OpenConnections", "PrometheusMetrics", "protocol_of"]
