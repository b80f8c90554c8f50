"""Static configuration: Traefik's defaults, the effective entry points, address parsing, and
loading from file / ``TRAEFIK_*`` environment / flags with precedence file < env < flags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from traefikpy.config.decode import ConfigError
from traefikpy.config.sources import find_config_file, load_static
from traefikpy.config.static import DEFAULT_ACME_CA_SERVER, StaticConfig, parse_address
from traefikpy.config.static_entrypoints import DEFAULT_REDIRECT_PRIORITY, ListenAddress

NO_HOME = Path("/nonexistent-home")


def load(tmp_path: Path, argv: list[str] | None = None, env: dict[str, str] | None = None,
         yml: str | None = None, toml: str | None = None) -> StaticConfig:
    """Load with an optional file in ``tmp_path`` (no search outside it)."""
    args = list(argv or [])
    if yml is not None:
        (tmp_path / "traefik.yml").write_text(yml)
        args += ["--configFile", str(tmp_path / "traefik.yml")]
    if toml is not None:
        (tmp_path / "traefik.toml").write_text(toml)
        args += [f"--configFile={tmp_path / 'traefik.toml'}"]
    return load_static(args, env or {}, cwd=tmp_path, home=NO_HOME, search=False)


def problems(exc: pytest.ExceptionInfo[ConfigError]) -> list[str]:
    return [str(p) for p in exc.value.problems]


# --------------------------------------------------------------------------------------------
# defaults

DEFAULTS: list[tuple[str, Any, Any]] = [
    ("readTimeout 60s", lambda c: c.entry_points["web"].transport.responding_timeouts.read_timeout, 60.0),
    ("writeTimeout 0", lambda c: c.entry_points["web"].transport.responding_timeouts.write_timeout, 0.0),
    ("idleTimeout 180s", lambda c: c.entry_points["web"].transport.responding_timeouts.idle_timeout, 180.0),
    ("graceTimeOut 10s", lambda c: c.entry_points["web"].transport.life_cycle.grace_time_out, 10.0),
    ("requestAcceptGraceTimeout 0", lambda c: c.entry_points["web"].transport.life_cycle.request_accept_grace_timeout, 0.0),
    ("keepAliveMaxRequests 0", lambda c: c.entry_points["web"].transport.keep_alive_max_requests, 0),
    ("maxHeaderBytes 1 MiB", lambda c: c.entry_points["web"].http.max_header_bytes, 1048576),
    ("sanitizePath true", lambda c: c.entry_points["web"].http.sanitize_path, True),
    ("http2 maxConcurrentStreams 250", lambda c: c.entry_points["web"].http2.max_concurrent_streams, 250),
    ("udp timeout 3s", lambda c: c.entry_points["web"].udp.timeout, 3.0),
    ("no proxyProtocol", lambda c: c.entry_points["web"].proxy_protocol, None),
    ("providersThrottleDuration 2s", lambda c: c.providers.providers_throttle_duration, 2.0),
    ("maxIdleConnsPerHost 200", lambda c: c.servers_transport.max_idle_conns_per_host, 200),
    ("dialTimeout 30s", lambda c: c.servers_transport.forwarding_timeouts.dial_timeout, 30.0),
    ("idleConnTimeout 90s", lambda c: c.servers_transport.forwarding_timeouts.idle_conn_timeout, 90.0),
    ("responseHeaderTimeout 0", lambda c: c.servers_transport.forwarding_timeouts.response_header_timeout, 0.0),
    ("tcp dialKeepAlive 15s", lambda c: c.tcp_servers_transport.dial_keep_alive, 15.0),
    ("checkNewVersion true", lambda c: c.global_.check_new_version, True),
    ("no api", lambda c: c.api, None),
    ("no providers", lambda c: c.providers.docker, None),
    ("core v3", lambda c: c.core.default_rule_syntax, "v3"),
]


@pytest.mark.parametrize(("desc", "get", "expected"), DEFAULTS, ids=[d[0] for d in DEFAULTS])
def test_traefik_defaults(tmp_path: Path, desc: str, get: Any, expected: Any) -> None:
    config = load(tmp_path, ["--entrypoints.web.address=:80"])
    assert get(config) == expected


SECTION_DEFAULTS: list[tuple[str, list[str], Any, Any]] = [
    ("api", ["--api"], lambda c: (c.api.insecure, c.api.dashboard, c.api.base_path), (False, True, "/")),
    ("ping", ["--ping"], lambda c: (c.ping.entry_point, c.ping.terminating_status_code), ("traefik", 503)),
    ("prometheus buckets", ["--metrics.prometheus"], lambda c: c.metrics.prometheus.buckets, [0.1, 0.3, 1.2, 5.0]),
    ("prometheus labels", ["--metrics.prometheus"],
     lambda c: (c.metrics.prometheus.add_entry_points_labels, c.metrics.prometheus.add_routers_labels,
                c.metrics.prometheus.add_services_labels), (True, False, True)),
    ("log", ["--log"], lambda c: (c.log.level, c.log.format), ("ERROR", "common")),
    ("accessLog", ["--accesslog"],
     lambda c: (c.access_log.format, c.access_log.fields.default_mode, c.access_log.fields.headers.default_mode),
     ("common", "keep", "drop")),
    ("docker", ["--providers.docker"],
     lambda c: (c.providers.docker.endpoint, c.providers.docker.exposed_by_default, c.providers.docker.watch,
                c.providers.docker.default_rule),
     ("unix:///var/run/docker.sock", True, True, "Host(`{{ normalize .Name }}`)")),
    ("file watch", ["--providers.file.filename=x.yml"], lambda c: c.providers.file.watch, True),
    ("consul", ["--providers.consul"], lambda c: (c.providers.consul.root_key, c.providers.consul.endpoints),
     ("traefik", ["127.0.0.1:8500"])),
    ("etcd", ["--providers.etcd"], lambda c: c.providers.etcd.endpoints, ["127.0.0.1:2379"]),
    ("redis", ["--providers.redis"], lambda c: c.providers.redis.endpoints, ["127.0.0.1:6379"]),
    ("consulCatalog", ["--providers.consulcatalog"],
     lambda c: (c.providers.consul_catalog.prefix, c.providers.consul_catalog.refresh_interval,
                c.providers.consul_catalog.exposed_by_default, c.providers.consul_catalog.strict_checks),
     ("traefik", 15.0, True, ["passing", "warning"])),
    ("http provider", ["--providers.http.endpoint=http://127.0.0.1:1/"],
     lambda c: (c.providers.http.poll_interval, c.providers.http.poll_timeout), (5.0, 5.0)),
    ("acme", ["--certificatesresolvers.le.acme.email=a@b.c"],
     lambda c: (c.certificates_resolvers["le"].acme.ca_server, c.certificates_resolvers["le"].acme.storage,
                c.certificates_resolvers["le"].acme.key_type,
                c.certificates_resolvers["le"].acme.certificates_duration),
     (DEFAULT_ACME_CA_SERVER, "acme.json", "RSA4096", 2160)),
    ("redirection", ["--entrypoints.web.http.redirections.entrypoint.to=websecure"],
     lambda c: (c.entry_points["web"].http.redirections.entry_point.scheme,
                c.entry_points["web"].http.redirections.entry_point.permanent,
                c.entry_points["web"].http.redirections.entry_point.priority),
     ("https", True, DEFAULT_REDIRECT_PRIORITY)),
]


@pytest.mark.parametrize(("desc", "argv", "get", "expected"), SECTION_DEFAULTS, ids=[d[0] for d in SECTION_DEFAULTS])
def test_enabled_sections_take_traefik_defaults(tmp_path: Path, desc: str, argv: list[str], get: Any,
                                                expected: Any) -> None:
    config = load(tmp_path, ["--entrypoints.web.address=:80", *argv])
    assert get(config) == expected


# --------------------------------------------------------------------------------------------
# effective entry points

ENTRYPOINTS: list[tuple[str, list[str], dict[str, str]]] = [
    ("nothing configured: http on :80", [], {"http": ":80"}),
    ("user entry point replaces http", ["--entrypoints.web.address=:8000"], {"web": ":8000"}),
    ("api.insecure adds traefik :8080", ["--api.insecure"], {"http": ":80", "traefik": ":8080"}),
    ("api without insecure adds nothing", ["--api"], {"http": ":80"}),
    ("ping adds traefik", ["--entrypoints.web.address=:81", "--ping"], {"web": ":81", "traefik": ":8080"}),
    ("ping manualRouting adds nothing", ["--entrypoints.web.address=:81", "--ping.manualrouting"], {"web": ":81"}),
    ("ping elsewhere adds nothing", ["--entrypoints.web.address=:81", "--ping.entrypoint=web"], {"web": ":81"}),
    ("prometheus adds traefik", ["--entrypoints.web.address=:81", "--metrics.prometheus"],
     {"web": ":81", "traefik": ":8080"}),
    ("user traefik entry point kept", ["--entrypoints.traefik.address=:9999", "--api.insecure"],
     {"traefik": ":9999"}),
]


@pytest.mark.parametrize(("desc", "argv", "expected"), ENTRYPOINTS, ids=[e[0] for e in ENTRYPOINTS])
def test_default_entrypoints(tmp_path: Path, desc: str, argv: list[str], expected: dict[str, str]) -> None:
    config = load(tmp_path, argv)
    assert {name: ep.address for name, ep in config.entry_points.items()} == expected


def test_defaults_step_is_idempotent_and_fills_added_entrypoints() -> None:
    config = StaticConfig.model_validate({"api": {"insecure": True}}).with_defaults()
    assert config.with_defaults() == config
    assert config.entry_points["traefik"].transport.responding_timeouts.read_timeout == 60.0


def test_acme_deprecated_dns_fields_move_to_propagation(tmp_path: Path) -> None:
    config = load(tmp_path, yml="""
