"""Docker translation (providers.docker_config + providers.labels): containers → one snapshot.

Addresses are documentation ranges (192.0.2.0/24, 2001:db8::/32): these tests never connect.
"""

from __future__ import annotations

from typing import Any

import pytest

from providers.docker_config import (
    Container,
    DockerSettings,
    DockerTranslator,
    Port,
    parse_container,
    relevant_event,
)
from traefikpy.config.base import dump


def ctr(name: str = "app", cid: str = "c1", **kw: Any) -> Container:
    kw.setdefault("networks", (("bridge", "192.0.2.10"),))
    kw.setdefault("ports", (Port(80, "tcp"),))
    return Container(id=cid, name=name, **kw)


def compose(service: str, project: str, **labels: str) -> dict[str, str]:
    return {"com.docker.compose.service": service, "com.docker.compose.project": project, **labels}


def lb(*urls: str, **extra: Any) -> dict[str, Any]:
    servers = {"servers": [{"url": u} for u in urls]} if urls else {}
    return {"loadBalancer": {**servers, **extra}}


CASES: list[dict[str, Any]] = [
    {"desc": "no labels: router and service named after the container, lowest exposed port",
     "containers": [ctr(ports=(Port(8080, "tcp"), Port(443, "tcp")))],
     "http": {"routers": {"app": {"rule": "Host(`app`)", "service": "app"}},
              "services": {"app": lb("http://192.0.2.10:443")}}},
    {"desc": "compose containers are named service-project",
     "containers": [ctr("demo-web-1", labels=compose("web", "demo"))],
     "http": {"routers": {"web-demo": {"rule": "Host(`web-demo`)", "service": "web-demo"}},
              "services": {"web-demo": lb("http://192.0.2.10:80")}}},
    {"desc": "port label on a named service; the default router uses it",
     "containers": [ctr(labels={"traefik.http.services.api.loadbalancer.server.port": "9000"})],
     "http": {"routers": {"app": {"rule": "Host(`app`)", "service": "api"}},
              "services": {"api": lb("http://192.0.2.10:9000")}}},
    {"desc": "scheme and weight shortcuts, any case",
     "containers": [ctr(labels={"traefik.http.services.api.loadBalancer.server.scheme": "https",
                                "traefik.http.services.api.loadbalancer.server.weight": "3"})],
     "http": {"routers": {"app": {"rule": "Host(`app`)", "service": "api"}},
              "services": {"api": {"loadBalancer": {"servers": [{"url": "https://192.0.2.10:80", "weight": 3}]}}}}},
    {"desc": "server.url shortcut is used as is",
     "containers": [ctr(labels={"traefik.http.services.api.loadbalancer.server.url": "http://backend.test:81"})],
     "http": {"routers": {"app": {"rule": "Host(`app`)", "service": "api"}},
              "services": {"api": lb("http://backend.test:81")}}},
    {"desc": "explicit router with rule, entrypoints and middleware, other load-balancer options",
     "containers": [ctr(labels={
         "traefik.http.routers.r.rule": "PathPrefix(`/api`)",
         "traefik.http.routers.r.entrypoints": "web,websecure",
         "traefik.http.routers.r.middlewares": "strip",
         "traefik.http.middlewares.strip.stripprefix.prefixes": "/api",
         "traefik.http.services.api.loadbalancer.passhostheader": "false",
     })],
     "http": {"routers": {"r": {"rule": "PathPrefix(`/api`)", "service": "api", "entryPoints": ["web", "websecure"],
                                "middlewares": ["strip"]}},
              "services": {"api": lb("http://192.0.2.10:80", passHostHeader=False)},
              "middlewares": {"strip": {"stripPrefix": {"prefixes": ["/api"]}}}}},
    {"desc": "two services and no router: no router is created",
     "containers": [ctr(labels={"traefik.http.services.a.loadbalancer.server.port": "1",
                                "traefik.http.services.b.loadbalancer.server.port": "2"})],
     "http": {"routers": {}, "services": {"a": lb("http://192.0.2.10:1"), "b": lb("http://192.0.2.10:2")}}},
    {"desc": "two services and a router without service: the router is dropped with an error",
     "containers": [ctr(labels={"traefik.http.services.a.loadbalancer.server.port": "1",
                                "traefik.http.services.b.loadbalancer.server.port": "2",
                                "traefik.http.routers.r.rule": "Host(`x`)"})],
     "http": {"routers": {}, "services": {"a": lb("http://192.0.2.10:1"), "b": lb("http://192.0.2.10:2")}},
     "errors": {"http.routers.r": "too many services"}},
    {"desc": "two routers each naming their service",
     "containers": [ctr(labels={"traefik.http.services.a.loadbalancer.server.port": "1",
                                "traefik.http.services.b.loadbalancer.server.port": "2",
                                "traefik.http.routers.ra.service": "a", "traefik.http.routers.rb.service": "b",
                                "traefik.http.routers.rb.rule": "Host(`b`)"})],
     "http": {"routers": {"ra": {"rule": "Host(`app`)", "service": "a"}, "rb": {"rule": "Host(`b`)", "service": "b"}},
              "services": {"a": lb("http://192.0.2.10:1"), "b": lb("http://192.0.2.10:2")}}},
    {"desc": "defaultRule template with labels",
     "settings": DockerSettings(default_rule='Host(`{{ .Name }}.{{ index .Labels "domain" }}`)'),
     "containers": [ctr(labels={"domain": "example.com"})],
     "http": {"routers": {"app": {"rule": "Host(`app.example.com`)", "service": "app"}},
              "services": {"app": lb("http://192.0.2.10:80")}}},
    {"desc": "defaultRule failing at execution drops the router",
     "settings": DockerSettings(default_rule="Host(`{{ lower .Labels.domain }}`)"),
     "containers": [ctr()],
     "http": {"routers": {}, "services": {"app": lb("http://192.0.2.10:80")}},
     "errors": {"http.routers.app": "invalid value; expected string"}},
    {"desc": "traefik.enable=false hides a container",
     "containers": [ctr(labels={"traefik.enable": "false"})], "http": {"routers": {}, "services": {}}},
    {"desc": "exposedByDefault=false needs traefik.enable=true",
     "settings": DockerSettings(exposed_by_default=False),
     "containers": [ctr("a", "1"), ctr("b", "2", labels={"traefik.enable": "true"})],
     "http": {"routers": {"b": {"rule": "Host(`b`)", "service": "b"}}, "services": {"b": lb("http://192.0.2.10:80")}}},
    {"desc": "constraints on labels",
     "settings": DockerSettings(constraints="Label(`zone`, `public`) && !LabelRegex(`tier`, `^db`)"),
     "containers": [ctr("a", "1", labels={"zone": "public"}), ctr("b", "2", labels={"zone": "private"}),
                    ctr("c", "3", labels={"zone": "public", "tier": "db-main"})],
     "http": {"routers": {"a": {"rule": "Host(`a`)", "service": "a"}}, "services": {"a": lb("http://192.0.2.10:80")}}},
    {"desc": "unhealthy and starting containers are excluded",
     "containers": [ctr("a", "1", health="unhealthy"), ctr("b", "2", health="starting"), ctr("c", "3", health="healthy")],
     "http": {"routers": {"c": {"rule": "Host(`c`)", "service": "c"}}, "services": {"c": lb("http://192.0.2.10:80")}}},
    {"desc": "allowEmptyServices keeps an unhealthy container's service without servers",
     "settings": DockerSettings(allow_empty_services=True),
     "containers": [ctr(health="unhealthy")],
     "http": {"routers": {"app": {"rule": "Host(`app`)", "service": "app"}}, "services": {"app": lb()}}},
    {"desc": "stopped containers are excluded; allownonrunning keeps routing without servers",
     "containers": [ctr("a", "1", state="exited"),
                    ctr("b", "2", state="exited", labels={"traefik.docker.allownonrunning": "true"})],
     "http": {"routers": {"b": {"rule": "Host(`b`)", "service": "b"}}, "services": {"b": lb()}}},
    {"desc": "traefik.docker.network picks the network",
     "containers": [ctr(networks=(("back", "192.0.2.20"), ("front", "192.0.2.30")),
                        labels={"traefik.docker.network": "front"})],
     "http": {"routers": {"app": {"rule": "Host(`app`)", "service": "app"}}, "services": {"app": lb("http://192.0.2.30:80")}}},
    {"desc": "provider network setting, unknown network falls back to the first by name",
     "settings": DockerSettings(network="nope"),
     "containers": [ctr(networks=(("back", "192.0.2.20"), ("front", "192.0.2.30")))],
     "http": {"routers": {"app": {"rule": "Host(`app`)", "service": "app"}}, "services": {"app": lb("http://192.0.2.20:80")}}},
    {"desc": "host networking uses the host address and the port label",
     "settings": DockerSettings(host_ip="127.0.0.1"),
     "containers": [ctr(network_mode="host", networks=(("host", ""),), ports=(),
                        labels={"traefik.http.services.app.loadbalancer.server.port": "8081"})],
     "http": {"routers": {"app": {"rule": "Host(`app`)", "service": "app"}}, "services": {"app": lb("http://127.0.0.1:8081")}}},
    {"desc": "network shared with another container",
     "containers": [ctr("side", "c2", network_mode="container:c9", networks=()),
                    ctr("main", "c9", state="exited", networks=(("bridge", "192.0.2.9"),))],
     "http": {"routers": {"side": {"rule": "Host(`side`)", "service": "side"}},
              "services": {"side": lb("http://192.0.2.9:80")}}},
    {"desc": "IPv6-only network address gets brackets",
     "containers": [ctr(networks=(("v6", "2001:db8::5"),))],
     "http": {"routers": {"app": {"rule": "Host(`app`)", "service": "app"}}, "services": {"app": lb("http://[2001:db8::5]:80")}}},
    {"desc": "useBindPortIP uses a specific host binding",
     "settings": DockerSettings(use_bind_port_ip=True),
     "containers": [ctr("a", "1", ports=(Port(80, "tcp", (("127.0.0.1", "8080"),)),)),
                    ctr("b", "2", ports=(Port(80, "tcp", (("0.0.0.0", "8081"),)),))],
     "http": {"routers": {"a": {"rule": "Host(`a`)", "service": "a"}, "b": {"rule": "Host(`b`)", "service": "b"}},
              "services": {"a": lb("http://127.0.0.1:8080"), "b": lb("http://192.0.2.10:80")}}},
    {"desc": "replicas of a compose service join one service",
     "containers": [ctr("demo-web-1", "c1", labels=compose("web", "demo"), networks=(("n", "192.0.2.1"),)),
                    ctr("demo-web-2", "c2", labels=compose("web", "demo"), networks=(("n", "192.0.2.2"),))],
     "http": {"routers": {"web-demo": {"rule": "Host(`web-demo`)", "service": "web-demo"}},
              "services": {"web-demo": lb("http://192.0.2.1:80", "http://192.0.2.2:80")}}},
    {"desc": "replicas defining one router differently: the router is left out with an error",
     "containers": [ctr("a", "c1", labels={"traefik.http.routers.r.rule": "Host(`a`)", "traefik.http.routers.r.service": "s",
                                             "traefik.http.services.s.loadbalancer.server.port": "80"}),
                    ctr("b", "c2", labels={"traefik.http.routers.r.rule": "Host(`b`)", "traefik.http.routers.r.service": "s",
                                             "traefik.http.services.s.loadbalancer.server.port": "80"},
                        networks=(("n", "192.0.2.2"),))],
     "http": {"routers": {}, "services": {"s": lb("http://192.0.2.10:80", "http://192.0.2.2:80")}},
     "errors": {"http.routers.r": "defined multiple times"}},
    {"desc": "TCP only: no HTTP router or service",
     "containers": [ctr(labels={"traefik.tcp.routers.db.rule": "HostSNI(`*`)",
                                "traefik.tcp.services.db.loadbalancer.server.port": "5432"})],
     "http": {"routers": {}, "services": {}},
     "tcp": {"routers": {"db": {"rule": "HostSNI(`*`)", "service": "db"}},
             "services": {"db": {"loadBalancer": {"servers": [{"address": "192.0.2.10:5432"}]}}}}},
    {"desc": "TCP router without service gets the default TCP service; server.tls",
     "containers": [ctr(labels={"traefik.tcp.routers.t.rule": "HostSNI(`a`)", "traefik.tcp.routers.t.tls": "true",
                                "traefik.tcp.services.app.loadbalancer.server.tls": "true"})],
     "http": {"routers": {}, "services": {}},
     "tcp": {"routers": {"t": {"rule": "HostSNI(`a`)", "service": "app", "tls": {}}},
             "services": {"app": {"loadBalancer": {"servers": [{"address": "192.0.2.10:80", "tls": True}]}}}}},
    {"desc": "TCP router without rule is dropped",
     "containers": [ctr(labels={"traefik.tcp.routers.t.entrypoints": "tcp"})],
     "http": {"routers": {}, "services": {}},
     "tcp": {"routers": {}, "services": {"app": {"loadBalancer": {"servers": [{"address": "192.0.2.10:80"}]}}}},
     "errors": {"tcp.routers.t": "empty rule"}},
    {"desc": "UDP router gets the default UDP service",
     "containers": [ctr(labels={"traefik.udp.routers.dns.entrypoints": "dns",
                                "traefik.udp.services.app.loadbalancer.server.port": "53"})],
     "http": {"routers": {}, "services": {}},
     "udp": {"routers": {"dns": {"entryPoints": ["dns"], "service": "app"}},
             "services": {"app": {"loadBalancer": {"servers": [{"address": "192.0.2.10:53"}]}}}}},
    {"desc": "TCP and an HTTP middleware: HTTP is built too",
     "containers": [ctr(labels={"traefik.tcp.routers.t.rule": "HostSNI(`*`)",
                                "traefik.http.middlewares.m.headers.customrequestheaders.X-A": "1"})],
     "http": {"routers": {"app": {"rule": "Host(`app`)", "service": "app"}}, "services": {"app": lb("http://192.0.2.10:80")}},
     "tcp": {"routers": {"t": {"rule": "HostSNI(`*`)", "service": "app"}},
             "services": {"app": {"loadBalancer": {"servers": [{"address": "192.0.2.10:80"}]}}}}},
    {"desc": "labels outside traefik.http/tcp/udp/tls are not routing",
     "containers": [ctr(labels={"traefik.foo": "bar", "other.label": "x", "traefik.docker.network": "bridge"})],
     "http": {"routers": {"app": {"rule": "Host(`app`)", "service": "app"}}, "services": {"app": lb("http://192.0.2.10:80")}}},
]


