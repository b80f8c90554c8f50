"""``metrics.prometheus.headerLabels`` through the real App: the three ``requests_total``
families get one label per entry, valued with the request's header (empty when absent); the
duration and byte families keep their own labels and count every request once."""

from __future__ import annotations

import pytest

from tests.harness import lb, running_app
from tests.observability.test_metrics_e2e import EPS, FLAGS, names, scrape, value
from tests.proxy.backends import Backend
from traefikpy.metrics import header_labels

HEADER_FLAGS = [
    *FLAGS,
    "--metrics.prometheus.addRoutersLabels=true",
    "--metrics.prometheus.headerLabels.useragent=User-Agent",
    "--metrics.prometheus.headerLabels.tenant=x-tenant",
    "--metrics.prometheus.headerLabels.host=Host",  # always empty in Traefik (Go's Request.Host)
    "--metrics.prometheus.headerLabels.fwdhost=X-Forwarded-Host",  # what Traefik suggests instead
]


async def test_header_labels_on_requests_total() -> None:
    backend = await Backend.start()
    try:
        config = {"http": {"routers": {"r": {"rule": "PathPrefix(`/`)", "service": "s"}},
                           "services": {"s": lb(backend.url)}}}
        async with running_app(config, flags=HEADER_FLAGS, entrypoints=EPS) as rt:
            for _ in range(2):
                assert (await rt.get("/echo", headers={"User-Agent": "probe/1", "X-Tenant": "acme"})).status == 200
            assert (await rt.get("/echo", headers={"User-Agent": "probe/2"})).status == 200
            assert (await rt.get("/status/404", headers={"User-Agent": "probe/1", "X-Tenant": "acme"})).status == 404
            samples = await scrape(rt)

            base = {"code": "200", "method": "GET", "protocol": "http", "host": "",
                    "fwdhost": f"127.0.0.1:{rt.app.port('web')}"}
            for family, own in [
                ("traefik_entrypoint_requests_total", {"entrypoint": "web"}),
                ("traefik_router_requests_total", {"router": "r@file", "service": "s@file"}),
                ("traefik_service_requests_total", {"service": "s@file"}),
            ]:
                assert value(samples, family, **base, **own, useragent="probe/1", tenant="acme") == 2
                assert value(samples, family, **base, **own, useragent="probe/2", tenant="") == 1
                assert value(samples, family, **{**base, "code": "404"}, **own, useragent="probe/1",
                             tenant="acme") == 1
                # no series without the header labels
                assert value(samples, family, **base, **own) is None

            # the other families keep Traefik's labels and sum over the header values
            base = {"code": "200", "method": "GET", "protocol": "http"}
            ep = {**base, "entrypoint": "web"}
            assert value(samples, "traefik_entrypoint_request_duration_seconds_count", **ep) == 3
            assert value(samples, "traefik_service_request_duration_seconds_count", **base, service="s@file") == 3
            assert value(samples, "traefik_entrypoint_requests_bytes_total", **ep) == 0
            labelled = {frozenset(dict(labels)) for name, labels in samples
                        if name == "traefik_entrypoint_responses_bytes_total"}
            assert labelled == {frozenset({"code", "method", "protocol", "entrypoint"})}
            assert "traefik_router_request_duration_seconds_bucket" in names(samples)
    finally:
        await backend.stop()


async def test_no_header_labels_by_default() -> None:
    backend = await Backend.start()
    try:
        config = {"http": {"routers": {"r": {"rule": "PathPrefix(`/`)", "service": "s"}},
                           "services": {"s": lb(backend.url)}}}
        async with running_app(config, flags=FLAGS, entrypoints=EPS) as rt:
            assert (await rt.get("/echo", headers={"User-Agent": "probe/1"})).status == 200
            samples = await scrape(rt)
            assert value(samples, "traefik_entrypoint_requests_total", code="200", method="GET", protocol="http",
                         entrypoint="web") == 1
    finally:
        await backend.stop()


@pytest.mark.parametrize(
    ("config", "kept"),
    [
        ({"ua": "User-Agent", "b": "X-B"}, [("b", "X-B"), ("ua", "User-Agent")]),
        ({"bad-name": "X-A", "code": "X-B", "__x": "X-C", "ok": "X-D"}, [("ok", "X-D")]),
        ({"empty": ""}, []),
    ],
)
def test_header_label_names(config: dict[str, str], kept: list[tuple[str, str]]) -> None:
    assert header_labels(config) == kept
