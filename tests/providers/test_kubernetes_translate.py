"""Table tests of the pure Kubernetes Ingress translation (providers/kubernetes_translate.py):
cluster objects in, the routers/services/certificates Traefik's ``kubernetes`` provider builds out."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from providers.kubernetes_translate import Cluster, Settings, build_host_rule, translate
from tests.providers.k8s_objects import (
    backend,
    endpoint,
    ingress,
    ingress_class,
    path,
    rule,
    service,
    slice_,
    tls_secret,
)
from traefikpy.rules import parse_rule


def cluster(*objs: dict[str, Any]) -> Cluster:
    out = Cluster()
    for obj in objs:
        meta = obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        kind = obj["kind"]
        if kind == "Ingress":
            out.ingresses[key] = obj
        elif kind == "Service":
            out.services[key] = obj
        elif kind == "EndpointSlice":
            out.endpoint_slices[key] = obj
        elif kind == "Secret":
            out.secrets[key] = obj
        elif kind == "IngressClass":
            out.ingress_classes[meta["name"]] = obj
    return out


WEB = service("web", [{"name": "http", "port": 80}])
WEB_EPS = slice_("web-abc", "web", [endpoint("10.0.0.1"), endpoint("10.0.0.2")], [("http", 8080)])


def routes(*objs: dict[str, Any], settings: Settings | None = None) -> dict[str, Any]:
    result = translate(cluster(*objs), settings or Settings())
    dumped: dict[str, Any] = result.config.model_dump(by_alias=True, exclude_defaults=True)
    dumped.setdefault("http", {})
    dumped["warnings"] = result.warnings
    dumped["handled"] = result.handled
    return dumped


def servers(out: dict[str, Any], name: str) -> list[str]:
    return [s["url"] for s in out["http"]["services"][name]["loadBalancer"].get("servers", [])]


@pytest.mark.parametrize(("host", "p", "path_type", "annotations", "settings", "rule_text"), [
    ("a.test", "/", "Prefix", {}, Settings(), "Host(`a.test`) && PathPrefix(`/`)"),
    ("a.test", "/api", "Prefix", {}, Settings(), "Host(`a.test`) && (Path(`/api`) || PathPrefix(`/api/`))"),
    ("a.test", "/api", "Prefix", {}, Settings(strict_prefix_matching=False), "Host(`a.test`) && PathPrefix(`/api`)"),
    ("a.test", "/api/", "Prefix", {}, Settings(strict_prefix_matching=True),
     "Host(`a.test`) && (Path(`/api`) || PathPrefix(`/api/`))"),
    ("a.test", "/", "Prefix", {}, Settings(strict_prefix_matching=True), "Host(`a.test`) && PathPrefix(`/`)"),
    ("a.test", "/exact", "Exact", {}, Settings(), "Host(`a.test`) && Path(`/exact`)"),
    ("a.test", "/impl", "ImplementationSpecific", {}, Settings(), "Host(`a.test`) && PathPrefix(`/impl`)"),
    ("a.test", "/impl", "ImplementationSpecific",
     {"traefik.ingress.kubernetes.io/router.pathmatcher": "PathRegexp"}, Settings(),
     "Host(`a.test`) && PathRegexp(`/impl`)"),
    ("a.test", "/p", "Exact", {"traefik.ingress.kubernetes.io/router.pathmatcher": "PathRegexp"}, Settings(),
     "Host(`a.test`) && Path(`/p`)"),
    ("*.example.com", "/", "Prefix", {}, Settings(),
     r"HostRegexp(`^[a-zA-Z0-9-]+\.example\.com$`) && PathPrefix(`/`)"),
    ("", "/only", "Prefix", {}, Settings(), "(Path(`/only`) || PathPrefix(`/only/`))"),
    ("host-only.test", "", "ImplementationSpecific", {}, Settings(), "Host(`host-only.test`)"),
])
def test_rules(host: str, p: str, path_type: str, annotations: dict[str, str], settings: Settings,
               rule_text: str) -> None:
    ing = ingress("ing", [rule(host, path(p, "web", "http", path_type))], annotations=annotations)
    out = routes(ing, WEB, WEB_EPS, settings=settings)
    (router,) = out["http"]["routers"].values()
    assert router["rule"] == rule_text
    assert router["service"] == "default-web-http"
    parse_rule(rule_text)  # traefikpy's rule parser accepts every generated rule


def test_router_and_service_names_follow_traefik() -> None:
    ing = ingress("my-app", [rule("api.example.com", path("/v1/users", "web", 80), path("/", "web", "http"))],
                  namespace="shop")
    web = service("web", [{"name": "http", "port": 80}], namespace="shop")
    eps = slice_("web-1", "web", [endpoint("10.1.0.1")], [("http", 8080)], namespace="shop")
    out = routes(ing, web, eps)
    assert sorted(out["http"]["routers"]) == ["shop-my-app-api-example-com", "shop-my-app-api-example-com-v1-users"]
    assert sorted(out["http"]["services"]) == ["shop-web-80", "shop-web-http"]
    assert servers(out, "shop-web-80") == ["http://10.1.0.1:8080"]
    assert out["handled"] == [("shop", "my-app")]


def test_same_router_key_gets_rule_hashes() -> None:
    # "/a-b" and "/a/b" normalize to the same key: Traefik appends 10 bytes of sha256(rule) in hex.
    ing = ingress("ing", [rule("a.test", path("/a-b", "web", "http"), path("/a/b", "web", "http"))])
    out = routes(ing, WEB, WEB_EPS)
    expected = set()
    for p in ("/a-b", "/a/b"):
        text = f"Host(`a.test`) && (Path(`{p}`) || PathPrefix(`{p}/`))"
        expected.add("default-ing-a-test-a-b-" + hashlib.sha256(text.encode()).hexdigest()[:20])
    assert set(out["http"]["routers"]) == expected


@pytest.mark.parametrize(("conditions", "urls", "kept"), [
    ({"ready": True}, ["http://10.0.0.9:8080"], True),
    ({}, ["http://10.0.0.9:8080"], True),  # absent conditions are true
    ({"ready": False, "serving": False}, [], False),  # not ready: no server, no service
    ({"ready": False, "serving": True, "terminating": True}, [], True),  # fenced: kept, no new requests
    ({"ready": False, "serving": True}, ["http://10.0.0.9:8080"], True),
])
def test_endpoint_conditions(conditions: dict[str, bool], urls: list[str], kept: bool) -> None:
    eps = slice_("web-x", "web", [{"addresses": ["10.0.0.9"], "conditions": conditions}], [("http", 8080)])
    out = routes(ingress("ing", [rule("a.test", path("/", "web", "http"))]), WEB, eps)
    if kept:
        assert servers(out, "default-web-http") == urls
        assert "default-ing-a-test" in out["http"]["routers"]
    else:
        assert out["http"].get("services", {}) == {}
        assert any("no endpoints found" in w for w in out["warnings"])


def test_endpoints_across_slices_ports_and_families() -> None:
    web = service("web", [{"name": "http", "port": 80}, {"name": "admin", "port": 9000}])
    slices = [
        slice_("web-a", "web", [endpoint("10.0.0.1"), endpoint("10.0.0.2", ready=False, serving=False)],
               [("http", 8080), ("admin", 9090)]),
        slice_("web-b", "web", [endpoint("10.0.0.3"), endpoint("10.0.0.1")], [("http", 8080)]),  # duplicate
        slice_("web-6", "web", [endpoint("fd00::5")], [("http", 8080)], address_type="IPv6"),
        slice_("web-fqdn", "web", [endpoint("pod.example")], [("http", 8080)], address_type="FQDN"),
        slice_("other", "other", [endpoint("10.9.9.9")], [("http", 8080)]),
    ]
    out = routes(ingress("ing", [rule("a.test", path("/", "web", "http"), path("/admin", "web", 9000))]),
                 web, *slices)
    assert servers(out, "default-web-http") == ["http://fd00::5:8080".replace("fd00::5", "[fd00::5]"),
                                                "http://10.0.0.1:8080", "http://10.0.0.3:8080"]
    assert servers(out, "default-web-9000") == ["http://10.0.0.1:9090"]


@pytest.mark.parametrize(("ports", "annotations", "want"), [
    ([{"name": "https", "port": 8443}], {}, "https://10.0.0.1:8443"),
    ([{"name": "https-web", "port": 8443}], {}, "https://10.0.0.1:8443"),
    ([{"name": "web", "port": 443}], {}, "https://10.0.0.1:443"),
    ([{"name": "web", "port": 80}], {"traefik.ingress.kubernetes.io/service.serversscheme": "h2c"},
     "h2c://10.0.0.1:80"),
])
def test_server_scheme(ports: list[dict[str, Any]], annotations: dict[str, str], want: str) -> None:
    port = ports[0]
    svc = service("web", ports, annotations=annotations)
    eps = slice_("web-1", "web", [endpoint("10.0.0.1")], [(port["name"], port["port"])])
    out = routes(ingress("ing", [rule("a.test", path("/", "web", port["port"]))]), svc, eps)
    assert servers(out, f"default-web-{port['port']}") == [want]


def test_external_name_and_native_lb() -> None:
    ext = service("ext", [{"name": "http", "port": 8080}], type_="ExternalName", external_name="backend.example")
    ing = ingress("ing", [rule("a.test", path("/", "ext", "http"))])
    out = routes(ing, ext)
    assert out["http"].get("routers", {}) == {}
    assert any("externalName services not allowed" in w for w in out["warnings"])
    out = routes(ing, ext, settings=Settings(allow_external_name_services=True))
    assert servers(out, "default-ext-http") == ["http://backend.example:8080"]

    native = service("web", [{"name": "http", "port": 80}], cluster_ip="10.96.1.2",
                     annotations={"traefik.ingress.kubernetes.io/service.nativelb": "true"})
    out = routes(ingress("ing", [rule("a.test", path("/", "web", "http"))]), native, WEB_EPS)
    assert servers(out, "default-web-http") == ["http://10.96.1.2:80"]
    out = routes(ingress("ing", [rule("a.test", path("/", "web", "http"))]), WEB, WEB_EPS,
                 settings=Settings(native_lb_by_default=True))
    assert servers(out, "default-web-http") == ["http://10.96.0.10:80"]
    headless = service("web", [{"name": "http", "port": 80}], cluster_ip="None")
    out = routes(ingress("ing", [rule("a.test", path("/", "web", "http"))]), headless, WEB_EPS,
                 settings=Settings(native_lb_by_default=True))
    assert any("headless" in w for w in out["warnings"])


def test_allow_empty_services_and_missing_objects() -> None:
    ing = ingress("ing", [rule("a.test", path("/", "web", "http"), path("/gone", "missing", 80),
                               path("/badport", "web", 81))])
    out = routes(ing, WEB)
    assert out["http"].get("routers", {}) == {}
    warnings = " | ".join(out["warnings"])
    assert "no endpoints found" in warnings and "missing not found" in warnings and "port 81 not found" in warnings
    out = routes(ing, WEB, settings=Settings(allow_empty_services=True))
    assert list(out["http"]["routers"]) == ["default-ing-a-test"]
    assert servers(out, "default-web-http") == []


def test_router_annotations() -> None:
    annotations = {
        "traefik.ingress.kubernetes.io/router.entrypoints": "web, websecure",
        "traefik.ingress.kubernetes.io/router.middlewares": "default-auth@kubernetescrd,auth@file",
        "traefik.ingress.kubernetes.io/router.priority": "42",
        "traefik.ingress.kubernetes.io/router.tls": "true",
        "traefik.ingress.kubernetes.io/router.tls.certresolver": "le",
        "traefik.ingress.kubernetes.io/router.tls.options": "modern@file",
        "traefik.ingress.kubernetes.io/router.tls.domains.0.main": "example.com",
        "traefik.ingress.kubernetes.io/router.tls.domains.0.sans": "a.example.com,b.example.com",
        "traefik.ingress.kubernetes.io/router.tls.domains.1.main": "example.org",
        "unrelated.io/annotation": "ignored",
    }
    out = routes(ingress("ing", [rule("a.test", path("/", "web", "http"))], annotations=annotations), WEB, WEB_EPS)
    router = out["http"]["routers"]["default-ing-a-test"]
    assert router["entryPoints"] == ["web", "websecure"]
    assert router["middlewares"] == ["default-auth@kubernetescrd", "auth@file"]
    assert router["priority"] == 42
    assert router["tls"] == {"certResolver": "le", "options": "modern@file", "domains": [
        {"main": "example.com", "sans": ["a.example.com", "b.example.com"]}, {"main": "example.org"}]}


def test_bad_annotation_skips_the_ingress() -> None:
    bad = {"traefik.ingress.kubernetes.io/router.priority": "high"}
    out = routes(ingress("ing", [rule("a.test", path("/", "web", "http"))], annotations=bad), WEB, WEB_EPS)
    assert out["http"].get("routers", {}) == {}
    assert any("router.priority" in w for w in out["warnings"])


def test_service_annotations() -> None:
    svc = service("web", [{"name": "http", "port": 80}], annotations={
        "traefik.ingress.kubernetes.io/service.sticky.cookie": "true",
        "traefik.ingress.kubernetes.io/service.sticky.cookie.name": "pin",
        "traefik.ingress.kubernetes.io/service.sticky.cookie.secure": "true",
        "traefik.ingress.kubernetes.io/service.sticky.cookie.httponly": "true",
        "traefik.ingress.kubernetes.io/service.sticky.cookie.samesite": "lax",
        "traefik.ingress.kubernetes.io/service.sticky.cookie.maxage": "60",
        "traefik.ingress.kubernetes.io/service.passhostheader": "false",
        "traefik.ingress.kubernetes.io/service.serverstransport": "insecure@file",
    })
    out = routes(ingress("ing", [rule("a.test", path("/", "web", "http"))]), svc, WEB_EPS)
    lb = out["http"]["services"]["default-web-http"]["loadBalancer"]
    assert lb["sticky"] == {"cookie": {"name": "pin", "secure": True, "httpOnly": True, "sameSite": "lax",
                                       "maxAge": 60}}
    assert lb["passHostHeader"] is False
    assert lb["serversTransport"] == "insecure@file"


@pytest.mark.parametrize(("objs", "settings", "handled"), [
    # no class at all: handled when ingressClass is empty ("" == "")
    ([ingress("i", [])], Settings(), True),
    ([ingress("i", [], annotations={"kubernetes.io/ingress.class": "traefik"})], Settings(), True),
    ([ingress("i", [], annotations={"kubernetes.io/ingress.class": "nginx"})], Settings(), False),
    ([ingress("i", [], annotations={"kubernetes.io/ingress.class": "internal"})],
     Settings(ingress_class="internal"), True),
    ([ingress("i", [])], Settings(ingress_class="internal"), False),
    ([ingress("i", [], class_name="mine"), ingress_class("mine")], Settings(), True),
    ([ingress("i", [], class_name="mine"), ingress_class("mine", "traefikpy.io/ingress-controller")],
     Settings(), True),
    ([ingress("i", [], class_name="mine"), ingress_class("mine", "k8s.io/ingress-nginx")], Settings(), False),
    ([ingress("i", [], class_name="mine")], Settings(), False),  # class does not exist
    ([ingress("i", [], class_name="mine"), ingress_class("mine")], Settings(ingress_class="other"), False),
    ([ingress("i", [], class_name="mine"), ingress_class("mine")],
     Settings(disable_ingress_class_lookup=True), False),
    ([ingress("i", []), ingress_class("dflt", default=True)], Settings(ingress_class="dflt"), True),
])
def test_ingress_class_selection(objs: list[dict[str, Any]], settings: Settings, handled: bool) -> None:
    ing = objs[0]
    ing["spec"]["rules"] = [rule("a.test", path("/", "web", "http"))]
    out = routes(*objs, WEB, WEB_EPS, settings=settings)
    assert ("default-ing-a-test" in out["http"].get("routers", {})) is False  # name is ns-ingress-host
    assert ("default-i-a-test" in out["http"].get("routers", {})) is handled


def test_tls_secrets_become_certificates() -> None:
    secret = tls_secret("site-tls", b"-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n",
                        b"-----BEGIN PRIVATE KEY-----\nBBB\n-----END PRIVATE KEY-----\n")
    ing = ingress("ing", [rule("a.test", path("/", "web", "http"))],
                  tls=[{"hosts": ["a.test"], "secretName": "site-tls"}, {"hosts": ["b.test"]}])
    other = ingress("other", [rule("b.test", path("/", "web", "http"))], tls=[{"secretName": "site-tls"}])
    out = routes(ing, other, secret, WEB, WEB_EPS)
    (cert,) = out["tls"]["certificates"]
    assert cert["certFile"].startswith("-----BEGIN CERTIFICATE-----") and "BBB" in cert["keyFile"]
    # TLS sections give certificates only; the router's TLS comes from router.tls (Traefik).
    assert "tls" not in out["http"]["routers"]["default-ing-a-test"]

    missing = ingress("ing", [rule("a.test", path("/", "web", "http"))], tls=[{"secretName": "nope"}])
    out = routes(missing, WEB, WEB_EPS)
    assert "default-ing-a-test" in out["http"]["routers"]  # routes kept, certificate skipped
    assert any("nope does not exist" in w for w in out["warnings"])
    broken = tls_secret("site-tls", b"", b"x")
    broken["data"].pop("tls.key")
    out = routes(ingress("ing", [], tls=[{"secretName": "site-tls"}]), broken)
    assert any("missing the following TLS data entries: tls.key" in w for w in out["warnings"])


def test_default_backend() -> None:
    ing = ingress("fallback", default_backend=backend("web", "http"),
                  annotations={"traefik.ingress.kubernetes.io/router.entrypoints": "web"})
    out = routes(ing, WEB, WEB_EPS)
    assert out["http"]["routers"] == {"default-router": {
        "rule": "PathPrefix(`/`)", "priority": -(2**31), "service": "default-backend", "entryPoints": ["web"]}}
    assert servers(out, "default-backend") == ["http://10.0.0.1:8080", "http://10.0.0.2:8080"]
    assert out["handled"] == []  # no rules: Traefik writes no status
    second = ingress("fallback2", default_backend=backend("web", "http"))
    out = routes(ing, second, WEB, WEB_EPS)
    assert any("default backend already exists" in w for w in out["warnings"])


def test_host_rule_quotes_like_go() -> None:
    assert build_host_rule("*.my-app.example.com") == r"HostRegexp(`^[a-zA-Z0-9-]+\.my-app\.example\.com$`)"
    assert build_host_rule("plain.test") == "Host(`plain.test`)"


@pytest.mark.parametrize(("host", "p", "path_type", "strict", "url", "matches"), [
    ("a.test", "/foo", "Prefix", False, "http://a.test/foobar", True),  # Traefik's default: PathPrefix
    ("a.test", "/foo", "Prefix", True, "http://a.test/foobar", False),  # element-wise (Kubernetes)
    ("a.test", "/foo", "Prefix", True, "http://a.test/foo", True),
    ("a.test", "/foo", "Prefix", True, "http://a.test/foo/", True),
    ("a.test", "/foo/", "Prefix", True, "http://a.test/foo", True),  # trailing slash ignored
    ("a.test", "/foo/bar", "Prefix", True, "http://a.test/foo/bar/baz", True),
    ("a.test", "/foo/bar", "Prefix", True, "http://a.test/foo/barbaz", False),
    ("a.test", "/", "Prefix", True, "http://a.test/anything", True),
    ("a.test", "/foo", "Exact", False, "http://a.test/foo/", False),
    ("*.example.com", "/", "Prefix", False, "http://x.example.com/", True),
    ("*.example.com", "/", "Prefix", False, "http://x.y.example.com/", False),  # one label only
    ("*.example.com", "/", "Prefix", False, "http://example.com/", False),
])
def test_generated_rules_match_like_kubernetes(host: str, p: str, path_type: str, strict: bool, url: str,
                                               matches: bool) -> None:
    from tests.rules.util import req

    ing = ingress("ing", [rule(host, path(p, "web", "http", path_type))])
    result = translate(cluster(ing, WEB, WEB_EPS), Settings(strict_prefix_matching=strict))
    (router,) = result.config.http.routers.values()
    assert parse_rule(router.rule).match(req(url)) is matches