certificatesResolvers:
  le:
    acme:
      caServer: ""
      dnsChallenge:
        provider: cloudflare
        delayBeforeCheck: 30
        disablePropagationCheck: true
""")
    acme = config.certificates_resolvers["le"].acme
    assert acme is not None and acme.dns_challenge is not None and acme.dns_challenge.propagation is not None
    assert acme.dns_challenge.propagation.delay_before_checks == 30.0
    assert acme.dns_challenge.propagation.disable_checks is True
    assert acme.ca_server == DEFAULT_ACME_CA_SERVER


# --------------------------------------------------------------------------------------------
# address parsing

ADDRESSES: list[tuple[str, str, ListenAddress]] = [
    ("all interfaces", ":80", ListenAddress("", 80, "tcp")),
    ("ipv4", "127.0.0.1:8080", ListenAddress("127.0.0.1", 8080, "tcp")),
    ("ipv6 brackets", "[::1]:8443", ListenAddress("::1", 8443, "tcp")),
    ("hostname", "localhost:81", ListenAddress("localhost", 81, "tcp")),
    ("udp", ":53/udp", ListenAddress("", 53, "udp")),
    ("explicit tcp, upper case", "127.0.0.1:53/TCP", ListenAddress("127.0.0.1", 53, "tcp")),
    ("ipv6 udp", "[::]:443/udp", ListenAddress("::", 443, "udp")),
    ("port 0", "127.0.0.1:0", ListenAddress("127.0.0.1", 0, "tcp")),
]


@pytest.mark.parametrize(("desc", "address", "expected"), ADDRESSES, ids=[a[0] for a in ADDRESSES])
def test_parse_address(desc: str, address: str, expected: ListenAddress) -> None:
    assert parse_address(address) == expected


BAD_ADDRESSES: list[tuple[str, str, str]] = [
    ("empty", "", "needs an address"),
    ("no port", "127.0.0.1", "missing port"),
    ("port too big", ":70000", "out of range"),
    ("port not a number", ":http", "invalid port"),
    ("negative port", ":-1", "invalid port"),
    ("bad protocol", ":80/sctp", "invalid protocol"),
    ("bare ipv6", "::1:80", "brackets"),
    ("bad ipv6", "[zz]:80", "invalid IPv6"),
    ("unclosed bracket", "[::1:80", "expected '[ipv6]:port'"),
]


@pytest.mark.parametrize(("desc", "address", "message"), BAD_ADDRESSES, ids=[a[0] for a in BAD_ADDRESSES])
def test_parse_address_rejects(desc: str, address: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_address(address)


def test_bad_address_is_a_config_error_at_its_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, yml="entryPoints:\n  web:\n    address: ':99999'\n")
    assert problems(exc) == [f"{tmp_path / 'traefik.yml'}:3: entryPoints.web.address: port 99999 out of "
                             "range in address ':99999' (0-65535)"]


# --------------------------------------------------------------------------------------------
# sources and precedence

FILE = "entryPoints:\n  web:\n    address: ':1000'\nlog:\n  level: DEBUG\n"
PRECEDENCE: list[tuple[str, str | None, dict[str, str], list[str], str]] = [
    ("file alone", FILE, {}, [], ":1000"),
    ("env alone", None, {"TRAEFIK_ENTRYPOINTS_WEB_ADDRESS": ":2000"}, [], ":2000"),
    ("flag alone", None, {}, ["--entryPoints.web.address=:3000"], ":3000"),
    ("env beats file", FILE, {"TRAEFIK_ENTRYPOINTS_WEB_ADDRESS": ":2000"}, [], ":2000"),
    ("flag beats file", FILE, {}, ["--entrypoints.web.address", ":3000"], ":3000"),
    ("flag beats env and file", FILE, {"TRAEFIK_ENTRYPOINTS_WEB_ADDRESS": ":2000"},
     ["--entrypoints.web.address=:3000"], ":3000"),
]


@pytest.mark.parametrize(("desc", "yml", "env", "argv", "address"), PRECEDENCE, ids=[p[0] for p in PRECEDENCE])
def test_precedence(tmp_path: Path, desc: str, yml: str | None, env: dict[str, str], argv: list[str],
                    address: str) -> None:
    config = load(tmp_path, argv, env, yml=yml)
    assert config.entry_points["web"].address == address
    assert list(config.entry_points) == ["web"]


def test_sources_merge_key_by_key(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        ["--entrypoints.web.transport.respondingtimeouts.readtimeout=5s", "--providers.docker"],
        {"TRAEFIK_ENTRYPOINTS_WEB_TRANSPORT_LIFECYCLE_GRACETIMEOUT": "1m30s", "TRAEFIK_API_INSECURE": "true"},
        yml=FILE + "providers:\n  docker:\n    endpoint: tcp://127.0.0.1:2375\n",
    )
    web = config.entry_points["web"]
    assert web.address == ":1000"  # file
    assert web.transport.responding_timeouts.read_timeout == 5.0  # flag
    assert web.transport.responding_timeouts.idle_timeout == 180.0  # default
    assert web.transport.life_cycle.grace_time_out == 90.0  # env
    assert config.providers.docker is not None and config.providers.docker.endpoint == "tcp://127.0.0.1:2375"
    assert config.log is not None and config.log.level == "DEBUG"
    assert config.api is not None and config.api.insecure
    assert set(config.entry_points) == {"web", "traefik"}


FLAGS: list[tuple[str, list[str], Any, Any]] = [
    ("equals form", ["--log.level=INFO"], lambda c: c.log.level, "INFO"),
    ("space form", ["--log.level", "warn"], lambda c: c.log.level, "WARN"),
    ("bare bool", ["--api.insecure"], lambda c: c.api.insecure, True),
    ("bool false", ["--api.insecure=false", "--api"], lambda c: c.api.insecure, False),
    ("bare bool before another flag", ["--api.insecure", "--log.level=INFO"], lambda c: c.api.insecure, True),
    ("bare section", ["--providers.docker"], lambda c: c.providers.docker.watch, True),
    ("section true", ["--providers.docker=true"], lambda c: c.providers.docker is not None, True),
    ("comma list", ["--metrics.prometheus.buckets=0.5,1,2"], lambda c: c.metrics.prometheus.buckets, [0.5, 1.0, 2.0]),
    ("repeated list flag appends", ["--entrypoints.web.address=:80", "--entrypoints.web.http.middlewares=a",
                                    "--entrypoints.web.http.middlewares=b"],
     lambda c: c.entry_points["web"].http.middlewares, ["a", "b"]),
    ("indexed list of sections", ["--entrypoints.web.address=:80", "--entrypoints.web.http.tls.domains[0].main=a.example",
                                  "--entrypoints.web.http.tls.domains[0].sans=b.example,c.example"],
     lambda c: (c.entry_points["web"].http.tls.domains[0].main, c.entry_points["web"].http.tls.domains[0].sans),
     ("a.example", ["b.example", "c.example"])),
    ("map key keeps case", ["--entrypoints.WebSecure.address=:443"], lambda c: list(c.entry_points), ["WebSecure"]),
    ("duration in plain seconds", ["--providers.providersthrottleduration=7"],
     lambda c: c.providers.providers_throttle_duration, 7.0),
    ("go duration", ["--providers.providersThrottleDuration=1m30s"],
     lambda c: c.providers.providers_throttle_duration, 90.0),
    ("free-form tracing accepted", ["--tracing.otlp.http.endpoint=http://127.0.0.1:1"],
     lambda c: c.tracing, {"otlp": {"http": {"endpoint": "http://127.0.0.1:1"}}}),
]


@pytest.mark.parametrize(("desc", "argv", "get", "expected"), FLAGS, ids=[f[0] for f in FLAGS])
def test_flags(tmp_path: Path, desc: str, argv: list[str], get: Any, expected: Any) -> None:
    assert get(load(tmp_path, argv)) == expected


ENV: list[tuple[str, dict[str, str], Any, Any]] = [
    ("entry point name lower-cased", {"TRAEFIK_ENTRYPOINTS_WEBSECURE_ADDRESS": ":443"},
     lambda c: list(c.entry_points), ["websecure"]),
    ("entry point name with underscore", {"TRAEFIK_ENTRYPOINTS_MY_EP_ADDRESS": ":443"},
     lambda c: list(c.entry_points), ["my_ep"]),
    ("underscore name with nested key", {"TRAEFIK_ENTRYPOINTS_MY_EP_ADDRESS": ":443",
                                         "TRAEFIK_ENTRYPOINTS_MY_EP_HTTP_MIDDLEWARES": "a,b"},
     lambda c: c.entry_points["my_ep"].http.middlewares, ["a", "b"]),
    ("section enabled", {"TRAEFIK_PROVIDERS_DOCKER": "true"}, lambda c: c.providers.docker is not None, True),
    ("bool", {"TRAEFIK_API_INSECURE": "true"}, lambda c: c.api.insecure, True),
    ("indexed list", {"TRAEFIK_ENTRYPOINTS_WEB_ADDRESS": ":80",
                      "TRAEFIK_ENTRYPOINTS_WEB_HTTP_TLS_DOMAINS_0_MAIN": "a.example"},
     lambda c: c.entry_points["web"].http.tls.domains[0].main, "a.example"),
    ("resolver name with underscore", {"TRAEFIK_CERTIFICATESRESOLVERS_LE_PROD_ACME_EMAIL": "a@b.c"},
     lambda c: c.certificates_resolvers["le_prod"].acme.email, "a@b.c"),
    ("other variables ignored", {"TRAEFIK_VERSION": "3", "HOME": "/x", "TRAEFIKPY_X": "1"},
     lambda c: list(c.entry_points), ["http"]),
]


@pytest.mark.parametrize(("desc", "env", "get", "expected"), ENV, ids=[e[0] for e in ENV])
def test_env(tmp_path: Path, desc: str, env: dict[str, str], get: Any, expected: Any) -> None:
    assert get(load(tmp_path, env=env)) == expected


YAML_DOC = """
global:
  checkNewVersion: false
