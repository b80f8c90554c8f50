"""Dynamic configuration models: Traefik's key names, defaults and validation messages."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, get_args, get_origin

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from traefikpy.config import docgen
from traefikpy.config.base import dump
from traefikpy.config.dynamic import DynamicConfig

# Every key of every dynamic model, in Traefik's spelling (test_full_example_sets_every_key keeps
# this honest): a document a Traefik v3 file provider would accept.
FULL_YAML = """
http:
  routers:
    web:
      entryPoints: [web, websecure]
      middlewares: [auth, compress]
      service: app
      rule: Host(`example.com`) && PathPrefix(`/api`)
      ruleSyntax: v3
      priority: 42
      tls:
        options: modern
        certResolver: le
        domains:
          - main: example.com
            sans: [www.example.com]
      observability:
        accessLogs: false
        metrics: true
        tracing: true
        traceVerbosity: detailed
      parentRefs: [parent]
  services:
    app:
      loadBalancer:
        servers:
          - url: http://10.0.0.1:8080
            weight: 3
            preservePath: true
        strategy: P2C
        sticky:
          cookie: {name: lb, secure: true, httpOnly: true, sameSite: lax, maxAge: 60, path: /app, domain: example.com}
        healthCheck:
          scheme: https
          mode: grpc
          path: /health
          method: HEAD
          status: 204
          port: 8081
          interval: 10s
          unhealthyInterval: 2s
          timeout: 3s
          hostname: app.internal
          followRedirects: false
          headers: {X-Check: "1"}
        passiveHealthCheck: {failureWindow: 30s, maxFailedAttempts: 3}
        passHostHeader: false
        responseForwarding: {flushInterval: 1s}
        serversTransport: tight
    canary:
      weighted:
        services: [{name: app, weight: 9}, {name: app2, weight: 1}]
        sticky:
          cookie: {name: w, secure: true, httpOnly: true, sameSite: strict, maxAge: 0, path: /, domain: example.com}
        healthCheck: {}
    mirror:
      mirroring:
        service: app
        mirrorBody: false
        maxBodySize: 1024
        mirrors: [{name: shadow, percent: 10}]
        healthCheck: {}
    backup:
      failover:
        service: app
        fallback: sorry
        healthCheck: {}
        errors: {status: ["500-504"], maxRequestBodyBytes: 1048576}
    hashed:
      highestRandomWeight:
        services: [{name: app, weight: 2}]
        healthCheck: {}
  middlewares:
    add: {addPrefix: {prefix: /v1}}
    basic:
      basicAuth: {users: ["u:$apr1$x$y"], usersFile: /etc/users, realm: r, removeHeader: true, headerField: X-User}
    buffer:
      buffering:
        maxRequestBodyBytes: 10
        memRequestBodyBytes: 20
        maxResponseBodyBytes: 30
        memResponseBodyBytes: 40
        retryExpression: IsNetworkError() && Attempts() < 2
    cached:
      cache:
        maxAge: 5m
        keepStale: 1h
        maxSize: 1000000
        maxEntrySize: 1000
        store: Redis
        redis: {endpoints: ["127.0.0.1:6379"], username: u, password: pw, db: 2, dialTimeout: 2s, readTimeout: 500ms}
        allowPurge: true
        purgeSourceRange: [127.0.0.1/32]
        disableCacheStatusHeader: true
    chained: {chain: {middlewares: [add, basic]}}
    breaker:
      circuitBreaker:
        expression: NetworkErrorRatio() > 0.5
        checkPeriod: 1s
        fallbackDuration: 20s
        recoveryDuration: 30s
        responseCode: 502
    compress:
      compress:
        excludedContentTypes: [text/event-stream]
        includedContentTypes: [text/html]
        minResponseBodyBytes: 2048
        encodings: [zstd, gzip]
        defaultEncoding: gzip
    ctype: {contentType: {autoDetect: true}}
    digest:
      digestAuth: {users: ["u:r:h"], usersFile: /etc/digest, removeHeader: true, realm: r, headerField: X-User}
    encoded:
      encodedCharacters:
        allowEncodedSlash: true
        allowEncodedBackSlash: true
        allowEncodedNullCharacter: true
        allowEncodedSemicolon: true
        allowEncodedPercent: true
        allowEncodedQuestionMark: true
        allowEncodedHash: true
    oops:
      errors: {status: ["500-599", 404], statusRewrites: {"418": 404}, service: pages, query: "/{status}.html", errorRequestHeaders: [X-Request-Id]}
    auth:
      forwardAuth:
        address: https://auth.internal/verify
        tls: {ca: /ca.pem, cert: /c.pem, key: /k.pem, insecureSkipVerify: true, caOptional: true}
        trustForwardHeader: true
        authResponseHeaders: [X-User]
        authResponseHeadersRegex: ^X-Auth-
        authRequestHeaders: [Cookie]
        addAuthCookiesToResponse: [session]
        headerField: X-Auth-User
        forwardBody: true
        maxBodySize: 4096
        preserveLocationHeader: true
        preserveRequestMethod: true
    grpc: {grpcWeb: {allowOrigins: ["*"]}}
    secure:
      headers:
        customRequestHeaders: {X-Script-Name: test, X-Drop: ""}
        customResponseHeaders: {X-Served-By: traefikpy}
        accessControlAllowCredentials: true
        accessControlAllowHeaders: ["*"]
        accessControlAllowMethods: [GET, OPTIONS]
        accessControlAllowOriginList: [https://example.org]
        accessControlAllowOriginListRegex: ["https://.*\\\\.example\\\\.org"]
        accessControlExposeHeaders: [X-Total]
        accessControlMaxAge: 100
        addVaryHeader: true
        allowedHosts: [example.com]
        hostsProxyHeaders: [X-Forwarded-Host]
        sslProxyHeaders: {X-Forwarded-Proto: https}
        stsSeconds: 31536000
        stsIncludeSubdomains: true
        stsPreload: true
        forceSTSHeader: true
        frameDeny: true
        customFrameOptionsValue: SAMEORIGIN
        contentTypeNosniff: true
        browserXssFilter: true
        customBrowserXSSValue: "0"
        contentSecurityPolicy: default-src 'self'
        contentSecurityPolicyReportOnly: default-src 'none'
        publicKey: pin-sha256="x"
        referrerPolicy: no-referrer
        permissionsPolicy: camera=()
        isDevelopment: true
        featurePolicy: camera 'none'
        sslRedirect: true
        sslTemporaryRedirect: true
        sslHost: example.com
        sslForceHost: true
    allow:
      ipAllowList:
        sourceRange: [10.0.0.0/8]
        ipStrategy: {depth: 2, excludedIPs: [10.0.0.1], ipv6Subnet: 64}
        rejectStatusCode: 404
    white: {ipWhiteList: {sourceRange: [10.0.0.0/8], ipStrategy: {depth: 1, excludedIPs: [10.0.0.1], ipv6Subnet: 48}}}
    inflight:
      inFlightReq:
        amount: 10
        sourceCriterion: {ipStrategy: {depth: 1, excludedIPs: [10.0.0.1], ipv6Subnet: 64}}
    inflightbyheader: {inFlightReq: {amount: 10, sourceCriterion: {requestHeaderName: X-Tenant}}}
    inflightbyhost: {inFlightReq: {amount: 10, sourceCriterion: {requestHost: true}}}
    certs:
      passTLSClientCert:
        pem: true
        info:
          notAfter: true
          notBefore: true
          sans: true
          serialNumber: true
          subject:
            country: true
            province: true
            locality: true
            organization: true
            organizationalUnit: true
            commonName: true
            serialNumber: true
            domainComponent: true
          issuer:
            country: true
            province: true
            locality: true
            organization: true
            commonName: true
            serialNumber: true
            domainComponent: true
    plug: {plugin: {demo: {headers: {X-Demo: "1"}, enabled: true}}}
    limit:
      rateLimit:
        average: 100
        period: 1m
        burst: 200
        sourceCriterion: {requestHost: true}
        redis:
          endpoints: ["127.0.0.1:6379"]
          tls: {ca: /ca.pem, cert: /c.pem, key: /k.pem, insecureSkipVerify: true}
          username: u
          password: p
          db: 1
          poolSize: 5
          minIdleConns: 1
          maxActiveConns: 9
          readTimeout: 1s
          writeTimeout: 2s
          dialTimeout: 3s
          denyOnError: false
    limitbyip: {rateLimit: {average: 5, sourceCriterion: {ipStrategy: {depth: 1, excludedIPs: [10.0.0.1], ipv6Subnet: 56}}}}
    limitbyheader: {rateLimit: {average: 5, sourceCriterion: {requestHeaderName: X-Api-Key}}}
    toregex: {redirectRegex: {regex: "^http://(.*)", replacement: "https://${1}", permanent: true}}
    tohttps: {redirectScheme: {scheme: https, port: 443, permanent: true}}
    replace: {replacePath: {path: /new}}
    rewrite: {replacePathRegex: {regex: ^/old/(.*), replacement: /new/$1}}
    again:
      retry:
        attempts: 4
        initialInterval: 100ms
        timeout: 60s
        maxRequestBodyBytes: 1024
        status: ["500-599"]
        disableRetryOnNetworkError: true
        retryNonIdempotentMethod: true
    strip: {stripPrefix: {prefixes: [/api], forceSlash: false}}
    stripre: {stripPrefixRegex: {regex: ["/v[0-9]+"]}}
  serversTransports:
    tight:
      serverName: app.internal
      insecureSkipVerify: true
      rootCAs: [/ca.pem]
      certificates: [{certFile: /c.pem, keyFile: /k.pem}]
      cipherSuites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]
      minVersion: VersionTLS12
      maxVersion: VersionTLS13
      maxIdleConnsPerHost: 7
      forwardingTimeouts:
        dialTimeout: 1s
        responseHeaderTimeout: 2s
        idleConnTimeout: 3s
        readIdleTimeout: 4s
        pingTimeout: 5s
      disableHTTP2: true
      peerCertURI: spiffe://example.org/app
      spiffe: {ids: ["spiffe://example.org/app"], trustDomain: example.org}
