"""docker-compose.yml and Dockerfile at the repository root: structure, and the labels decoded by
the Docker provider's translation into the routing the file's comments promise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from providers.docker_config import Container, DockerSettings, DockerTranslator
from traefikpy.config.base import dump
from traefikpy.config.sources import load_static

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def labels_of(service: dict[str, Any]) -> dict[str, str]:
    raw = service.get("labels") or {}
    if isinstance(raw, dict):
        return {str(k): str(v) for k, v in raw.items()}
    return dict(str(item).split("=", 1) for item in raw)


def test_router_service_is_a_read_only_socket_sidecar() -> None:
    router = compose()["services"]["traefikpy"]
    assert router["build"] == "."
    assert "/var/run/docker.sock:/var/run/docker.sock:ro" in router["volumes"]
    assert all(str(p).startswith("127.0.0.1:") for p in router["ports"])
    assert "127.0.0.1:8080:8080" in router["ports"]
    static = load_static(router["command"], {}, search=False)
    assert static.api is not None and static.api.insecure and static.api.dashboard
    docker = static.providers.docker
    assert docker is not None and not docker.exposed_by_default
    assert static.entry_points["web"].address == ":8000"
    assert router["healthcheck"]["test"][1:3] == ["traefikpy", "healthcheck"]


def test_dockerfile_builds_a_non_root_traefikpy_image() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    assert lines[0] == "FROM python:3.11-slim"
    assert any(line.startswith("RUN pip install .") for line in lines)
    user = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert user and user[-1] not in ("root", "0")
    assert lines[-1] == 'ENTRYPOINT ["traefikpy"]'
    copied = {line.split()[1] for line in lines if line.startswith("COPY ")}
    assert {"traefikpy", "providers", "middlewares", "pyproject.toml"} <= copied


def test_backend_labels_decode_into_the_documented_routes() -> None:
    data = compose()
    project = data["name"]
    router_cmd = data["services"]["traefikpy"]["command"]
    docker = load_static(router_cmd, {}, search=False).providers.docker
    assert docker is not None
    settings = DockerSettings(exposed_by_default=docker.exposed_by_default, default_rule=docker.default_rule,
                              constraints=docker.constraints, network=docker.network)
    containers = []
    for index, (name, service) in enumerate(sorted(data["services"].items()), start=10):
        labels = {"com.docker.compose.project": project, "com.docker.compose.service": name, **labels_of(service)}
        containers.append(Container(id=f"id{index}", name=f"{project}-{name}-1", labels=labels,
                                    networks=((f"{project}_default", f"192.0.2.{index}"),)))
        if name == "whoami-b":
            assert "python" in service["entrypoint"][0] and "whoami_app('B')" in service["entrypoint"][-1]
    snapshot = DockerTranslator(settings).build(containers)
    assert dict(snapshot.errors) == {}
    http = dump(snapshot.config)["http"]
    rules = {name: r["rule"] for name, r in http["routers"].items()}
    assert rules == {
        "whoami-a": "Host(`whoami-a.localhost`)",
        "whoami-b": "Host(`whoami-b.localhost`) || PathPrefix(`/b`)",
        "whoami-all": "PathPrefix(`/`)",
    }  # the router container itself has no traefik.enable: not exposed
    assert {n: r["service"] for n, r in http["routers"].items()} == {n: n for n in rules}
    servers = {name: [s["url"] for s in svc["loadBalancer"]["servers"]] for name, svc in http["services"].items()}
    a, b = (c.networks[0][1] for c in containers if c.labels["com.docker.compose.service"] in ("whoami-a", "whoami-b"))
    assert servers == {"whoami-a": [f"http://{a}:8080"], "whoami-b": [f"http://{b}:8080"],
                       "whoami-all": [f"http://{a}:8080", f"http://{b}:8080"]}
    assert http["middlewares"] == {"strip-b": {"stripPrefix": {"prefixes": ["/b"]}}}
    assert http["routers"]["whoami-b"]["middlewares"] == ["strip-b"]
    assert http["services"]["whoami-a"]["loadBalancer"]["healthCheck"]["path"] == "/health"


def test_demo_backend_command_imports() -> None:
    from traefikpy.quickstart import whoami_app

    assert callable(whoami_app)