entryPoints:
  web:
    address: ":80"
    http:
      redirections:
        entryPoint:
          to: websecure
  websecure:
    address: ":443"
    transport:
      respondingTimeouts:
        readTimeout: 10s
    http:
      tls:
        certResolver: le
        domains:
          - main: example.com
            sans: ["*.example.com"]
providers:
  providersThrottleDuration: 0
  file:
    directory: /etc/traefik/dynamic
  docker:
    exposedByDefault: false
api:
  dashboard: true
metrics:
  prometheus:
    buckets: [0.1, 1.0]
accessLog:
  filters:
    statusCodes: ["400-499"]
certificatesResolvers:
  le:
    acme:
      email: ops@example.com
      httpChallenge:
        entryPoint: web
"""

TOML_DOC = """
[global]
  checkNewVersion = false
[entryPoints.web]
  address = ":80"
  [entryPoints.web.http.redirections.entryPoint]
    to = "websecure"
[entryPoints.websecure]
  address = ":443"
  [entryPoints.websecure.transport.respondingTimeouts]
    readTimeout = "10s"
  [entryPoints.websecure.http.tls]
    certResolver = "le"
    [[entryPoints.websecure.http.tls.domains]]
      main = "example.com"
      sans = ["*.example.com"]
[providers]
  providersThrottleDuration = 0
  [providers.file]
    directory = "/etc/traefik/dynamic"
  [providers.docker]
    exposedByDefault = false