tcp:
  routers:
    db:
      entryPoints: [pg]
      middlewares: [tcpallow]
      service: pg
      rule: HostSNI(`db.example.com`)
      ruleSyntax: v3
      priority: 1
      tls:
        passthrough: true
        options: modern
        certResolver: le
        domains: [{main: db.example.com, sans: [pg.example.com]}]
  services:
    pg:
      loadBalancer:
        servers: [{address: "10.0.0.5:5432", tls: true}]
        serversTransport: tcptight
        proxyProtocol: {version: 1}
        terminationDelay: 200
        healthCheck: {port: 5433, send: PING, expect: PONG, interval: 5s, unhealthyInterval: 1s, timeout: 2s}
    pgsplit:
      weighted:
        services: [{name: pg, weight: 1}]
        healthCheck: {}
  middlewares:
    tcpallow: {ipAllowList: {sourceRange: [10.0.0.0/8]}}
    tcpwhite: {ipWhiteList: {sourceRange: [10.0.0.0/8]}}
    tcpconn: {inFlightConn: {amount: 5}}
  serversTransports:
    tcptight:
      dialKeepAlive: 30s
      dialTimeout: 5s
      proxyProtocol: {version: 2}
      terminationDelay: 1s
      tls:
        serverName: db.internal
        insecureSkipVerify: true
        rootCAs: [/ca.pem]
        certificates: [{certFile: /c.pem, keyFile: /k.pem}]
        peerCertURI: spiffe://example.org/db
        spiffe: {ids: ["spiffe://example.org/db"], trustDomain: example.org}
