"""The manifests of examples/kubernetes/ validate against the Kubernetes schemas (kubernetes-validate,
strict: unknown fields are errors), keep the promised properties (least privilege, non-root,
read-only root, /ping probes), and the Deployment's flags are a valid traefikpy static configuration
whose Ingress provider handles the example Ingress."""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from providers.kubernetes_translate import Cluster, Settings, translate
from tests.providers.k8s_objects import endpoint, slice_
from traefikpy.config.sources import load_static

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "kubernetes"
K8S_VERSION = "1.30"


def documents() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for file in sorted(EXAMPLES.glob("*.yaml")):
        for doc in yaml.safe_load_all(file.read_text()):
            if doc:
                out.append((f"{file.name}:{doc['kind']}/{doc['metadata']['name']}", doc))
    return out


DOCS = documents()


def by_kind(kind: str) -> list[dict[str, Any]]:
    return [d for _, d in DOCS if d["kind"] == kind]


def test_every_kind_is_there() -> None:
    kinds = {d["kind"] for _, d in DOCS}
    assert {"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "IngressClass", "Deployment",
            "Service", "Ingress"} <= kinds


@pytest.mark.parametrize(("name", "doc"), DOCS, ids=[n for n, _ in DOCS])
def test_validates_against_kubernetes_schema(name: str, doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_validation_catches_mistakes() -> None:
    deployment = copy.deepcopy(by_kind("Deployment")[0])
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)
    ingress = copy.deepcopy(by_kind("Ingress")[0])
    ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["prot"] = {"number": 80}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(ingress, K8S_VERSION, strict=True)


def test_cluster_role_is_least_privilege() -> None:
    (role,) = by_kind("ClusterRole")
    granted = {(group, res, verb) for rule in role["rules"] for group in rule["apiGroups"]
               for res in rule["resources"] for verb in rule["verbs"]}
    assert not any("*" in entry for entry in granted)
    writes = {(g, r, v) for g, r, v in granted if v not in ("get", "list", "watch")}
    assert writes == {("networking.k8s.io", "ingresses/status", "update")}
    reads = {r for _, r, v in granted if v in ("list", "watch")}
    assert reads == {"services", "secrets", "endpointslices", "ingresses", "ingressclasses"}


def test_deployment_is_hardened_and_probes_ping() -> None:
    (deployment,) = [d for d in by_kind("Deployment") if d["metadata"]["name"] == "traefikpy"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/ping"
        assert container[probe]["httpGet"]["port"] == "traefik"
    assert ports["traefik"] == 8080 and all(p > 1024 for p in ports.values())  # non-root can bind them
    assert pod["serviceAccountName"] == by_kind("ServiceAccount")[0]["metadata"]["name"]


def test_deployment_flags_are_a_working_static_configuration() -> None:
    (deployment,) = [d for d in by_kind("Deployment") if d["metadata"]["name"] == "traefikpy"]
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    static = load_static(list(args), {}, search=False)
    ingress_cfg = static.providers.kubernetes_ingress
    assert ingress_cfg is not None
    assert ingress_cfg.ingress_class == by_kind("IngressClass")[0]["metadata"]["name"]
    assert static.ping is not None and static.ping.entry_point == "traefik"
    assert static.entry_points["traefik"].address == ":8080"
    namespace, service_name = ingress_cfg.ingress_endpoint.published_service.split("/") \
        if ingress_cfg.ingress_endpoint else ("", "")
    assert any(s["metadata"]["name"] == service_name and s["metadata"]["namespace"] == namespace
               for s in by_kind("Service"))

    # The example Ingress is handled: IngressClass controller, class name, Service port by name, TLS.
    cluster = Cluster()
    for ic in by_kind("IngressClass"):
        cluster.ingress_classes[ic["metadata"]["name"]] = ic
    for doc in by_kind("Service") + by_kind("Ingress"):
        store = cluster.services if doc["kind"] == "Service" else cluster.ingresses
        store[(doc["metadata"]["namespace"], doc["metadata"]["name"])] = doc
    (ing,) = by_kind("Ingress")
    secret_name = ing["spec"]["tls"][0]["secretName"]
    pem = "-----BEGIN X-----\nAA\n-----END X-----\n"
    cluster.secrets[("default", secret_name)] = {"metadata": {"name": secret_name, "namespace": "default"},
                                                 "data": {"tls.crt": base64.b64encode(pem.encode()).decode(),
                                                          "tls.key": base64.b64encode(pem.encode()).decode()}}
    cluster.endpoint_slices[("default", "whoami-x")] = slice_("whoami-x", "whoami", [endpoint("10.0.0.1")],
                                                              [("http", 8080)])
    result = translate(cluster, Settings(ingress_class=ingress_cfg.ingress_class))
    assert result.warnings == []
    router = result.config.http.routers["default-whoami-whoami-example-com"]
    assert router.rule == "Host(`whoami.example.com`) && PathPrefix(`/`)"
    assert router.entry_points == ["websecure"] and router.tls is not None
    assert len(result.config.tls.certificates) == 1