[api]
  dashboard = true
[metrics.prometheus]
  buckets = [0.1, 1.0]
[accessLog.filters]
  statusCodes = ["400-499"]
[certificatesResolvers.le.acme]
  email = "ops@example.com"
  [certificatesResolvers.le.acme.httpChallenge]
    entryPoint = "web"
"""


def test_yaml_and_toml_give_equal_models(tmp_path: Path) -> None:
    from_yaml = load(tmp_path, yml=YAML_DOC)
    from_toml = load(tmp_path, toml=TOML_DOC)
    assert from_yaml == from_toml
    assert from_yaml.entry_points["websecure"].transport.responding_timeouts.read_timeout == 10.0
    assert from_yaml.providers.providers_throttle_duration == 0.0
    assert from_yaml.providers.docker is not None and not from_yaml.providers.docker.exposed_by_default
    assert set(from_yaml.entry_points) == {"web", "websecure", "traefik"}  # prometheus needs traefik


def test_file_keys_are_case_insensitive(tmp_path: Path) -> None:
    config = load(tmp_path, yml="entrypoints:\n  Web:\n    ADDRESS: ':80'\n", argv=["--entrypoints.Web.reuseport"])
    assert config.entry_points["Web"].address == ":80" and config.entry_points["Web"].reuse_port


# --------------------------------------------------------------------------------------------
# errors

def test_unknown_key_in_file_names_path_and_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, yml="entryPoints:\n  web:\n    address: ':80'\n    transport:\n      readTimeout: 5s\n")
    assert problems(exc) == [f"{tmp_path / 'traefik.yml'}:5: entryPoints.web.transport.readTimeout: unknown key"]


def test_unknown_key_in_toml_names_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, toml='[api]\n  insecure = true\n  dashbord = false\n')
    assert problems(exc) == [f"{tmp_path / 'traefik.toml'}:3: api.dashbord: unknown key"]


def test_unknown_flag_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, ["--entrypoints.web.adress=:80"])
    assert problems(exc) == ["flag: entrypoints.web.adress: unknown key (--entrypoints.web.adress)"]


def test_unknown_env_key_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, env={"TRAEFIK_API_INSECUR": "true"})
    assert problems(exc) == ["env: api.insecur: unknown key (TRAEFIK_API_INSECUR)"]


BAD_DURATIONS: list[tuple[str, list[str], dict[str, str], str | None, str]] = [
    ("flag", ["--providers.providersthrottleduration=2x"], {}, None, "flag: providers.providersThrottleDuration: "),
    ("env", [], {"TRAEFIK_PROVIDERS_PROVIDERSTHROTTLEDURATION": "soon"}, None,
     "env: providers.providersThrottleDuration: "),
    ("file", [], {}, "providers:\n  providersThrottleDuration: 5 seconds\n", "traefik.yml:2: providers."),
]


@pytest.mark.parametrize(("desc", "argv", "env", "yml", "start"), BAD_DURATIONS, ids=[b[0] for b in BAD_DURATIONS])
def test_bad_duration(tmp_path: Path, desc: str, argv: list[str], env: dict[str, str], yml: str | None,
                      start: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, argv, env, yml=yml)
    [problem] = problems(exc)
    assert start in problem and "invalid duration" in problem


def test_all_problems_of_all_sources_are_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, ["--api.insecure", "--log.levle=INFO"], {"TRAEFIK_PING_TERMINATINGSTATUSCODE": "abc"},
             yml="entryPoints:\n  web:\n    address: ':80'\n  bad: {}\nlog:\n  format: xml\n")
    found = problems(exc)
    assert len(found) == 4, found
    assert "flag: log.levle: unknown key (--log.levle)" in found
    assert any(p.startswith("env: ping.terminatingStatusCode") for p in found)
    assert any(p.startswith(f"{tmp_path / 'traefik.yml'}:4: entryPoints.bad.address: required") for p in found)
    assert any(p.startswith(f"{tmp_path / 'traefik.yml'}:6: log.format") for p in found)


MISC_ERRORS: list[tuple[str, list[str], str]] = [
    ("missing config file", ["--configFile=/nonexistent/traefik.yml"], "/nonexistent/traefik.yml: cannot read"),
    ("unsupported extension", ["--configFile=/etc/hostname.conf"], "unsupported file extension"),
    ("positional argument", ["serve"], "unexpected argument 'serve'"),
    ("flag without value", ["--log.level"], "log.level: flag needs a value"),
    ("bad log level", ["--log.level=LOUD"], "invalid log level 'LOUD'"),
    ("relative api basePath", ["--api.basepath=dashboard"], "basePath must be a valid absolute path"),
    ("bad acme key type", ["--certificatesresolvers.le.acme.keytype=DSA"], "invalid keyType 'DSA'"),
    ("bad rule syntax", ["--core.defaultrulesyntax=v1"], "core.defaultRuleSyntax"),
]


@pytest.mark.parametrize(("desc", "argv", "message"), MISC_ERRORS, ids=[m[0] for m in MISC_ERRORS])
def test_errors(tmp_path: Path, desc: str, argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, argv)
    assert any(message in p for p in problems(exc)), problems(exc)


# --------------------------------------------------------------------------------------------
# finding the file

def test_find_config_file_search_order(tmp_path: Path) -> None:
    home, cwd, xdg = tmp_path / "home", tmp_path / "cwd", tmp_path / "xdg"
    for d in (home / ".config", cwd, xdg):
        d.mkdir(parents=True)
    assert find_config_file(None, cwd, home) is None
    (cwd / "traefik.yml").write_text("")
    assert find_config_file(None, cwd, home) == cwd / "traefik.yml"
    (cwd / "traefik.toml").write_text("")
    assert find_config_file(None, cwd, home) == cwd / "traefik.toml"  # Traefik: toml, yaml, yml
    (home / ".config" / "traefik.yaml").write_text("")
    assert find_config_file(None, cwd, home) == home / ".config" / "traefik.yaml"
    (xdg / "traefik.yml").write_text("")
    assert find_config_file(None, cwd, home, xdg_config_home=str(xdg)) == xdg / "traefik.yml"
    assert find_config_file("conf/my.yml", cwd, home) == cwd / "conf" / "my.yml"
    assert find_config_file("/abs/my.toml", cwd, home) == Path("/abs/my.toml")


def test_load_searches_working_directory(tmp_path: Path) -> None:
    (tmp_path / "traefik.yaml").write_text("entryPoints:\n  found:\n    address: ':1'\n")
    assert list(load_static([], {}, cwd=tmp_path, home=NO_HOME).entry_points) == ["found"]
    assert list(load_static([], {}, cwd=tmp_path, home=NO_HOME, search=False).entry_points) == ["http"]
