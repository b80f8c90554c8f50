"""The per-request observer an App installs on its entry points: metrics and access log.

:func:`observer` returns one callable ``(exchange, duration, response bytes)`` run by the entry point's root
handler after the router's chain finished (see :func:`traefikpy.graph.make_root`), or None when
neither Prometheus nor the access log is configured, so the root stays as fast as without them.

Byte counts: the request size is the declared ``Content-Length`` (0 for chunked bodies).  The
response size is the body bytes the connection's writer sent (``H1Writer.bytes_sent``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from traefikpy.accesslog import AccessLog
from traefikpy.config.merge import Merged
from traefikpy.metrics import PrometheusMetrics
from traefikpy.proxy.http import Exchange
from traefikpy.runtime import RuntimeState

Observer = Callable[[Exchange, float, int], None]
"""``(finished exchange, duration in seconds, response body bytes)``; must not raise and must not
block (``PrometheusMetrics.observe``, ``AccessLog.observe``, or both)."""


def observer(metrics: PrometheusMetrics | None, access_log: AccessLog | None) -> Observer | None:
    if metrics is None and access_log is None:
        return None
    if access_log is None:
        assert metrics is not None
        return metrics.observe
    if metrics is None:
        return access_log.observe
    observe_both, log_both = metrics.observe, access_log.observe

    def both(ex: Exchange, duration: float, sent: int) -> None:
        observe_both(ex, duration, sent)
        log_both(ex, duration, sent)

    return both


def health_checked_servers(merged: Merged, state: RuntimeState) -> Iterator[tuple[str, str, bool]]:
    """``(service, url, up)`` of every server of a load balancer with an active health check: the
    servers Traefik reports in ``traefik_service_server_up``."""
    elements = state.of("http", "service")
    for name, service in merged.config.http.services.items():
        lb = service.load_balancer
        element = elements.get(name)
        if lb is None or lb.health_check is None or element is None:
            continue
        for url, status in element.server_status.items():
            yield name, url, status == "UP"


__all__ = ["Observer", "health_checked_servers", "observer"]