def section(config: Any, name: str) -> dict[str, Any]:
    data = dump(config).get(name, {})
    return {k: data.get(k, {}) for k in ("routers", "services", "middlewares") if k in data}


@pytest.mark.parametrize("case", CASES, ids=[c["desc"] for c in CASES])
def test_translation(case: dict[str, Any]) -> None:
    snapshot = DockerTranslator(case.get("settings", DockerSettings())).build(case["containers"])
    for name in ("http", "tcp", "udp"):
        if name in case:
            got = section(snapshot.config, name)
            want = case[name]
            assert {k: got.get(k, {}) for k in want} == want, name
    errors = case.get("errors", {})
    assert set(snapshot.errors) == set(errors)
    for key, fragment in errors.items():
        assert any(fragment in m for m in snapshot.errors[key]), snapshot.errors[key]


PROBLEMS = [
    {"desc": "no port anywhere", "labels": {}, "ports": (), "msg": "port is missing"},
    {"desc": "no IP address", "labels": {}, "networks": (), "msg": "unable to find the IP address"},
    {"desc": "unknown routing key", "labels": {"traefik.http.routers.r.rul": "Host(`x`)"}, "msg": "unknown key"},
    {"desc": "bad value type", "labels": {"traefik.http.routers.r.priority": "high"}, "msg": "priority"},
    {"desc": "weighted services are not available with labels",
     "labels": {"traefik.http.services.w.weighted.services[0].name": "a"}, "msg": "only loadBalancer services"},
    {"desc": "servers transports are not available with labels",
     "labels": {"traefik.http.serverstransports.t.insecureskipverify": "true"}, "msg": "serversTransports cannot"},
    {"desc": "servers list is not available with labels",
     "labels": {"traefik.http.services.s.loadbalancer.servers[0].url": "http://x"}, "msg": "cannot list servers"},
    {"desc": "unknown server shortcut", "labels": {"traefik.http.services.s.loadbalancer.server.host": "x"},
     "msg": "unknown server option"},
    {"desc": "url with port", "labels": {"traefik.http.services.s.loadbalancer.server.url": "http://x",
                                         "traefik.http.services.s.loadbalancer.server.port": "1"}, "msg": "cannot be combined"},
    {"desc": "unknown traefik.docker option", "labels": {"traefik.docker.netwrk": "x"}, "msg": "unknown Docker option"},
    {"desc": "bad traefik.enable", "labels": {"traefik.enable": "yes"}, "msg": "invalid boolean"},
]


