"""Round trips of a full :class:`DynamicConfig` through every form the decoder reads: labels, KV,
YAML and TOML give back an equal configuration, and their text looks like Traefik's."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from traefikpy.config.decode import (
    ConfigError,
    load_text,
    parse_kv,
    parse_labels,
    to_kv,
    to_labels,
    to_toml,
    to_yaml,
    validate,
)
from traefikpy.config.dynamic import DynamicConfig

# Every section: routers, the five service kinds, middlewares with lists and maps, servers
# transports, tcp, udp and tls.  Plugin options are strings: flat forms carry only text.
FULL: dict[str, Any] = {
    "http": {
        "routers": {
            "Api-Router_V2": {
                "rule": "Host(`api.example.com`) && PathPrefix(`/v2`)",
                "entryPoints": ["web", "websecure"],
                "middlewares": ["auth", "strip"],
                "service": "api",
                "priority": 42,
                "tls": {"certResolver": "le", "domains": [{"main": "example.com", "sans": ["a.example.com", "b.example.com"]}]},
                "observability": {"accessLogs": False, "tracing": True},
            },
            "plain": {"rule": "PathPrefix(`/`)", "service": "canary", "middlewares": [], "tls": {}},
        },
        "services": {
            "api": {"loadBalancer": {
                "servers": [{"url": "http://127.0.0.1:8081", "weight": 3}, {"url": "http://127.0.0.1:8082", "preservePath": True}],
                "strategy": "p2c",
                "sticky": {"cookie": {"name": "lb", "secure": True, "sameSite": "strict", "maxAge": 60}},
                "healthCheck": {"path": "/health", "interval": "1m30s", "timeout": "250ms", "headers": {"X-Check": "1"}},
                "passHostHeader": False,
                "responseForwarding": {"flushInterval": "-1ms"},
                "serversTransport": "internal",
            }},
            "canary": {"weighted": {"services": [{"name": "api", "weight": 9}, {"name": "next", "weight": 1}],
                                    "healthCheck": {}}},
            "next": {"loadBalancer": {"servers": [{"url": "http://127.0.0.1:8083"}]}},
            "mirror": {"mirroring": {"service": "api", "mirrorBody": False,
                                     "mirrors": [{"name": "next", "percent": 10}]}},
            "safe": {"failover": {"service": "api", "fallback": "next", "errors": {"status": ["500-504"]}}},
            "hash": {"highestRandomWeight": {"services": [{"name": "api", "weight": 2}]}},
        },
        "middlewares": {
            "auth": {"basicAuth": {"users": ["test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/"], "removeHeader": True}},
            "strip": {"stripPrefix": {"prefixes": ["/v2", "/api"]}},
            "hdr": {"headers": {
                "customRequestHeaders": {"X-Script-Name": "test", "X-Remove-Me": ""},
                "customResponseHeaders": {"X-Custom-Response-Header": "value"},
                "accessControlAllowMethods": ["GET", "OPTIONS", "PUT"],
                # an item with a comma cannot be a comma-separated label: written indexed
                "accessControlAllowOriginListRegex": ["https://(a|b){1,3}\\.example\\.com"],
                "stsSeconds": 31536000,
            }},
            "errs": {"errors": {"status": ["500-599", "404"], "service": "api", "query": "/{status}.html",
                                "statusRewrites": {"500-599": 500}}},
            "limit": {"rateLimit": {"average": 100, "period": "1m", "burst": 50,
                                    "sourceCriterion": {"ipStrategy": {"depth": 2, "excludedIPs": ["127.0.0.1/32"]}}}},
            "allow": {"ipAllowList": {"sourceRange": ["127.0.0.1/32", "::1/128"], "ipStrategy": {}}},
            "grpc": {"grpcWeb": {}},
            "retry": {"retry": {"attempts": 4, "initialInterval": "100ms"}},
            "chain": {"chain": {"middlewares": ["auth", "hdr"]}},
            "plug": {"plugin": {"myPlugin": {"Headers": {"X-Demo": "test"}, "answer": "42", "list": ["a", "b"]}}},
        },
        "serversTransports": {
            "internal": {
                "serverName": "backend.local",
                "insecureSkipVerify": True,
                "rootCAs": ["/etc/ca.pem"],
                "certificates": [{"certFile": "/c.pem", "keyFile": "/k.pem"}],
                "maxIdleConnsPerHost": 7,
                "forwardingTimeouts": {"dialTimeout": "2s", "idleConnTimeout": "1h"},
                "disableHTTP2": True,
                "peerCertURI": "spiffe://x",
            },
        },
    },
    "tcp": {
        "routers": {
            "db": {"rule": "HostSNI(`db.example.com`)", "entryPoints": ["pg"], "service": "db",
                   "middlewares": ["conns"], "tls": {"passthrough": True}},
        },
        "services": {
            "db": {"loadBalancer": {"servers": [{"address": "127.0.0.1:5432", "tls": True}], "serversTransport": "t"}},
            "both": {"weighted": {"services": [{"name": "db", "weight": 1}]}},
        },
        "middlewares": {"conns": {"inFlightConn": {"amount": 10}}, "ips": {"ipAllowList": {"sourceRange": ["127.0.0.1/32"]}}},
        "serversTransports": {"t": {"dialTimeout": "5s", "proxyProtocol": {}, "tls": {"serverName": "db"}}},
    },
    "udp": {
        "routers": {"dns": {"entryPoints": ["dns"], "service": "dns"}},
        "services": {
            "dns": {"loadBalancer": {"servers": [{"address": "127.0.0.1:5353"}]}},
            "w": {"weighted": {"services": [{"name": "dns", "weight": 2}]}},
        },
    },
    "tls": {
        "certificates": [{"certFile": "/certs/a.pem", "keyFile": "/certs/a.key", "stores": ["default"]}],
        "options": {
            "default": {"minVersion": "VersionTLS12", "sniStrict": True,
                        "cipherSuites": ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"],
                        "clientAuth": {"caFiles": ["/ca.pem"], "clientAuthType": "RequireAndVerifyClientCert"}},
            "modern": {"minVersion": "VersionTLS13", "alpnProtocols": []},
        },
        "stores": {"default": {"defaultGeneratedCert": {"resolver": "le", "domain": {"main": "example.com"}}}},
    },
}


@pytest.fixture(scope="module")
def full() -> DynamicConfig:
    return DynamicConfig.of(**copy.deepcopy(FULL))


def _via_labels(cfg: DynamicConfig) -> DynamicConfig:
    return validate(DynamicConfig, parse_labels(to_labels(cfg), DynamicConfig), source="label")


def _via_kv(cfg: DynamicConfig) -> DynamicConfig:
    return validate(DynamicConfig, parse_kv(to_kv(cfg), DynamicConfig), source="kv")


def _via_yaml(cfg: DynamicConfig) -> DynamicConfig:
    data, locator = load_text(to_yaml(cfg), "yaml", "rt.yml")
    return validate(DynamicConfig, data, source="rt.yml", locator=locator)


def _via_toml(cfg: DynamicConfig) -> DynamicConfig:
    data, locator = load_text(to_toml(cfg), "toml", "rt.toml")
    return validate(DynamicConfig, data, source="rt.toml", locator=locator)


FORMS: list[tuple[str, Callable[[DynamicConfig], DynamicConfig]]] = [
    ("labels", _via_labels), ("kv", _via_kv), ("yaml", _via_yaml), ("toml", _via_toml),
]


@pytest.mark.parametrize("form,trip", FORMS, ids=[f for f, _ in FORMS])
def test_full_config_round_trips(full: DynamicConfig, form: str, trip: Callable[[DynamicConfig], DynamicConfig]) -> None:
    back = trip(full)
    assert back == full
    assert trip(back) == full  # and stays stable


EDGE_CASES: list[dict[str, Any]] = [
    {"desc": "empty configuration", "cfg": {}},
    {"desc": "empty sections", "cfg": {"http": {}, "tcp": {"routers": {}}}},
    {"desc": "explicit empty lists", "cfg": {"http": {"routers": {"r": {"entryPoints": [], "middlewares": []}}}}},
    {"desc": "list item with spaces and an empty item",
     "cfg": {"http": {"middlewares": {"s": {"stripPrefix": {"prefixes": [" /a", ""]}}}}}},
    {"desc": "names keep their case", "cfg": {"http": {"routers": {"UPPER-lower_Mixed": {"rule": "x"}, "upper-lower_mixed": {"rule": "y"}}}}},
    {"desc": "empty header value", "cfg": {"http": {"middlewares": {"h": {"headers": {"customResponseHeaders": {"Server": ""}}}}}}},
    {"desc": "durations", "cfg": {"http": {"serversTransports": {"t": {"forwardingTimeouts": {
        "dialTimeout": "0s", "responseHeaderTimeout": "1h2m3s", "pingTimeout": "1.5s", "readIdleTimeout": "10ms"}}}}}},
]


@pytest.mark.parametrize("case", EDGE_CASES, ids=[c["desc"] for c in EDGE_CASES])
@pytest.mark.parametrize("form,trip", FORMS, ids=[f for f, _ in FORMS])
def test_edge_cases_round_trip(case: dict[str, Any], form: str, trip: Callable[[DynamicConfig], DynamicConfig]) -> None:
    cfg = DynamicConfig.of(**copy.deepcopy(case["cfg"]))
    assert trip(cfg) == cfg


def test_label_text_looks_like_traefiks(full: DynamicConfig) -> None:
    labels = to_labels(full)
    assert labels["traefik.http.routers.Api-Router_V2.entryPoints"] == "web,websecure"
    assert labels["traefik.http.routers.Api-Router_V2.tls.domains[0].sans"] == "a.example.com,b.example.com"
    assert labels["traefik.http.routers.plain.tls"] == "true"
    assert labels["traefik.http.routers.plain.middlewares"] == ""
    assert labels["traefik.http.services.api.loadBalancer.servers[1].url"] == "http://127.0.0.1:8082"
    assert labels["traefik.http.services.api.loadBalancer.passHostHeader"] == "false"
    assert labels["traefik.http.services.api.loadBalancer.healthCheck.interval"] == "1m30s"
    assert labels["traefik.http.middlewares.hdr.headers.customRequestHeaders.X-Remove-Me"] == ""
    assert labels["traefik.http.middlewares.hdr.headers.accessControlAllowOriginListRegex[0]"] == (
        "https://(a|b){1,3}\\.example\\.com")
    assert labels["traefik.http.middlewares.plug.plugin.myPlugin.list[1]"] == "b"
    assert labels["traefik.tcp.serversTransports.t.proxyProtocol"] == "true"


def test_kv_text_looks_like_traefiks(full: DynamicConfig) -> None:
    kv = to_kv(full)
    assert kv["traefik/http/routers/Api-Router_V2/entryPoints/0"] == "web"
    assert kv["traefik/http/routers/Api-Router_V2/entryPoints/1"] == "websecure"
    assert kv["traefik/http/services/api/loadBalancer/servers/0/weight"] == "3"
    assert kv["traefik/tls/certificates/0/stores/0"] == "default"
    assert kv["traefik/http/routers/plain/middlewares"] == ""


def test_lowercase_traefik_labels_decode() -> None:
    """Labels as Traefik's documentation writes them (lower-case field names)."""
    labels = {
        "traefik.enable": "true",
        "traefik.http.routers.myrouter.rule": "Host(`example.com`)",
        "traefik.http.routers.myrouter.entrypoints": "ep1,ep2",
        "traefik.http.routers.myrouter.middlewares": "auth,prefix",
        "traefik.http.routers.myrouter.tls.certresolver": "myresolver",
        "traefik.http.routers.myrouter.tls.domains[0].main": "example.org",
        "traefik.http.routers.myrouter.tls.domains[0].sans": "test.example.org,dev.example.org",
        "traefik.http.services.myservice.loadbalancer.sticky.cookie.httponly": "true",
        "traefik.http.services.myservice.loadbalancer.healthcheck.interval": "10",
        "traefik.http.middlewares.auth.basicauth.users": "a:x,b:y",
        "traefik.http.middlewares.prefix.stripprefix.prefixes": "/foo,/bar",
        "traefik.tcp.routers.t.tls.passthrough": "true",
        "traefik.udp.services.u.loadbalancer.servers[0].address": "127.0.0.1:53",
        "traefik.tls.stores.default.defaultgeneratedcert.resolver": "myresolver",
    }
    cfg = validate(DynamicConfig, parse_labels(labels, DynamicConfig), source="label")
    router = cfg.http.routers["myrouter"]
    assert router.entry_points == ["ep1", "ep2"] and router.tls is not None
    assert router.tls.domains[0].sans == ["test.example.org", "dev.example.org"]
    lb = cfg.http.services["myservice"].load_balancer
    assert lb is not None and lb.health_check is not None and lb.health_check.interval == 10.0
    assert lb.sticky is not None and lb.sticky.cookie is not None and lb.sticky.cookie.http_only
    assert cfg.http.middlewares["auth"].basic_auth is not None
    assert cfg.http.middlewares["auth"].basic_auth.users == ["a:x", "b:y"]
    assert cfg.tcp.routers["t"].tls is not None and cfg.tcp.routers["t"].tls.passthrough
    assert cfg.tls.stores["default"].default_generated_cert is not None


def test_yaml_plugin_options_keep_their_types() -> None:
    cfg = DynamicConfig.of(http={"middlewares": {"p": {"plugin": {"demo": {"n": 3, "on": True, "l": [1, "x"], "m": {"k": 1.5}}}}}})
    assert _via_yaml(cfg) == cfg
    assert _via_toml(cfg) == cfg
    # flat forms carry text only (as Traefik's label and KV decoders do)
    flat = _via_labels(cfg).http.middlewares["p"].plugin
    assert flat == {"demo": {"n": "3", "on": "true", "l": ["1", "x"], "m": {"k": "1.5"}}}


@pytest.mark.parametrize("form,separator,encode", [("label", ".", to_labels), ("kv", "/", to_kv)])
def test_names_that_cannot_be_flat_keys(form: str, separator: str, encode: Callable[[DynamicConfig], Any]) -> None:
    """A router name with a dot cannot be a label (a slash cannot be a KV key): said, not mangled."""
    cfg = DynamicConfig.of(http={"routers": {f"my{separator}router": {"rule": "x"}}})
    with pytest.raises(ConfigError) as exc:
        encode(cfg)
    [problem] = exc.value.problems
    assert problem.source == form and separator in problem.message
