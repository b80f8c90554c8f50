"""The one decoder on small models: documents (YAML/TOML) with line numbers, flat labels/KV/env/
flags, and the errors a user sees."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import Field

from traefikpy.config.base import Duration, Model
from traefikpy.config.decode import (
    ConfigError,
    Locator,
    Problem,
    Shape,
    flat_to_data,
    load_file,
    load_text,
    parse_env,
    parse_flags,
    parse_kv,
    parse_labels,
    shape_of,
    validate,
)

# -- small models shaped like Traefik's ---------------------------------------------------------


class Domain(Model):
    main: str = ""
    sans: list[str] = Field(default_factory=list)


class RouterTLS(Model):
    cert_resolver: str = ""
    domains: list[Domain] = Field(default_factory=list)


class Router(Model):
    rule: str
    entry_points: list[str] = Field(default_factory=list)
    priority: int = 0
    tls: RouterTLS | None = None


class Server(Model):
    url: str
    weight: int = 1


class LoadBalancer(Model):
    servers: list[Server] = Field(default_factory=list)
    pass_host_header: bool = True
    interval: Duration = 30.0
    ports: list[int] = Field(default_factory=list)


class Service(Model):
    load_balancer: LoadBalancer | None = None


class Headers(Model):
    custom_request_headers: dict[str, str] = Field(default_factory=dict)


class Middleware(Model):
    headers: Headers | None = None
    plugin: dict[str, dict[str, Any]] | None = None


class HTTP(Model):
    routers: dict[str, Router] = Field(default_factory=dict)
    services: dict[str, Service] = Field(default_factory=dict)
    middlewares: dict[str, Middleware] = Field(default_factory=dict)


class Api(Model):
    insecure: bool = False
    dashboard: bool = True


class Root(Model):
    http: HTTP | None = None
    api: Api | None = None
    log_level: str = "ERROR"


def _problems(exc: pytest.ExceptionInfo[ConfigError]) -> list[tuple[str, str, int | None]]:
    return [(p.path, p.message, p.line) for p in exc.value.problems]


# -- flat form: labels ----------------------------------------------------------------------------

LABEL_CASES = [
    {
        "desc": "field names match in any case, map keys keep theirs",
        "labels": {"traefik.http.routers.My-Router_1.RULE": "Host(`a`)",
                   "traefik.HTTP.routers.My-Router_1.entrypoints": "web"},
        "want": {"http": {"routers": {"My-Router_1": {"rule": "Host(`a`)", "entryPoints": ["web"]}}}},
    },
    {
        "desc": "comma-separated list, items trimmed",
        "labels": {"traefik.http.routers.r.entrypoints": "web, websecure ,other"},
        "want": {"http": {"routers": {"r": {"entryPoints": ["web", "websecure", "other"]}}}},
    },
    {
        "desc": "indexed scalar list, in index order",
        "labels": {"traefik.http.routers.r.entrypoints[1]": "b", "traefik.http.routers.r.entrypoints[0]": "a,x"},
        "want": {"http": {"routers": {"r": {"entryPoints": ["a,x", "b"]}}}},
    },
    {
        "desc": "indexed list of sections, indices compacted numerically",
        "labels": {
            "traefik.http.services.s.loadbalancer.servers[10].url": "http://c",
            "traefik.http.services.s.loadbalancer.servers[2].url": "http://b",
            "traefik.http.services.s.loadbalancer.servers[0].url": "http://a",
            "traefik.http.services.s.loadbalancer.servers[0].weight": "3",
        },
        "want": {"http": {"services": {"s": {"loadBalancer": {"servers": [
            {"url": "http://a", "weight": "3"}, {"url": "http://b"}, {"url": "http://c"}]}}}}},
    },
    {
        "desc": "nested indexed lists",
        "labels": {"traefik.http.routers.r.tls.domains[0].main": "a.com",
                   "traefik.http.routers.r.tls.domains[0].sans": "b.com,c.com"},
        "want": {"http": {"routers": {"r": {"tls": {"domains": [{"main": "a.com", "sans": ["b.com", "c.com"]}]}}}}},
    },
    {
        "desc": "section enabled with true, values stay strings",
        "labels": {"traefik.http.routers.r.tls": "true", "traefik.http.routers.r.priority": "10",
                   "traefik.api": "TRUE"},
        "want": {"http": {"routers": {"r": {"tls": {}, "priority": "10"}}}, "api": {}},
    },
    {
        "desc": "false drops the section even with keys under it",
        "labels": {"traefik.http.routers.r.tls": "false", "traefik.http.routers.r.tls.certresolver": "le",
                   "traefik.http.routers.r.rule": "x"},
        "want": {"http": {"routers": {"r": {"rule": "x"}}}},
    },
    {
        "desc": "empty header value kept (it removes the header)",
        "labels": {"traefik.http.middlewares.m.headers.customrequestheaders.X-Remove": "",
                   "traefik.http.middlewares.m.headers.customrequestheaders.X-Set": "v"},
        "want": {"http": {"middlewares": {"m": {"headers": {"customRequestHeaders": {"X-Remove": "", "X-Set": "v"}}}}}},
    },
    {
        "desc": "plugin options: nested strings and indexed lists, case kept",
        "labels": {
            "traefik.http.middlewares.m.plugin.myPlug.Answer": "42",
            "traefik.http.middlewares.m.plugin.myPlug.nested.Key": "v",
            "traefik.http.middlewares.m.plugin.myPlug.list[0]": "a",
            "traefik.http.middlewares.m.plugin.myPlug.list[1]": "b",
            "traefik.http.middlewares.m.plugin.myPlug.objs[0].name": "n",
        },
        "want": {"http": {"middlewares": {"m": {"plugin": {"myPlug": {
            "Answer": "42", "nested": {"Key": "v"}, "list": ["a", "b"], "objs": [{"name": "n"}]}}}}}},
    },
    {
        "desc": "empty list value gives an empty list",
        "labels": {"traefik.http.routers.r.entrypoints": ""},
        "want": {"http": {"routers": {"r": {"entryPoints": []}}}},
    },
    {
        "desc": "skipped provider keys and other prefixes are ignored",
        "labels": {"traefik.enable": "true", "traefik.docker.network": "n", "TRAEFIK.TAGS": "x",
                   "com.example.x": "y", "traefik": "z", "traefik.loglevel": "DEBUG"},
        "want": {"logLevel": "DEBUG"},
    },
]


@pytest.mark.parametrize("case", LABEL_CASES, ids=[c["desc"] for c in LABEL_CASES])
def test_parse_labels(case: dict[str, Any]) -> None:
    assert parse_labels(case["labels"], Root) == case["want"]


LABEL_ERROR_CASES = [
    {
        "desc": "every unknown key is reported with its path as written",
        "labels": {"traefik.http.routers.r.rul": "x", "traefik.http.servises.s.x": "y", "traefik.http.routers.r.rule": "ok"},
        "want": [("http.routers.r.rul", "unknown key", None), ("http.servises", "unknown key", None)],
    },
    {
        "desc": "a value has no sub-keys",
        "labels": {"traefik.http.routers.r.rule.x": "y"},
        "want": [("http.routers.r.rule", "is a single value and has no key 'x'", None)],
    },
    {
        "desc": "a list of sections needs indices",
        "labels": {"traefik.http.services.s.loadbalancer.servers": "http://a"},
        "want": [("http.services.s.loadbalancer.servers",
                  "a list of sections needs indexed keys, e.g. http.services.s.loadbalancer.servers[0]...", None)],
    },
    {
        "desc": "a name where an index is expected",
        "labels": {"traefik.http.services.s.loadbalancer.servers.first.url": "http://a"},
        "want": [("http.services.s.loadbalancer.servers.first",
                  "expected a list index, e.g. http.services.s.loadbalancer.servers[0]", None)],
    },
    {
        "desc": "a section takes only true or false",
        "labels": {"traefik.http.routers.r.tls": "yes please", "traefik.http.routers.r.rule": "x"},
        "want": [("http.routers.r.tls",
                  "a section takes true (enable with defaults) or false (disable), got 'yes please'", None)],
    },
    {
        "desc": "comma value and indexed items together",
        "labels": {"traefik.http.routers.r.entrypoints": "a", "traefik.http.routers.r.entrypoints[0]": "b"},
        "want": [("http.routers.r.entrypoints", "give either one comma-separated value or indexed items, not both", None)],
    },
]


@pytest.mark.parametrize("case", LABEL_ERROR_CASES, ids=[c["desc"] for c in LABEL_ERROR_CASES])
def test_parse_labels_errors(case: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_labels(case["labels"], Root)
    assert _problems(exc) == case["want"]
    assert all(p.source == "label" for p in exc.value.problems)


def test_labels_validate_to_typed_model() -> None:
    labels = {
        "traefik.http.routers.r.rule": "Host(`a`)",
        "traefik.http.routers.r.priority": "10",
        "traefik.http.routers.r.tls": "true",
        "traefik.http.services.s.loadbalancer.passhostheader": "false",
        "traefik.http.services.s.loadbalancer.interval": "1m30s",
        "traefik.http.services.s.loadbalancer.ports": "80, 443",
        "traefik.http.services.s.loadbalancer.servers[0].url": "http://a",
    }
    root = validate(Root, parse_labels(labels, Root), source="label")
    assert root.http is not None
    router = root.http.routers["r"]
    assert (router.priority, router.tls) == (10, RouterTLS())
    lb = root.http.services["s"].load_balancer
    assert lb == LoadBalancer(servers=[Server(url="http://a")], pass_host_header=False, interval=90.0, ports=[80, 443])


def test_flat_validation_errors_carry_paths() -> None:
    labels = {"traefik.http.routers.r.priority": "high", "traefik.http.services.s.loadbalancer.interval": "soon"}
    with pytest.raises(ConfigError) as exc:
        validate(Root, parse_labels(labels, Root), source="label")
    got = {(p.path, p.source) for p in exc.value.problems}
    assert got == {("http.routers.r.priority", "label"), ("http.routers.r.rule", "label"),
                   ("http.services.s.loadBalancer.interval", "label")}
    text = str(exc.value)
    assert "label: http.routers.r.priority: Input should be a valid integer" in text and "(got 'high')" in text
    assert "label: http.routers.r.rule: required key is missing" in text
    assert "invalid duration 'soon'" in text


# -- flat form: KV, env, flags ---------------------------------------------------------------------

KV_CASES = [
    {
        "desc": "numeric segments are list indices",
        "pairs": {"traefik/http/routers/r/entryPoints/0": "web", "traefik/http/routers/r/entryPoints/1": "websecure",
                  "traefik/http/services/s/loadBalancer/servers/0/url": "http://a",
                  "traefik/http/services/s/loadBalancer/servers/1/url": "http://b"},
        "want": {"http": {"routers": {"r": {"entryPoints": ["web", "websecure"]}},
                          "services": {"s": {"loadBalancer": {"servers": [{"url": "http://a"}, {"url": "http://b"}]}}}}},
    },
    {
        "desc": "comma value, other roots ignored, empty segments dropped",
        "pairs": {"traefik//http/routers/r/entrypoints": "a,b", "other/http/x": "1"},
        "want": {"http": {"routers": {"r": {"entryPoints": ["a", "b"]}}}},
    },
    {
        "desc": "numeric map keys stay names",
        "pairs": {"traefik/http/routers/200/rule": "x"},
        "want": {"http": {"routers": {"200": {"rule": "x"}}}},
    },
    {
        "desc": "plugin list from numeric segments",
        "pairs": {"traefik/http/middlewares/m/plugin/p/items/0": "a", "traefik/http/middlewares/m/plugin/p/items/1": "b"},
        "want": {"http": {"middlewares": {"m": {"plugin": {"p": {"items": ["a", "b"]}}}}}},
    },
]


@pytest.mark.parametrize("case", KV_CASES, ids=[c["desc"] for c in KV_CASES])
def test_parse_kv(case: dict[str, Any]) -> None:
    assert parse_kv(case["pairs"], Root) == case["want"]


def test_parse_kv_unknown_key() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_kv({"traefik/http/routers/r/rulez": "x"}, Root)
    assert _problems(exc) == [("http.routers.r.rulez", "unknown key", None)]
    assert str(exc.value) == "kv: http.routers.r.rulez: unknown key"


def test_flat_to_data_mixed_forms() -> None:
    items = [(["http", "services", "s", "loadBalancer", "servers", "0", "url"], "http://a"),
             (["http", "routers", "r", "entryPoints[0]"], "web")]
    assert flat_to_data(items, Root) == {"http": {
        "services": {"s": {"loadBalancer": {"servers": [{"url": "http://a"}]}}},
        "routers": {"r": {"entryPoints": ["web"]}}}}


def test_parse_env() -> None:
    environ = {
        "TRAEFIK_API_INSECURE": "true",
        "TRAEFIK_LOGLEVEL": "DEBUG",
        "TRAEFIK_HTTP_ROUTERS_WEB_RULE": "PathPrefix(`/`)",
        "TRAEFIK_HTTP_ROUTERS_WEB_TLS_DOMAINS_0_MAIN": "a.com",
        "TRAEFIK_UNRELATED": "x",
        "PATH": "/bin",
    }
    data = parse_env(environ, Root)
    assert data == {"api": {"insecure": "true"}, "logLevel": "DEBUG",
                    "http": {"routers": {"web": {"rule": "PathPrefix(`/`)", "tls": {"domains": [{"main": "a.com"}]}}}}}
    assert validate(Root, data).api == Api(insecure=True)


FLAG_CASES = [
    {"desc": "key=value and key value", "args": ["--loglevel=DEBUG", "--http.routers.r.rule", "Host(`a`)"],
     "want": {"logLevel": "DEBUG", "http": {"routers": {"r": {"rule": "Host(`a`)"}}}}},
    {"desc": "bare bool and bare section", "args": ["--api.insecure", "--http.routers.r.tls", "--api"],
     "want": {"api": {"insecure": "true"}, "http": {"routers": {"r": {"tls": {}}}}}},
    {"desc": "repeated list flag appends", "args": ["--http.routers.r.entrypoints=web", "-http.routers.r.entryPoints=ws"],
     "want": {"http": {"routers": {"r": {"entryPoints": ["web", "ws"]}}}}},
    {"desc": "skipped flag consumes its value", "args": ["--configFile", "t.yml", "--loglevel=INFO"],
     "want": {"logLevel": "INFO"}},
]


@pytest.mark.parametrize("case", FLAG_CASES, ids=[c["desc"] for c in FLAG_CASES])
def test_parse_flags(case: dict[str, Any]) -> None:
    assert parse_flags(case["args"], Root, skip={"configfile"}) == case["want"]


def test_parse_flags_errors() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_flags(["stray", "--loglevel"], Root)
    assert _problems(exc) == [("", "unexpected argument 'stray'", None), ("loglevel", "flag needs a value", None)]


# -- documents --------------------------------------------------------------------------------------

YAML_DOC = """\
http:
  routers:
    r1:
      rul: Host(`a`)
      entryPoints: [web]
      priority: high
  services:
    s:
      loadBalancer:
        servers:
          - url: http://a
          - weight: 2
