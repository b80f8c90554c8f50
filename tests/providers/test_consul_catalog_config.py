"""Consul Catalog translation (providers.consul_catalog_config): tags, health, names → one snapshot.

Addresses are documentation ranges (192.0.2.0/24): these tests never connect.
"""

from __future__ import annotations

from typing import Any

import pytest

from providers.consul_catalog_config import (
    CatalogSettings,
    CatalogTranslator,
    Item,
    aggregated_status,
    fnv1_64,
    items_from_health,
    service_names,
    tags_to_labels,
)
from traefikpy.config.base import dump

TAGS = [
    {"desc": "default prefix", "tags": ["traefik.http.routers.r.rule=Host(`a`)"], "prefix": "traefik",
     "labels": {"traefik.http.routers.r.rule": "Host(`a`)"}},
    {"desc": "custom prefix becomes traefik", "tags": ["edge.http.routers.r.rule=Host(`a`)", "edge.enable=true"],
     "prefix": "edge", "labels": {"traefik.http.routers.r.rule": "Host(`a`)", "traefik.enable": "true"}},
    {"desc": "other prefixes and bare tags are ignored", "tags": ["web", "traefik.tags", "other.x=1"], "prefix": "traefik",
     "labels": {}},
    {"desc": "only the first = splits", "tags": ["traefik.http.middlewares.m.headers.customrequestheaders.X=a=b"],
     "prefix": "traefik", "labels": {"traefik.http.middlewares.m.headers.customrequestheaders.X": "a=b"}},
]


@pytest.mark.parametrize("case", TAGS, ids=[c["desc"] for c in TAGS])
def test_tags_to_labels(case: dict[str, Any]) -> None:
    assert tags_to_labels(case["tags"], case["prefix"]) == case["labels"]


STATUS = [
    {"desc": "no checks is passing", "checks": [], "want": "passing"},
    {"desc": "all passing", "checks": [{"CheckID": "serfHealth", "Status": "passing"}, {"CheckID": "s", "Status": "passing"}],
     "want": "passing"},
    {"desc": "warning wins over passing", "checks": [{"CheckID": "a", "Status": "passing"}, {"CheckID": "b", "Status": "warning"}],
     "want": "warning"},
    {"desc": "critical wins over warning", "checks": [{"CheckID": "a", "Status": "critical"}, {"CheckID": "b", "Status": "warning"}],
     "want": "critical"},
    {"desc": "node maintenance wins", "checks": [{"CheckID": "_node_maintenance", "Status": "critical"},
                                                {"CheckID": "a", "Status": "passing"}], "want": "maintenance"},
    {"desc": "service maintenance", "checks": [{"CheckID": "_service_maintenance:web-1", "Status": "critical"}],
     "want": "maintenance"},
    {"desc": "unknown status", "checks": [{"CheckID": "a", "Status": "odd"}], "want": ""},
]


@pytest.mark.parametrize("case", STATUS, ids=[c["desc"] for c in STATUS])
def test_aggregated_status(case: dict[str, Any]) -> None:
    assert aggregated_status(case["checks"]) == case["want"]


def test_fnv1_64_is_go_hash_fnv_new64() -> None:
    assert fnv1_64(b"") == 0xCBF29CE484222325
    assert fnv1_64(b"a") == 0xAF63BD4C8601B7BE  # FNV-1 (FNV-1a would be 0xaf63dc4c8601ec8c)


NAMES = [
    {"desc": "exposed by default", "settings": CatalogSettings(), "want": ["api", "web"]},
    {"desc": "enable=false hides (any case)", "catalog": {"web": ["traefik.enable=False"], "api": []},
     "settings": CatalogSettings(), "want": ["api"]},
    {"desc": "not exposed by default needs enable=true", "settings": CatalogSettings(exposed_by_default=False),
     "want": ["web"]},
    {"desc": "constraints on the union of tags", "settings": CatalogSettings(constraints="Tag(`public`)"),
     "want": ["web"]},
    {"desc": "custom prefix", "catalog": {"web": ["edge.enable=true"], "api": ["traefik.enable=true"]},
     "settings": CatalogSettings(prefix="edge", exposed_by_default=False), "want": ["web"]},
]


@pytest.mark.parametrize("case", NAMES, ids=[c["desc"] for c in NAMES])
def test_service_names(case: dict[str, Any]) -> None:
    catalog = case.get("catalog", {"web": ["traefik.enable=true", "public"], "api": ["private"]})
    assert service_names(catalog, case["settings"]) == case["want"]