@pytest.mark.parametrize("case", PROBLEMS, ids=[c["desc"] for c in PROBLEMS])
def test_problem_skips_the_container_and_is_reported(case: dict[str, Any]) -> None:
    kw = {k: case[k] for k in ("ports", "networks") if k in case}
    bad = ctr("bad", "c1", labels=case["labels"], **kw)
    good = ctr("good", "c2")
    snapshot = DockerTranslator(DockerSettings()).build([bad, good])
    assert set(snapshot.config.http.routers) == {"good"}
    assert set(snapshot.errors) == {"container.bad-c1"}
    assert any(case["msg"] in m for m in snapshot.errors["container.bad-c1"]), snapshot.errors


def test_parse_container_from_inspect_document() -> None:
    doc = {
        "Id": "abc", "Name": "/demo-web-1",
        "State": {"Status": "running", "Running": True, "Health": {"Status": "healthy"}},
        "Config": {"Labels": {"a": "b"}},
        "HostConfig": {"NetworkMode": "demo_default"},
        "NetworkSettings": {
            "Ports": {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18080"}], "53/udp": None},
            "Networks": {"demo_default": {"IPAddress": "192.0.2.3"}, "v6": {"IPAddress": "", "GlobalIPv6Address": "2001:db8::3"}},
        },
    }
    c = parse_container(doc)
    assert (c.id, c.name, c.state, c.health, c.network_mode) == ("abc", "demo-web-1", "running", "healthy", "demo_default")
    assert c.labels == {"a": "b"}
    assert c.networks == (("demo_default", "192.0.2.3"), ("v6", "2001:db8::3"))
    assert c.ports == (Port(53, "udp"), Port(8080, "tcp", (("127.0.0.1", "18080"),)))
    empty = parse_container({"Id": "x"})
    assert (empty.name, empty.labels, empty.networks, empty.ports, empty.health) == ("", {}, (), (), "")


EVENTS = [
    {"desc": "start", "event": {"Type": "container", "Action": "start", "Actor": {"ID": "c1"}}, "id": "c1"},
    {"desc": "die", "event": {"Type": "container", "Action": "die", "Actor": {"ID": "c1"}}, "id": "c1"},
    {"desc": "health status", "event": {"Type": "container", "Action": "health_status: unhealthy", "Actor": {"ID": "c1"}},
     "id": "c1"},
    {"desc": "destroy", "event": {"Type": "container", "Action": "destroy", "Actor": {"ID": "c1"}}, "id": "c1"},
    {"desc": "rename", "event": {"Type": "container", "Action": "rename", "Actor": {"ID": "c1"}}, "id": "c1"},
    {"desc": "old API without Type", "event": {"status": "start", "id": "c1"}, "id": "c1"},
    {"desc": "health check exec is noise", "event": {"Type": "container", "Action": "exec_start: false", "Actor": {"ID": "c1"}},
     "id": None},
    {"desc": "create changes nothing (not running)", "event": {"Type": "container", "Action": "create", "Actor": {"ID": "c1"}},
     "id": None},
    {"desc": "network connect", "event": {"Type": "network", "Action": "connect",
                                          "Actor": {"ID": "n1", "Attributes": {"container": "c1"}}}, "id": "c1"},
    {"desc": "network create is noise", "event": {"Type": "network", "Action": "create", "Actor": {"ID": "n1"}}, "id": None},
    {"desc": "image events are noise", "event": {"Type": "image", "Action": "pull", "Actor": {"ID": "i"}}, "id": None},
]


@pytest.mark.parametrize("case", EVENTS, ids=[c["desc"] for c in EVENTS])
def test_relevant_events(case: dict[str, Any]) -> None:
    assert relevant_event(case["event"]) == case["id"]


HOSTS = [
    {"desc": "no entry: loopback", "text": "127.0.0.1 localhost\n", "want": "127.0.0.1"},
    {"desc": "host.docker.internal", "text": "127.0.0.1 localhost\n192.0.2.254 host.docker.internal\n", "want": "192.0.2.254"},
    {"desc": "podman's name", "text": "192.0.2.9 other host.containers.internal # comment\n", "want": "192.0.2.9"},
    {"desc": "commented out", "text": "# 192.0.2.1 host.docker.internal\n", "want": "127.0.0.1"},
]


@pytest.mark.parametrize("case", HOSTS, ids=[c["desc"] for c in HOSTS])
def test_host_gateway_ip_reads_the_hosts_file_only(case: dict[str, Any], tmp_path: Any) -> None:
    from providers.docker import host_gateway_ip

    hosts = tmp_path / "hosts"
    hosts.write_text(case["text"])
    assert host_gateway_ip(str(hosts)) == case["want"]
    assert host_gateway_ip(str(tmp_path / "missing")) == "127.0.0.1"


def test_from_static_flags() -> None:
    from providers.docker import from_static
    from traefikpy.config.sources import load_static

    static = load_static([
        "--providers.docker.endpoint=tcp://127.0.0.1:2375", "--providers.docker.exposedByDefault=false",
        "--providers.docker.network=front", "--providers.docker.constraints=Label(`a`,`b`)",
        "--providers.docker.allowEmptyServices=true", "--providers.docker.useBindPortIP=true",
        "--providers.docker.defaultRule=Host(`{{ .Name }}.local`)", "--providers.docker.watch=false",
        "--providers.docker.httpClientTimeout=5s",
    ], {}, search=False)
    assert static.providers.docker is not None
    provider = from_static(static.providers.docker)
    assert provider.name == "docker" and provider.throttle is None
    assert provider.endpoint == "tcp://127.0.0.1:2375" and provider.watch_events is False
    s = provider.settings
    assert (s.exposed_by_default, s.network, s.constraints, s.allow_empty_services, s.use_bind_port_ip) == (
        False, "front", "Label(`a`,`b`)", True, True)
    assert provider.translator.rule.render({"Name": "x", "ContainerName": "x", "Labels": {}}) == "Host(`x.local`)"
    bad = load_static(["--providers.docker.constraints=Label(`a`)"], {}, search=False).providers.docker
    assert bad is not None
    with pytest.raises(ValueError, match="takes 2 arguments"):
        from_static(bad)