"""

TOML_DOC = """\
[http.routers.r1]
rul = "Host(`a`)"
entryPoints = ["web"]
priority = "high"

[http.services.s.loadBalancer]
[[http.services.s.loadBalancer.servers]]
url = "http://a"
[[http.services.s.loadBalancer.servers]]
weight = 2
"""

WANT_DOC_PROBLEMS = {
    "yaml": [("http.routers.r1.rule", "required key is missing", 3),
             ("http.routers.r1.priority", "Input should be a valid integer, unable to parse string as an integer (got 'high')", 6),
             ("http.routers.r1.rul", "unknown key", 4),
             ("http.services.s.loadBalancer.servers[1].url", "required key is missing", 12)],
    "toml": [("http.routers.r1.rule", "required key is missing", 1),
             ("http.routers.r1.priority", "Input should be a valid integer, unable to parse string as an integer (got 'high')", 4),
             ("http.routers.r1.rul", "unknown key", 2),
             ("http.services.s.loadBalancer.servers[1].url", "required key is missing", 9)],
}


@pytest.mark.parametrize("fmt,text", [("yaml", YAML_DOC), ("toml", TOML_DOC)])
def test_document_errors_have_paths_and_lines(fmt: str, text: str) -> None:
    data, locator = load_text(text, fmt, source=f"dyn.{fmt}")
    with pytest.raises(ConfigError) as exc:
        validate(Root, data, source=f"dyn.{fmt}", locator=locator)
    assert sorted(_problems(exc)) == sorted(WANT_DOC_PROBLEMS[fmt])
    lines = [p.line or 0 for p in exc.value.problems]
    assert lines == sorted(lines)  # listed in document order
    rul_line = {"yaml": 4, "toml": 2}[fmt]
    assert f"dyn.{fmt}:{rul_line}: http.routers.r1.rul: unknown key" in str(exc.value)


SYNTAX_CASES = [
    {"desc": "yaml bad indentation", "fmt": "yaml", "text": "a:\n  b: 1\n c: 2\n", "line": 3},
    {"desc": "yaml duplicate key", "fmt": "yaml", "text": "http:\n  routers: {}\n  routers: {}\n", "line": 3},
    {"desc": "toml bad value", "fmt": "toml", "text": "[http]\nx = \n", "line": 2},
    {"desc": "yaml not a mapping", "fmt": "yaml", "text": "- a\n- b\n", "line": 1},
    {"desc": "two yaml documents", "fmt": "yaml", "text": "a: 1\n---\nb: 2\n", "line": 2},
]


@pytest.mark.parametrize("case", SYNTAX_CASES, ids=[c["desc"] for c in SYNTAX_CASES])
def test_syntax_errors_have_lines(case: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as exc:
        load_text(case["text"], case["fmt"], source="f")
    [problem] = exc.value.problems
    assert (problem.source, problem.line) == ("f", case["line"])
    assert str(problem).startswith(f"f:{case['line']}: ")


@pytest.mark.parametrize("fmt,text", [("yaml", ""), ("yaml", "# only a comment\n"), ("toml", ""), ("yml", "---\n")])
def test_empty_document_is_empty(fmt: str, text: str) -> None:
    data, _ = load_text(text, fmt)
    assert data == {}
    assert validate(Root, data) == Root()


def test_yaml_is_read_with_the_yaml_1_2_core_schema() -> None:
    data, _ = load_text("a: on\nb: yes\nc: 1:30\nd: 2024-01-02\ne: true\nf: 0x10\ng: 1.5\nh: 010\n", "yaml")
    assert data == {"a": "on", "b": "yes", "c": "1:30", "d": "2024-01-02", "e": True, "f": 16, "g": 1.5, "h": 10}


DOC_READ_CASES = [
    {
        "desc": "keys match case-insensitively, like Traefik's file provider",
        "text": "HTTP:\n  Routers:\n    R:\n      RULE: x\n      entrypoints: [web]\nLOGLEVEL: info\n",
        "want": Root(http=HTTP(routers={"R": Router(rule="x", entry_points=["web"])}), log_level="info"),
    },
    {
        "desc": "numbers and booleans are text where text is expected",
        "text": "http:\n  routers:\n    r:\n      rule: 42\n      entryPoints: [8080, true]\n",
        "want": Root(http=HTTP(routers={"r": Router(rule="42", entry_points=["8080", "true"])})),
    },
    {
        "desc": "null leaves fields and named sections unset; {} enables a section",
        "text": "api:\nlogLevel:\nhttp:\n  routers:\n    gone:\n    r:\n      rule: x\n      tls: {}\n",
        "want": Root(http=HTTP(routers={"r": Router(rule="x", tls=RouterTLS())})),
    },
    {
        "desc": "durations and plugin options",
        "text": "http:\n  services:\n    s:\n      loadBalancer:\n        interval: 1m30s\n"
                "  middlewares:\n    m:\n      plugin:\n        p:\n          n: 1\n          l: [a, 2]\n",
        "want": Root(http=HTTP(services={"s": Service(load_balancer=LoadBalancer(interval=90.0))},
                               middlewares={"m": Middleware(plugin={"p": {"n": 1, "l": ["a", 2]}})})),
    },
]


@pytest.mark.parametrize("case", DOC_READ_CASES, ids=[c["desc"] for c in DOC_READ_CASES])
def test_documents_read_like_traefik(case: dict[str, Any]) -> None:
    data, locator = load_text(case["text"], "yaml")
    assert validate(Root, data, locator=locator) == case["want"]


def test_error_path_keeps_the_users_spelling() -> None:
    text = "HTTP:\n  Routers:\n    r:\n      Priority: x\n      rule: y\n"
    data, locator = load_text(text, "yaml", source="c.yml")
    with pytest.raises(ConfigError) as exc:
        validate(Root, data, source="c.yml", locator=locator)
    assert _problems(exc) == [("HTTP.Routers.r.Priority",
                               "Input should be a valid integer, unable to parse string as an integer (got 'x')", 4)]


def test_keys_differing_only_in_case_are_duplicates() -> None:
    data, locator = load_text("logLevel: a\nloglevel: b\n", "yaml", source="c.yml")
    with pytest.raises(ConfigError) as exc:
        validate(Root, data, source="c.yml", locator=locator)
    assert _problems(exc) == [("loglevel", "duplicate key (also written as 'logLevel')", 2)]


def test_load_file_infers_the_format(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text("logLevel: DEBUG\n")
    (tmp_path / "b.TOML").write_text('logLevel = "INFO"\n')
    assert load_file(tmp_path / "a.yml")[0] == {"logLevel": "DEBUG"}
    assert load_file(str(tmp_path / "b.TOML"))[0] == {"logLevel": "INFO"}


@pytest.mark.parametrize("name,message", [("c.ini", "unsupported file extension '.ini'"), ("missing.yml", "cannot read the file")])
def test_load_file_errors(tmp_path: Path, name: str, message: str) -> None:
    (tmp_path / "c.ini").write_text("x")
    with pytest.raises(ConfigError) as exc:
        load_file(tmp_path / name)
    [problem] = exc.value.problems
    assert problem.source == str(tmp_path / name) and problem.message.startswith(message)


def test_toml_locator_handles_quoted_and_dotted_keys() -> None:
    text = '[http.routers."my.router"]\nrule = "x"\ntls.certResolver = "le"\n[[tls.certificates]]\ncertFile = "a"\n'
    _, locator = load_text(text, "toml")
    assert locator.line(("http", "routers", "my.router", "rule")) == 2
    assert locator.line(("http", "routers", "my.router", "tls", "certResolver")) == 3
    assert locator.line(("tls", "certificates", 0, "certFile")) == 5
    assert locator.line(("tls", "certificates", 0, "keyFile")) == 4  # nearest written ancestor
    assert locator.line(("nothing",)) is None


PROBLEM_TEXT_CASES = [
    (Problem("http.routers.r1.rul", "unknown key", "file.yml", 12), "file.yml:12: http.routers.r1.rul: unknown key"),
    (Problem("http.routers", "bad", "label"), "label: http.routers: bad"),
    (Problem("", "invalid YAML", "f.yml", 3), "f.yml:3: invalid YAML"),
    (Problem("a", "m", None, 7), "line 7: a: m"),
    (Problem("a", "m"), "a: m"),
]


@pytest.mark.parametrize("problem,text", PROBLEM_TEXT_CASES, ids=[t for _, t in PROBLEM_TEXT_CASES])
def test_problem_text(problem: Problem, text: str) -> None:
    assert str(problem) == text


def test_config_error_lists_every_problem() -> None:
    error = ConfigError([Problem("a", "x", "f", 1), Problem("b", "y", "f", 2)])
    assert str(error) == "2 configuration problems:\n  f:1: a: x\n  f:2: b: y"
    assert Locator({("a",): 3}).line("a.b[0]") == 3


def test_static_flags_and_env_on_the_real_model() -> None:
    """The command line and environment of a typical Traefik install decode into StaticConfig."""
    from traefikpy.config.static import StaticConfig

    args = ["--configFile=/etc/traefik.yml", "--entrypoints.web.address=:80", "--entryPoints.websecure.address", ":443",
            "--api.insecure", "--providers.docker", "--providers.docker.exposedbydefault=false",
            "--entrypoints.web.http.redirections.entrypoint.to=websecure"]
    static = validate(StaticConfig, parse_flags(args, StaticConfig, skip={"configfile"}), source="flag")
    assert (static.entry_points["web"].address, static.entry_points["websecure"].address) == (":80", ":443")
    assert static.api is not None and static.api.insecure
    assert static.providers is not None and static.providers.docker is not None
    assert static.providers.docker.exposed_by_default is False
    environ = {"TRAEFIK_ENTRYPOINTS_WEB_ADDRESS": ":8080", "TRAEFIK_API": "true",
               "TRAEFIK_ENTRYPOINTS_WEB_FORWARDEDHEADERS_TRUSTEDIPS": "127.0.0.1,10.0.0.0/8"}
    static = validate(StaticConfig, parse_env(environ, StaticConfig), source="env")
    assert static.api is not None
    assert static.entry_points["web"].forwarded_headers.trusted_ips == ["127.0.0.1", "10.0.0.0/8"]


SHAPE_CASES: list[tuple[str, Any, Shape]] = [
    ("optional model", Router | None, Shape("model", model=Router)),
    ("duration is a float scalar", Duration, Shape("scalar", scalar=float)),
    ("list of scalars", list[str], Shape("list", item=Shape("scalar", scalar=str))),
    ("map of models", dict[str, Server], Shape("dict", item=Shape("model", model=Server))),
    ("plugin options", dict[str, dict[str, Any]], Shape("dict", item=Shape("dict", item=Shape("any")))),
    ("literal", Literal["a", "b"], Shape("scalar", scalar=str)),
    ("mixed union is free-form", str | list[str], Shape("any")),
]


@pytest.mark.parametrize("desc,annotation,want", SHAPE_CASES, ids=[c[0] for c in SHAPE_CASES])
def test_shape_of(desc: str, annotation: Any, want: Shape) -> None:
    assert shape_of(annotation) == want