def item(name: str = "web", iid: str = "web-1", **kw: Any) -> Item:
    tags = tuple(kw.pop("tags", ()))
    kw.setdefault("address", "192.0.2.10")
    kw.setdefault("port", "8080")
    kw.setdefault("status", "passing")
    return Item(id=iid, name=name, node=kw.pop("node", "n1"), tags=tags, labels=tags_to_labels(tags), **kw)


def lb(*urls: str) -> dict[str, Any]:
    return {"loadBalancer": {"servers": [{"url": u} for u in urls]}} if urls else {"loadBalancer": {}}


CANARY = f"web-{fnv1_64(b'traefik.consulcatalog.canary=truev2')}"

CASES: list[dict[str, Any]] = [
    {"desc": "no tags: router and service named after the Consul service",
     "items": [item("My_Web")],
     "http": {"routers": {"My-Web": {"rule": "Host(`My-Web`)", "service": "My-Web"}},
              "services": {"My-Web": lb("http://192.0.2.10:8080")}}},
    {"desc": "defaultRule sees the Consul name as registered",
     "settings": CatalogSettings(default_rule="Host(`{{ .Name }}.example.com`)"),
     "items": [item("my.web")],
     "http": {"routers": {"my-web": {"rule": "Host(`my.web.example.com`)", "service": "my-web"}},
              "services": {"my-web": lb("http://192.0.2.10:8080")}}},
    {"desc": "instances of one service join one load balancer",
     "items": [item(iid="web-1"), item(iid="web-2", address="192.0.2.11")],
     "http": {"routers": {"web": {"rule": "Host(`web`)", "service": "web"}},
              "services": {"web": lb("http://192.0.2.10:8080", "http://192.0.2.11:8080")}}},
    {"desc": "tags define the router; port label overrides the registered port",
     "items": [item(tags=["traefik.http.routers.r.rule=PathPrefix(`/api`)",
                          "traefik.http.services.s.loadbalancer.server.port=9000"])],
     "http": {"routers": {"r": {"rule": "PathPrefix(`/api`)", "service": "s"}},
              "services": {"s": lb("http://192.0.2.10:9000")}}},
    {"desc": "strictChecks default passes warning, not critical",
     "items": [item("a", "a1", status="warning"), item("b", "b1", status="critical"), item("c", "c1", status="maintenance")],
     "http": {"routers": {"a": {"rule": "Host(`a`)", "service": "a"}}, "services": {"a": lb("http://192.0.2.10:8080")}}},
    {"desc": "strictChecks passing only",
     "settings": CatalogSettings(strict_checks=("passing",)),
     "items": [item("a", "a1", status="warning"), item("b", "b1")],
     "http": {"routers": {"b": {"rule": "Host(`b`)", "service": "b"}}, "services": {"b": lb("http://192.0.2.10:8080")}}},
    {"desc": "enable=false on an instance",
     "items": [item(tags=["traefik.enable=false"])], "http": {"routers": {}, "services": {}}},
    {"desc": "constraints on an instance's tags",
     "settings": CatalogSettings(constraints="TagRegex(`^zone-(a|b)$`)"),
     "items": [item("a", "a1", tags=["zone-a"]), item("c", "c1", tags=["zone-c"])],
     "http": {"routers": {"a": {"rule": "Host(`a`)", "service": "a"}}, "services": {"a": lb("http://192.0.2.10:8080")}}},
    {"desc": "a canary instance gets its own router and service, named with the hash of its sorted tags",
     "items": [item(iid="web-1", tags=["v1"]),
               item(iid="web-2", address="192.0.2.11", tags=["v2", "traefik.consulcatalog.canary=true"])],
     "http": {"routers": {"web": {"rule": "Host(`web`)", "service": "web"}, CANARY: {"rule": "Host(`web`)", "service": CANARY}},
              "services": {"web": lb("http://192.0.2.10:8080"), CANARY: lb("http://192.0.2.11:8080")}}},
    {"desc": "connect instances are skipped (Connect is not supported)",
     "items": [item(tags=["traefik.consulcatalog.connect=true"])], "http": {"routers": {}, "services": {}}},
    {"desc": "TCP service from tags",
     "items": [item("db", "db1", port="5432", tags=["traefik.tcp.routers.db.rule=HostSNI(`*`)"])],
     "http": {"routers": {}, "services": {}},
     "tcp": {"routers": {"db": {"rule": "HostSNI(`*`)", "service": "db"}},
             "services": {"db": {"loadBalancer": {"servers": [{"address": "192.0.2.10:5432"}]}}}}},
]