udp:
  routers:
    dns: {entryPoints: [dns], service: dns}
  services:
    dns: {loadBalancer: {servers: [{address: "10.0.0.53:53"}]}}
    dnssplit: {weighted: {services: [{name: dns, weight: 2}]}}
tls:
  certificates:
    - {certFile: /certs/a.pem, keyFile: /certs/a.key, stores: [default]}
  options:
    modern:
      minVersion: VersionTLS13
      maxVersion: VersionTLS13
      cipherSuites: [TLS_AES_128_GCM_SHA256]
      curvePreferences: [X25519, CurveP256]
      clientAuth: {caFiles: [/ca.pem], clientAuthType: RequireAndVerifyClientCert}
      sniStrict: true
      alpnProtocols: [http/1.1]
      disableSessionTickets: true
      preferServerCipherSuites: true
  stores:
    default:
      defaultCertificate: {certFile: /certs/d.pem, keyFile: /certs/d.key}
      defaultGeneratedCert: {resolver: le, domain: {main: example.com, sans: [www.example.com]}}
"""


def full() -> DynamicConfig:
    return DynamicConfig.model_validate(yaml.safe_load(FULL_YAML))


def resolve(obj: Any, path: str) -> Any:
    """Follow ``a.b.c`` through model attributes (snake_case) and mapping keys."""
    for part in path.split("."):
        obj = obj[part] if isinstance(obj, dict) else getattr(obj, part)
    return obj


def _model_of(annotation: Any) -> list[tuple[str, type[BaseModel]]]:
    """Nested models of an annotation with the path suffix that reaches them."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [("", annotation)]
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is list:
        return [(f"[]{s}", m) for s, m in _model_of(args[0])]
    if origin is dict:
        return [(f".<name>{s}", m) for s, m in _model_of(args[1])]
    return [pair for arg in args for pair in _model_of(arg)]


