"""Prometheus metrics through the real App: scrape /metrics on the traefik entry point after known
traffic and check Traefik's series, labels and counts."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.harness import RunningApp, lb, running_app
from tests.proxy.backends import Backend

FLAGS = ["--metrics.prometheus=true"]
EPS = ("web", "traefik")


async def scrape(rt: RunningApp) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    resp = await rt.get("/metrics", entrypoint="traefik")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    text = (await resp.read()).decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def names(samples: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> set[str]:
    return {name for name, _ in samples}


async def test_request_counts_and_labels_per_entrypoint_and_service() -> None:
    backend = await Backend.start()
    try:
        config = {"http": {"routers": {"r": {"rule": "PathPrefix(`/`)", "service": "s"}},
                           "services": {"s": lb(backend.url)}}}
        async with running_app(config, flags=FLAGS, entrypoints=EPS) as rt:
            for _ in range(3):
                assert (await rt.get("/echo")).status == 200
            assert (await rt.get("/status/404")).status == 404
            assert (await rt.request("POST", "/echo", data=b"x" * 10)).status == 200
            big = await rt.request("PUT", "/bytes?size=5000")  # body written by the writer
            assert big.status == 200 and len(await big.read()) == 5000
            samples = await scrape(rt)
            ep = {"entrypoint": "web", "protocol": "http"}
            assert value(samples, "traefik_entrypoint_requests_total", code="200", method="GET", **ep) == 3
            assert value(samples, "traefik_entrypoint_requests_total", code="404", method="GET", **ep) == 1
            assert value(samples, "traefik_entrypoint_requests_total", code="200", method="POST", **ep) == 1
            assert value(samples, "traefik_entrypoint_requests_bytes_total", code="200", method="POST", **ep) == 10
            assert value(samples, "traefik_entrypoint_responses_bytes_total", code="200", method="PUT", **ep) == 5000
            svc = {"service": "s@file", "protocol": "http"}
            assert value(samples, "traefik_service_requests_total", code="200", method="GET", **svc) == 3
            assert value(samples, "traefik_entrypoint_request_duration_seconds_count", code="200", method="GET",
                         **ep) == 3
            buckets = {dict(labels)["le"] for name, labels in samples
                       if name == "traefik_entrypoint_request_duration_seconds_bucket"}
            assert buckets == {"0.1", "0.3", "1.2", "5.0", "+Inf"}
            # routers are off by default, internal requests (/metrics) are not recorded
            assert "traefik_router_requests_total" not in names(samples)
            assert not any(dict(labels).get("entrypoint") == "traefik" for name, labels in samples
                           if name == "traefik_entrypoint_requests_total")
            assert value(samples, "traefik_config_reloads_total") == 1
            assert (value(samples, "traefik_config_last_reload_success") or 0) > 1e9
            assert (value(samples, "traefik_open_connections", entrypoint="web", protocol="TCP") or 0) >= 0
            assert value(samples, "traefik_open_connections", entrypoint="traefik", protocol="TCP") is not None
            assert not any(name.endswith("_created") for name in names(samples))
    finally:
        await backend.stop()


async def test_router_labels_and_removed_series_after_reload() -> None:
    backend = await Backend.start()
    try:
        config = {"http": {"routers": {"a": {"rule": "PathPrefix(`/a`)", "service": "sa"},
                                       "b": {"rule": "PathPrefix(`/b`)", "service": "sb"}},
                           "services": {"sa": lb(backend.url), "sb": lb(backend.url)}}}
        flags = [*FLAGS, "--metrics.prometheus.addRoutersLabels=true", "--metrics.prometheus.buckets=0.5,2"]
        async with running_app(config, flags=flags, entrypoints=EPS) as rt:
            await rt.get("/a/echo")
            await rt.get("/b/echo")
            samples = await scrape(rt)
            common = {"code": "404", "method": "GET", "protocol": "http"}
            assert value(samples, "traefik_router_requests_total", router="a@file", service="sa@file", **common) == 1
            assert value(samples, "traefik_router_requests_total", router="b@file", service="sb@file", **common) == 1
            assert {dict(labels)["le"] for name, labels in samples
                    if name == "traefik_router_request_duration_seconds_bucket"} == {"0.5", "2.0", "+Inf"}
            await rt.update({"http": {"routers": {"a": {"rule": "PathPrefix(`/a`)", "service": "sa"}},
                                      "services": {"sa": lb(backend.url)}}})
            samples = await scrape(rt)
            assert value(samples, "traefik_router_requests_total", router="a@file", service="sa@file", **common) == 1
            assert not any(dict(labels).get("router") == "b@file" or dict(labels).get("service") == "sb@file"
                           for _, labels in samples)
            # entry point series stay: the entry point still exists
            assert value(samples, "traefik_entrypoint_requests_total", entrypoint="web", **common) == 2
            assert value(samples, "traefik_config_reloads_total") == 2
            # b comes back: its series start again from zero, the entry point keeps counting
            await rt.update(config)
            await rt.get("/b/echo")
            samples = await scrape(rt)
            assert value(samples, "traefik_router_requests_total", router="b@file", service="sb@file", **common) == 1
            assert value(samples, "traefik_entrypoint_requests_total", entrypoint="web", **common) == 3
            assert value(samples, "traefik_entrypoint_request_duration_seconds_count", entrypoint="web",
                         **common) == 3
    finally:
        await backend.stop()


async def test_manual_routing_and_custom_entrypoint() -> None:
    flags = [*FLAGS, "--metrics.prometheus.manualRouting=true"]
    config = {"http": {"routers": {"m": {"rule": "Path(`/stats`)", "service": "prometheus@internal"}}}}
    async with running_app(config, flags=flags, entrypoints=EPS) as rt:
        assert (await rt.get("/metrics", entrypoint="traefik")).status == 404
        resp = await rt.get("/stats")
        assert resp.status == 200
        assert b"traefik_config_reloads_total 1.0" in await resp.read()
    flags = [*FLAGS, "--metrics.prometheus.entryPoint=web"]
    async with running_app({}, flags=flags, entrypoints=("web",)) as rt:
        resp = await rt.get("/metrics")
        assert resp.status == 200
        assert b"# TYPE traefik_entrypoint_requests_total counter" in await resp.read()


async def test_retries_and_server_up() -> None:
    from middlewares import REGISTRY

    backend = await Backend.start()
    try:
        dead = "http://127.0.0.1:1"
        config = {"http": {"routers": {"r": {"rule": "PathPrefix(`/`)", "service": "s", "middlewares": ["retry"]}},
                           "middlewares": {"retry": {"retry": {"attempts": 3}}},
                           "services": {"s": lb(dead)}}}
        async with running_app(config, flags=FLAGS, entrypoints=EPS, middlewares=REGISTRY) as rt:
            assert (await rt.get("/echo")).status == 502
            samples = await scrape(rt)
            assert value(samples, "traefik_service_retries_total", service="s@file") == 2
            metrics = rt.app.metrics
            assert metrics is not None
            metrics.server_status("s@file", dead, False)
            samples = await scrape(rt)
            assert value(samples, "traefik_service_server_up", service="s@file", url=dead) == 0
            await rt.update({"http": {"routers": {"r2": {"rule": "PathPrefix(`/`)", "service": "t"}},
                                      "services": {"t": lb(backend.url)}}})
            samples = await scrape(rt)
            assert value(samples, "traefik_service_retries_total", service="s@file") is None
            assert value(samples, "traefik_service_server_up", service="s@file", url=dead) is None
    finally:
        await backend.stop()


async def test_tls_certificate_expiry() -> None:
    import trustme
    from cryptography import x509

    ca = trustme.CA()
    leaf = ca.issue_cert("site.test", "www.site.test")
    pem = leaf.cert_chain_pems[0].bytes()
    cert = x509.load_pem_x509_certificate(pem)
    config = {"tls": {"certificates": [{"certFile": pem.decode(), "keyFile": leaf.private_key_pem.bytes().decode()}]}}
    async with running_app(config, flags=FLAGS, entrypoints=EPS) as rt:
        samples = await scrape(rt)
    series = {dict(labels)["sans"]: (dict(labels), v) for (name, labels), v in samples.items()
              if name == "traefik_tls_certs_not_after"}
    labels, not_after = series["site.test,www.site.test"]
    assert labels["serial"] == str(cert.serial_number)
    assert not_after == cert.not_valid_after_utc.timestamp()


async def test_grafana_example_uses_exported_metrics() -> None:
    import json
    import re
    from pathlib import Path

    dashboard = json.loads((Path(__file__).parents[2] / "examples/grafana/traefikpy.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"traefik_\w+", e)}
    async with running_app({}, flags=FLAGS, entrypoints=EPS) as rt:
        text = (await (await rt.get("/metrics", entrypoint="traefik")).read()).decode()
    families = set(re.findall(r"^# TYPE (\w+) (\w+)", text, re.M))
    exported = set()
    for name, kind in families:
        suffixes = {"histogram": ["_bucket", "_sum", "_count"]}.get(kind, [""])
        exported.update(name + s for s in suffixes)  # counters are typed with their _total name
    assert used and used <= exported, used - exported


async def test_server_up_follows_active_health_checks() -> None:
    import asyncio

    backend = await Backend.start()
    dead = "http://127.0.0.1:1"
    try:
        service = lb(backend.url, dead, healthCheck={"path": "/echo", "interval": "50ms", "timeout": "500ms"})
        config = {"http": {"routers": {"r": {"rule": "PathPrefix(`/`)", "service": "s"}}, "services": {"s": service}}}
        async with running_app(config, flags=FLAGS, entrypoints=EPS) as rt:
            samples = await scrape(rt)
            assert value(samples, "traefik_service_server_up", service="s@file", url=backend.url) == 1
            for _ in range(100):
                samples = await scrape(rt)
                if value(samples, "traefik_service_server_up", service="s@file", url=dead) == 0:
                    break
                await asyncio.sleep(0.02)
            assert value(samples, "traefik_service_server_up", service="s@file", url=dead) == 0
            assert value(samples, "traefik_service_server_up", service="s@file", url=backend.url) == 1
            await rt.update({"http": {"routers": {"r": {"rule": "PathPrefix(`/`)", "service": "s"}},
                                      "services": {"s": lb(backend.url, healthCheck={"path": "/echo"})}}})
            samples = await scrape(rt)
            assert value(samples, "traefik_service_server_up", service="s@file", url=dead) is None
            assert value(samples, "traefik_service_server_up", service="s@file", url=backend.url) == 1
    finally:
        await backend.stop()
