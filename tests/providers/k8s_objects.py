"""Builders of Kubernetes objects (JSON dicts as the API server sends them) for the Ingress tests."""

from __future__ import annotations

import base64
from typing import Any


def ingress(name: str, rules: list[dict[str, Any]] | None = None, *, namespace: str = "default",
            annotations: dict[str, str] | None = None, labels: dict[str, str] | None = None,
            class_name: str | None = None, tls: list[dict[str, Any]] | None = None,
            default_backend: dict[str, Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if rules is not None:
        spec["rules"] = rules
    if class_name is not None:
        spec["ingressClassName"] = class_name
    if tls is not None:
        spec["tls"] = tls
    if default_backend is not None:
        spec["defaultBackend"] = default_backend
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotations:
        meta["annotations"] = annotations
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta, "spec": spec}


def backend(service: str, port: int | str) -> dict[str, Any]:
    ref = {"number": port} if isinstance(port, int) else {"name": port}
    return {"service": {"name": service, "port": ref}}


def rule(host: str, *paths: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"http": {"paths": list(paths)}}
    if host:
        out["host"] = host
    return out


def path(value: str, service: str, port: int | str, path_type: str = "Prefix") -> dict[str, Any]:
    out: dict[str, Any] = {"pathType": path_type, "backend": backend(service, port)}
    if value:
        out["path"] = value
    return out


def service(name: str, ports: list[dict[str, Any]] | None = None, *, namespace: str = "default",
            annotations: dict[str, str] | None = None, type_: str = "ClusterIP", cluster_ip: str = "10.96.0.10",
            external_name: str = "", lb_status: list[dict[str, str]] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": type_, "ports": ports or [{"name": "http", "port": 80}]}
    if type_ != "ExternalName":
        spec["clusterIP"] = cluster_ip
    if external_name:
        spec["externalName"] = external_name
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotations:
        meta["annotations"] = annotations
    out: dict[str, Any] = {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}
    if lb_status is not None:
        out["status"] = {"loadBalancer": {"ingress": lb_status}}
    return out


def endpoint(address: str, ready: bool | None = True, serving: bool | None = None,
             terminating: bool | None = None) -> dict[str, Any]:
    cond = {k: v for k, v in (("ready", ready), ("serving", serving), ("terminating", terminating)) if v is not None}
    return {"addresses": [address], "conditions": cond}


def slice_(name: str, service_name: str, endpoints: list[dict[str, Any]], ports: list[tuple[str, int]],
           *, namespace: str = "default", address_type: str = "IPv4") -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": address_type,
        "metadata": {"name": name, "namespace": namespace, "labels": {"kubernetes.io/service-name": service_name}},
        "ports": [{"name": n, "port": p, "protocol": "TCP"} for n, p in ports],
        "endpoints": endpoints,
    }


def tls_secret(name: str, cert_pem: bytes, key_pem: bytes, *, namespace: str = "default") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": name, "namespace": namespace},
            "data": {"tls.crt": base64.b64encode(cert_pem).decode(), "tls.key": base64.b64encode(key_pem).decode()}}


def ingress_class(name: str, controller: str = "traefik.io/ingress-controller", default: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if default:
        meta["annotations"] = {"ingressclass.kubernetes.io/is-default-class": "true"}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": meta,
            "spec": {"controller": controller}}