def section(config: Any, name: str) -> dict[str, Any]:
    data = dump(config).get(name, {})
    return {k: data.get(k, {}) for k in ("routers", "services")}


@pytest.mark.parametrize("case", CASES, ids=[c["desc"] for c in CASES])
def test_translation(case: dict[str, Any]) -> None:
    snapshot = CatalogTranslator(case.get("settings", CatalogSettings())).build(case["items"])
    assert dict(snapshot.errors) == {}
    for name in ("http", "tcp"):
        if name not in case:
            continue
        assert section(snapshot.config, name) == case[name], name


PROBLEMS = [
    {"desc": "unknown consulcatalog option", "tags": ["traefik.consulcatalog.conect=true"], "msg": "unknown Consul Catalog option"},
    {"desc": "no address", "address": "", "msg": "address is missing"},
    {"desc": "no port", "port": "", "msg": "port is missing"},
    {"desc": "bad routing key", "tags": ["traefik.http.routers.r.rul=x"], "msg": "unknown key"},
]


@pytest.mark.parametrize("case", PROBLEMS, ids=[c["desc"] for c in PROBLEMS])
def test_problem_skips_the_instance(case: dict[str, Any]) -> None:
    kw = {k: case[k] for k in ("address", "port") if k in case}
    bad = item("bad", "bad-1", tags=case.get("tags", ()), **kw)
    snapshot = CatalogTranslator(CatalogSettings()).build([bad, item("good", "good-1")])
    assert set(snapshot.config.http.routers) == {"good"}
    assert set(snapshot.errors) == {"service.n1-bad-bad-1"}
    assert any(case["msg"] in m for m in snapshot.errors["service.n1-bad-bad-1"])


def test_items_from_health_entries() -> None:
    entries = [{
        "Node": {"Node": "n1", "Address": "192.0.2.1", "Datacenter": "dc1"},
        "Service": {"ID": "web-1", "Service": "web", "Tags": ["traefik.enable=true", "x"], "Address": "", "Port": 80,
                    "Namespace": "team"},
        "Checks": [{"CheckID": "serfHealth", "Status": "passing"}, {"CheckID": "service:web-1", "Status": "warning"}],
    }]
    (got,) = items_from_health(entries)
    assert got == Item(id="web-1", name="web", node="n1", address="192.0.2.1", port="80", status="warning",
                       tags=("traefik.enable=true", "x"), labels={"traefik.enable": "true"}, namespace="team",
                       datacenter="dc1")


def test_bad_settings_fail_at_start() -> None:
    with pytest.raises(ValueError, match="strictChecks"):
        CatalogTranslator(CatalogSettings(strict_checks=("passing", "ok")))
    with pytest.raises(ValueError, match="takes 1 argument"):
        CatalogTranslator(CatalogSettings(constraints="Tag(`a`, `b`)"))


def test_from_static_options() -> None:
    from providers.consul_catalog import all_from_static, from_static
    from traefikpy.config.sources import load_static

    static = load_static([
        "--providers.consulCatalog.endpoint.address=http://127.0.0.1:8501", "--providers.consulCatalog.prefix=edge",
        "--providers.consulCatalog.exposedByDefault=false", "--providers.consulCatalog.watch=true",
        "--providers.consulCatalog.refreshInterval=2s", "--providers.consulCatalog.strictChecks=passing",
        "--providers.consulCatalog.stale=true", "--providers.consulCatalog.endpoint.endpointWaitTime=10s",
    ], {}, search=False)
    cfg = static.providers.consul_catalog
    assert cfg is not None
    provider = from_static(cfg)
    assert (provider.name, provider.scheme, provider.host, provider.port) == ("consulcatalog", "http", "127.0.0.1", 8501)
    assert (provider.watch_changes, provider.refresh_interval, provider.wait, provider.consistency) == (True, 2.0, 10.0, "stale")
    assert provider.settings.prefix == "edge" and provider.settings.strict_checks == ("passing",)
    several = load_static(["--providers.consulCatalog.namespaces=a,b"], {}, search=False).providers.consul_catalog
    assert several is not None
    assert [p.name for p in all_from_static(several)] == ["consulcatalog-a", "consulcatalog-b"]
    with pytest.raises(ValueError, match="several namespaces"):
        from_static(several)