def key_paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Every alias path the model tree allows (map names as ``<name>``, list items as ``[]``)."""
    paths: set[str] = set()
    for name, info in model.model_fields.items():
        path = f"{prefix}{info.alias or name}"
        paths.add(path)
        for suffix, sub in _model_of(info.annotation):
            paths |= key_paths(sub, f"{path}{suffix}.")
    return paths


def set_paths(value: BaseModel, prefix: str = "") -> set[str]:
    """Alias paths explicitly set in a validated model instance (same form as key_paths)."""
    paths: set[str] = set()
    fields = type(value).model_fields
    for name in value.model_fields_set:
        path = f"{prefix}{fields[name].alias or name}"
        paths.add(path)
        item = getattr(value, name)
        children = [(item, ".")] if isinstance(item, BaseModel) else []
        if isinstance(item, dict):
            children = [(v, ".<name>.") for v in item.values()]
        elif isinstance(item, list):
            children = [(v, "[].") for v in item]
        for child, sep in children:
            if isinstance(child, BaseModel):
                paths |= set_paths(child, f"{path}{sep}")
    return paths


def test_full_example_sets_every_key() -> None:
    missing = key_paths(DynamicConfig) - set_paths(full())
    assert missing == set()


def test_full_example_values() -> None:
    cfg = full()
    router = cfg.http.routers["web"]
    assert router.entry_points == ["web", "websecure"]
    assert router.tls is not None and router.tls.domains[0].sans == ["www.example.com"]
    lb = cfg.http.services["app"].load_balancer
    assert lb is not None
    assert lb.strategy == "p2c"
    assert lb.health_check is not None and lb.health_check.interval == 10.0
    assert lb.response_forwarding.flush_interval == 1.0
    assert cfg.http.middlewares["tohttps"].redirect_scheme is not None
    assert cfg.http.middlewares["tohttps"].redirect_scheme.port == "443"
    assert cfg.http.middlewares["oops"].errors is not None
    assert cfg.http.middlewares["oops"].errors.status == ["500-599", "404"]
    assert cfg.http.middlewares["cached"].cache is not None
    assert cfg.http.middlewares["cached"].cache.store == "redis"
    assert cfg.http.middlewares["plug"].kind() == "plugin"
    assert cfg.tcp.services["pg"].load_balancer is not None
    assert cfg.tcp.services["pg"].load_balancer.termination_delay == 200
    assert cfg.tcp.servers_transports["tcptight"].termination_delay == 1.0
    assert cfg.tls.stores["default"].default_generated_cert is not None


def test_dump_round_trips() -> None:
    cfg = full()
    assert DynamicConfig.model_validate(dump(cfg)) == cfg
    assert dump(cfg)["http"]["middlewares"]["secure"]["headers"]["customBrowserXSSValue"] == "0"


def test_toml_document_validates() -> None:
    doc = tomllib.loads(
        """
        [http.routers.r]
        rule = "Host(`a.example`)"
        service = "s"
        [[http.services.s.loadBalancer.servers]]
        url = "http://127.0.0.1:8080"
        [http.middlewares.m.passTLSClientCert]
        pem = true
        [tls.options.default]
        minVersion = "VersionTLS13"
        """
    )
    cfg = DynamicConfig.model_validate(doc)
    assert cfg.http.services["s"].load_balancer is not None
    assert cfg.http.services["s"].load_balancer.servers[0].url == "http://127.0.0.1:8080"
    assert cfg.tls.options["default"].min_version == "VersionTLS13"


def _lb(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"http": {"services": {"s": {"loadBalancer": extra or {}}}}}


def _mw(kind: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"http": {"middlewares": {"m": {kind: options or {}}}}}


DEFAULTS = [
    ("empty document: every section present", {}, "http.routers", {}),
    ("empty document: tls section present", {}, "tls.certificates", []),
    ("router priority", {"http": {"routers": {"r": {}}}}, "http.routers.r.priority", 0),
    ("passHostHeader", _lb(), "http.services.s.load_balancer.pass_host_header", True),
    ("strategy", _lb(), "http.services.s.load_balancer.strategy", "wrr"),
    ("flushInterval", _lb(), "http.services.s.load_balancer.response_forwarding.flush_interval", 0.1),
    ("server weight", _lb({"servers": [{"url": "http://a"}]}), "http.services.s.load_balancer.servers.0.weight", 1),
    ("healthCheck interval", _lb({"healthCheck": {}}), "http.services.s.load_balancer.health_check.interval", 30.0),
    ("healthCheck timeout", _lb({"healthCheck": {}}), "http.services.s.load_balancer.health_check.timeout", 5.0),
    ("healthCheck followRedirects", _lb({"healthCheck": {}}), "http.services.s.load_balancer.health_check.follow_redirects", True),
    ("healthCheck mode", _lb({"healthCheck": {}}), "http.services.s.load_balancer.health_check.mode", "http"),
    ("healthCheck unhealthyInterval", _lb({"healthCheck": {}}), "http.services.s.load_balancer.health_check.unhealthy_interval", None),
    ("passive failureWindow", _lb({"passiveHealthCheck": {}}), "http.services.s.load_balancer.passive_health_check.failure_window", 10.0),
    ("passive maxFailedAttempts", _lb({"passiveHealthCheck": {}}), "http.services.s.load_balancer.passive_health_check.max_failed_attempts", 1),
    ("cookie path", _lb({"sticky": {"cookie": {}}}), "http.services.s.load_balancer.sticky.cookie.path", "/"),
    ("mirrorBody", {"http": {"services": {"s": {"mirroring": {}}}}}, "http.services.s.mirroring.mirror_body", True),
    ("mirroring maxBodySize", {"http": {"services": {"s": {"mirroring": {}}}}}, "http.services.s.mirroring.max_body_size", -1),
    ("weighted weight", {"http": {"services": {"s": {"weighted": {"services": [{"name": "a"}]}}}}}, "http.services.s.weighted.services.0.weight", 1),
    ("failover errors body", {"http": {"services": {"s": {"failover": {"errors": {}}}}}}, "http.services.s.failover.errors.max_request_body_bytes", -1),
    ("maxIdleConnsPerHost", {"http": {"serversTransports": {"t": {}}}}, "http.servers_transports.t.max_idle_conns_per_host", 200),
    ("dialTimeout", {"http": {"serversTransports": {"t": {}}}}, "http.servers_transports.t.forwarding_timeouts.dial_timeout", 30.0),
    ("responseHeaderTimeout", {"http": {"serversTransports": {"t": {}}}}, "http.servers_transports.t.forwarding_timeouts.response_header_timeout", 0.0),
    ("idleConnTimeout", {"http": {"serversTransports": {"t": {}}}}, "http.servers_transports.t.forwarding_timeouts.idle_conn_timeout", 90.0),
    ("pingTimeout", {"http": {"serversTransports": {"t": {}}}}, "http.servers_transports.t.forwarding_timeouts.ping_timeout", 15.0),
    ("observability traceVerbosity", {"http": {"routers": {"r": {"observability": {}}}}}, "http.routers.r.observability.trace_verbosity", "minimal"),
    ("observability accessLogs follows entry point", {"http": {"routers": {"r": {"observability": {}}}}}, "http.routers.r.observability.access_logs", None),
    ("rateLimit period", _mw("rateLimit"), "http.middlewares.m.rate_limit.period", 1.0),
    ("rateLimit burst", _mw("rateLimit"), "http.middlewares.m.rate_limit.burst", 1),
    ("rateLimit redis endpoint", _mw("rateLimit", {"redis": {}}), "http.middlewares.m.rate_limit.redis.endpoints", ["localhost:6379"]),
    ("rateLimit redis readTimeout", _mw("rateLimit", {"redis": {}}), "http.middlewares.m.rate_limit.redis.read_timeout", 3.0),
    ("rateLimit redis denyOnError", _mw("rateLimit", {"redis": {}}), "http.middlewares.m.rate_limit.redis.deny_on_error", True),
    ("circuitBreaker checkPeriod", _mw("circuitBreaker"), "http.middlewares.m.circuit_breaker.check_period", 0.1),
    ("circuitBreaker fallbackDuration", _mw("circuitBreaker"), "http.middlewares.m.circuit_breaker.fallback_duration", 10.0),
    ("circuitBreaker responseCode", _mw("circuitBreaker"), "http.middlewares.m.circuit_breaker.response_code", 503),
    ("buffering memRequestBodyBytes", _mw("buffering"), "http.middlewares.m.buffering.mem_request_body_bytes", 1048576),
    ("compress minResponseBodyBytes", _mw("compress"), "http.middlewares.m.compress.min_response_body_bytes", 1024),
    ("compress encodings", _mw("compress"), "http.middlewares.m.compress.encodings", ["zstd", "br", "gzip"]),
    ("basicAuth realm", _mw("basicAuth"), "http.middlewares.m.basic_auth.realm", "traefik"),
    ("ipAllowList rejectStatusCode", _mw("ipAllowList"), "http.middlewares.m.ip_allow_list.reject_status_code", 403),
    ("forwardAuth maxBodySize", _mw("forwardAuth"), "http.middlewares.m.forward_auth.max_body_size", -1),
    ("cache store", _mw("cache"), "http.middlewares.m.cache.store", "memory"),
    ("tls minVersion", {"tls": {"options": {"o": {}}}}, "tls.options.o.min_version", "VersionTLS12"),
    ("tls alpnProtocols", {"tls": {"options": {"o": {}}}}, "tls.options.o.alpn_protocols", ["h2", "http/1.1", "acme-tls/1"]),
    ("tls clientAuthType", {"tls": {"options": {"o": {}}}}, "tls.options.o.client_auth.client_auth_type", "NoClientCert"),
    ("tls sniStrict", {"tls": {"options": {"o": {}}}}, "tls.options.o.sni_strict", False),
    ("tcp dialKeepAlive", {"tcp": {"serversTransports": {"t": {}}}}, "tcp.servers_transports.t.dial_keep_alive", 15.0),
    ("tcp dialTimeout", {"tcp": {"serversTransports": {"t": {}}}}, "tcp.servers_transports.t.dial_timeout", 30.0),
    ("tcp terminationDelay", {"tcp": {"serversTransports": {"t": {}}}}, "tcp.servers_transports.t.termination_delay", 0.1),
    ("tcp proxyProtocol version", {"tcp": {"serversTransports": {"t": {"proxyProtocol": {}}}}}, "tcp.servers_transports.t.proxy_protocol.version", 2),
    ("tcp healthCheck interval", {"tcp": {"services": {"s": {"loadBalancer": {"healthCheck": {}}}}}}, "tcp.services.s.load_balancer.health_check.interval", 30.0),
    ("tcp router passthrough", {"tcp": {"routers": {"r": {"tls": {}}}}}, "tcp.routers.r.tls.passthrough", False),
]


@pytest.mark.parametrize(("desc", "doc", "path", "expected"), DEFAULTS, ids=[d[0] for d in DEFAULTS])
def test_traefik_defaults(desc: str, doc: dict[str, Any], path: str, expected: Any) -> None:
    parts = path.split(".")
    obj: Any = DynamicConfig.model_validate(doc)
    for part in parts:
        obj = obj[int(part)] if part.isdigit() else obj[part] if isinstance(obj, dict) else getattr(obj, part)
    assert obj == expected


UNKNOWN_KEYS = [
    ("router key typo", {"http": {"routers": {"r": {"rul": "Host(`a`)"}}}}, ("http", "routers", "r", "rul")),
    ("server key in upper case", _lb({"servers": [{"URL": "http://a"}]}),
     ("http", "services", "s", "loadBalancer", "servers", 0, "URL")),
    ("customBrowserXSSValue spelled camelCase", _mw("headers", {"customBrowserXssValue": "0"}),
     ("http", "middlewares", "m", "headers", "customBrowserXssValue")),
    ("forceSTSHeader spelled camelCase", _mw("headers", {"forceStsHeader": True}),
     ("http", "middlewares", "m", "headers", "forceStsHeader")),
    ("passTLSClientCert spelled camelCase", _mw("passTlsClientCert"), ("http", "middlewares", "m", "passTlsClientCert")),
    ("ipAllowList spelled ipAllowlist", _mw("ipAllowlist"), ("http", "middlewares", "m", "ipAllowlist")),
    ("excludedIPs spelled excludedIps", _mw("ipAllowList", {"ipStrategy": {"excludedIps": []}}),
     ("http", "middlewares", "m", "ipAllowList", "ipStrategy", "excludedIps")),
    ("disableHTTP2 spelled disableHttp2", {"http": {"serversTransports": {"t": {"disableHttp2": True}}}},
     ("http", "serversTransports", "t", "disableHttp2")),
    ("rootCAs spelled rootCas", {"tcp": {"serversTransports": {"t": {"tls": {"rootCas": []}}}}},
     ("tcp", "serversTransports", "t", "tls", "rootCas")),
    ("tcp tls passThrough", {"tcp": {"routers": {"r": {"tls": {"passThrough": True}}}}},
     ("tcp", "routers", "r", "tls", "passThrough")),
    ("udp router rule", {"udp": {"routers": {"r": {"rule": "x"}}}}, ("udp", "routers", "r", "rule")),
    ("tls option typo", {"tls": {"options": {"o": {"minVersions": "x"}}}}, ("tls", "options", "o", "minVersions")),
    ("unknown section", {"grpc": {}}, ("grpc",)),
]


@pytest.mark.parametrize(("desc", "doc", "loc"), UNKNOWN_KEYS, ids=[u[0] for u in UNKNOWN_KEYS])
def test_unknown_key_error_names_full_path(desc: str, doc: dict[str, Any], loc: tuple[Any, ...]) -> None:
    with pytest.raises(ValidationError) as info:
        DynamicConfig.model_validate(doc)
    errors = info.value.errors()
    assert [e["loc"] for e in errors] == [loc]
    assert errors[0]["type"] == "extra_forbidden"


ONE_KIND = [
    ("service with two kinds", {"http": {"services": {"s": {"loadBalancer": {}, "weighted": {}}}}},
     ("http", "services", "s"),
     "a service must have exactly one of loadBalancer, weighted, mirroring, failover, highestRandomWeight; "
     "found: loadBalancer, weighted"),
    ("service with no kind", {"http": {"services": {"s": {}}}}, ("http", "services", "s"), "found: none"),
    ("middleware with two types", {"http": {"middlewares": {"m": {"headers": {}, "retry": {"attempts": 2}}}}},
     ("http", "middlewares", "m"), "a middleware must have exactly one of addPrefix, basicAuth"),
    ("middleware types are named", {"http": {"middlewares": {"m": {"headers": {}, "retry": {}}}}},
     ("http", "middlewares", "m"), "found: headers, retry"),
    ("middleware with no type", {"http": {"middlewares": {"m": {}}}}, ("http", "middlewares", "m"), "found: none"),
    ("two plugins in one middleware", {"http": {"middlewares": {"m": {"plugin": {"a": {}, "b": {}}}}}},
     ("http", "middlewares", "m"), "exactly one plugin; found: a, b"),
    ("tcp service with two kinds", {"tcp": {"services": {"s": {"loadBalancer": {}, "weighted": {}}}}},
     ("tcp", "services", "s"), "a TCP service must have exactly one of loadBalancer, weighted; found: loadBalancer, weighted"),
    ("tcp middleware with two types", {"tcp": {"middlewares": {"m": {"ipAllowList": {}, "inFlightConn": {}}}}},
     ("tcp", "middlewares", "m"), "found: ipAllowList, inFlightConn"),
    ("udp service with no kind", {"udp": {"services": {"s": {}}}}, ("udp", "services", "s"),
     "a UDP service must have exactly one of loadBalancer, weighted; found: none"),
]


@pytest.mark.parametrize(("desc", "doc", "loc", "message"), ONE_KIND, ids=[o[0] for o in ONE_KIND])
def test_exactly_one_kind(desc: str, doc: dict[str, Any], loc: tuple[str, ...], message: str) -> None:
    # Not a validation error (Traefik disables only the element, at compile time): the document
    # validates and the element reports its problem.
    config = DynamicConfig.model_validate(doc)
    section, collection, name = loc
    element = getattr(getattr(config, section), collection)[name]
    problem = element.kind_problem()
    assert problem is not None and message in problem


STRATEGIES = [
    ("lower case kept", "wrr", "wrr"),
    ("upper case", "WRR", "wrr"),
    ("mixed case p2c", "P2c", "p2c"),
    ("hrw", "HRW", "hrw"),
    ("leasttime camel", "leastTime", "leasttime"),
    ("leastconn addition", "LeastConn", "leastconn"),
    ("iphash addition", "IPHash", "iphash"),
]


@pytest.mark.parametrize(("desc", "given", "stored"), STRATEGIES, ids=[s[0] for s in STRATEGIES])
def test_strategy_normalised(desc: str, given: str, stored: str) -> None:
    cfg = DynamicConfig.model_validate(_lb({"strategy": given}))
    assert cfg.http.services["s"].load_balancer is not None
    assert cfg.http.services["s"].load_balancer.strategy == stored


def test_unknown_strategy_rejected() -> None:
    with pytest.raises(ValidationError, match="unknown load-balancing strategy 'random'"):
        DynamicConfig.model_validate(_lb({"strategy": "random"}))


def test_unknown_cache_store_rejected() -> None:
    with pytest.raises(ValidationError, match="unknown cache store 'disk'"):
        DynamicConfig.model_validate(_mw("cache", {"store": "disk"}))


def test_models_are_frozen() -> None:
    cfg = full()
    with pytest.raises(ValidationError, match="frozen"):
        cfg.http.routers["web"].rule = "Host(`evil`)"  # type: ignore[misc]


EQUALITY = [
    ("same document twice", FULL_YAML, FULL_YAML, True),
    ("explicit defaults equal implicit ones",
     "http: {services: {s: {loadBalancer: {passHostHeader: true, strategy: WRR}}}}",
     "http: {services: {s: {loadBalancer: {}}}}", True),
    ("duration forms are one value", "http: {services: {s: {loadBalancer: {responseForwarding: {flushInterval: 1m30s}}}}}",
     "http: {services: {s: {loadBalancer: {responseForwarding: {flushInterval: 90}}}}}", True),
    ("different rule", "http: {routers: {r: {rule: 'Host(`a`)'}}}", "http: {routers: {r: {rule: 'Host(`b`)'}}}", False),
]


@pytest.mark.parametrize(("desc", "a", "b", "equal"), EQUALITY, ids=[e[0] for e in EQUALITY])
def test_value_equality(desc: str, a: str, b: str, equal: bool) -> None:
    left = DynamicConfig.model_validate(yaml.safe_load(a))
    right = DynamicConfig.model_validate(yaml.safe_load(b))
    assert (left == right) is equal


NULLS = [
    ("empty sections", "http:\n  routers:\n  middlewares:\ntcp:\n", "http.routers", {}),
    ("empty router tls stays unset", "http: {routers: {r: {tls: }}}", "http.routers.r.tls", None),
    ("null header value is skipped like Traefik does", "http: {middlewares: {m: {headers: {customRequestHeaders: {X-A: , X-B: ''}}}}}",
     "http.middlewares.m.headers.custom_request_headers", {"X-B": ""}),
]


@pytest.mark.parametrize(("desc", "text", "path", "expected"), NULLS, ids=[n[0] for n in NULLS])
def test_yaml_nulls_mean_unset(desc: str, text: str, path: str, expected: Any) -> None:
    assert resolve(DynamicConfig.model_validate(yaml.safe_load(text)), path) == expected


def test_every_field_is_described() -> None:
    undescribed = [p for p in sorted(key_paths(DynamicConfig)) if not _description(p)]
    assert undescribed == []


def _description(path: str) -> str:
    model: type[BaseModel] = DynamicConfig
    parts = path.replace("[]", "").split(".")
    info = None
    for part in parts:
        if part == "<name>":
            continue
        fields = {f.alias or n: f for n, f in model.model_fields.items()}
        info = fields[part]
        nested = _model_of(info.annotation)
        if nested:
            model = nested[0][1]
    return info.description or "" if info is not None else ""


def test_reference_page_is_current() -> None:
    target, title, output = docgen.DEFAULT_TARGET
    page = Path(__file__).resolve().parents[2] / output
    assert page.read_text(encoding="utf-8") == docgen.render(DynamicConfig, title)
    assert "| `passTLSClientCert` |" in page.read_text(encoding="utf-8")
