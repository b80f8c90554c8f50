"""Kubernetes Ingress provider, pure half: cluster objects (JSON dicts) -> :class:`DynamicConfig`.

No I/O here: :func:`translate` takes what the watch loop (:mod:`providers.kubernetes_ingress`)
keeps in memory -- Ingresses, IngressClasses, Services, EndpointSlices and Secrets as the API
server sends them (camelCase JSON) -- and returns the configuration Traefik's ``kubernetes``
provider would build from them (``pkg/provider/kubernetes/ingress``):

- an Ingress is handled when its ``spec.ingressClassName`` names an IngressClass whose
  controller is ``traefik.io/ingress-controller`` (or ours, ``traefikpy.io/ingress-controller``),
  filtered by ``ingressClass`` when set; without a class name, when its
  ``kubernetes.io/ingress.class`` annotation equals ``ingressClass`` (``traefik`` or none when
  ``ingressClass`` is empty), or when a handled IngressClass is marked default;
- one router per rule path, named ``<namespace>-<ingress>-<host><path>`` normalized (two paths
  giving the same name get ``-<sha256(rule)[:10 bytes]>``), rule ``Host`` (``HostRegexp`` for a
  ``*.`` wildcard host) ``&&`` the path matcher: ``Exact`` -> ``Path``, ``Prefix`` -> ``PathPrefix``
  (element-wise ``(Path(p) || PathPrefix(p/))`` with ``strictPrefixMatching``),
  ``ImplementationSpecific``/empty -> the ``router.pathmatcher`` annotation (default ``PathPrefix``);
- one service per backend ``<namespace>-<service>-<port name or number>``: the ready or serving
  endpoints of the Service's EndpointSlices for that port (terminating ones are left out, see
  :func:`_endpoints`), the ClusterIP with ``nativeLB``, or ``externalName`` when allowed;
- ``spec.defaultBackend`` of an Ingress without rules: router ``default-router`` (lowest
  priority, ``PathPrefix(`/`)``) to service ``default-backend``;
- ``spec.tls[].secretName``: the Secret's ``tls.crt``/``tls.key`` become ``tls.certificates``
  (PEM content, sorted by ``<namespace>-<secret>``);
- the ``traefik.ingress.kubernetes.io/router.*`` annotations of the Ingress and ``service.*``
  annotations of the Service (:func:`router_annotations`, :func:`service_annotations`).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from providers.gotemplate_funcs import normalize
from traefikpy.config.dynamic import DynamicConfig

__all__ = [
    "ANNOTATION_PREFIX", "CONTROLLERS", "Cluster", "Settings", "Translation", "build_host_rule",
    "handled_classes", "router_annotations", "service_annotations", "should_process", "translate",
]

ANNOTATION_PREFIX = "traefik.ingress.kubernetes.io/"
CLASS_ANNOTATION = "kubernetes.io/ingress.class"
DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"
TRAEFIK_CLASS = "traefik"
CONTROLLERS = ("traefik.io/ingress-controller", "traefikpy.io/ingress-controller")
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MIN_PRIORITY = -(2**31)

Obj = Mapping[str, Any]
Key = tuple[str, str]


@dataclass(frozen=True)
class Settings:
    """The translation's share of ``providers.kubernetesIngress``."""

    ingress_class: str = ""
    allow_empty_services: bool = False
    allow_external_name_services: bool = False
    disable_ingress_class_lookup: bool = False
    native_lb_by_default: bool = False
    strict_prefix_matching: bool = True


@dataclass
class Cluster:
    """What the watch loop knows of the cluster; keys are ``(namespace, name)`` (IngressClass: name)."""

    ingresses: dict[Key, Obj] = field(default_factory=dict)
    ingress_classes: dict[str, Obj] = field(default_factory=dict)
    services: dict[Key, Obj] = field(default_factory=dict)
    endpoint_slices: dict[Key, Obj] = field(default_factory=dict)
    secrets: dict[Key, Obj] = field(default_factory=dict)

    def slices_by_service(self) -> dict[Key, list[Obj]]:
        """EndpointSlices grouped by ``(namespace, kubernetes.io/service-name)``, sorted by name."""
        out: dict[Key, list[Obj]] = {}
        for (ns, _name), eps in sorted(self.endpoint_slices.items()):
            service = _labels(eps).get(SERVICE_NAME_LABEL)
            if service:
                out.setdefault((ns, service), []).append(eps)
        return out


@dataclass
class Translation:
    config: DynamicConfig
    handled: list[Key]  # Ingresses whose status the provider publishes (handled, with rules)
    warnings: list[str]


class AnnotationError(ValueError):
    pass


def _meta(obj: Obj) -> Mapping[str, Any]:
    meta = obj.get("metadata") or {}
    return meta if isinstance(meta, Mapping) else {}


def _labels(obj: Obj) -> Mapping[str, str]:
    return _meta(obj).get("labels") or {}


def _annotations(obj: Obj) -> Mapping[str, str]:
    return _meta(obj).get("annotations") or {}


def _bool(value: str, key: str) -> bool:
    low = value.strip().lower()
    if low in ("true", "1", "t"):
        return True
    if low in ("false", "0", "f", ""):
        return False
    raise AnnotationError(f"{key}: {value!r} is not a boolean")


def _int(value: str, key: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise AnnotationError(f"{key}: {value!r} is not an integer") from None


def _list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _traefik_annotations(obj: Obj, section: str) -> dict[str, str]:
    """``traefik.ingress.kubernetes.io/<section>.x.y`` -> ``{"x.y": value}`` (keys lower case)."""
    out: dict[str, str] = {}
    for key, value in _annotations(obj).items():
        if key.startswith(ANNOTATION_PREFIX):
            rest = key[len(ANNOTATION_PREFIX):].lower()
            if rest.startswith(section + "."):
                out[rest[len(section) + 1:]] = str(value)
    return out


_DOMAIN = re.compile(r"^tls\.domains\.(\d+)\.(main|sans)$")


def router_annotations(ingress: Obj) -> dict[str, Any]:
    """The ``router.*`` annotations as router fields (camelCase) plus ``pathMatcher``.

    Raises :class:`AnnotationError` for a value that does not decode (Traefik skips the Ingress).
    """
    out: dict[str, Any] = {}
    tls: dict[str, Any] | None = None
    domains: dict[int, dict[str, Any]] = {}
    for key, value in _traefik_annotations(ingress, "router").items():
        name = f"router.{key}"
        if key == "entrypoints":
            out["entryPoints"] = _list(value)
        elif key == "middlewares":
            out["middlewares"] = _list(value)
        elif key == "priority":
            out["priority"] = _int(value, name)
        elif key == "pathmatcher":
            out["pathMatcher"] = value.strip()
        elif key == "tls":
            if _bool(value, name):
                tls = tls if tls is not None else {}
        elif key == "tls.certresolver":
            tls = tls if tls is not None else {}
            tls["certResolver"] = value.strip()
        elif key == "tls.options":
            tls = tls if tls is not None else {}
            tls["options"] = value.strip()
        elif (match := _DOMAIN.match(key)) is not None:
            tls = tls if tls is not None else {}
            entry = domains.setdefault(int(match.group(1)), {})
            if match.group(2) == "main":
                entry["main"] = value.strip()
            else:
                entry["sans"] = _list(value)
        else:
            raise AnnotationError(f"unknown annotation {ANNOTATION_PREFIX}{name}")
    if domains:
        assert tls is not None
        tls["domains"] = [domains[i] for i in sorted(domains)]
    if tls is not None:
        out["tls"] = tls
    return out


def service_annotations(service: Obj) -> dict[str, Any]:
    """The ``service.*`` annotations of a Service: load-balancer fields (camelCase) plus
    ``serversScheme`` and ``nativeLB``."""
    out: dict[str, Any] = {}
    cookie: dict[str, Any] | None = None
    for key, value in _traefik_annotations(service, "service").items():
        name = f"service.{key}"
        if key == "passhostheader":
            out["passHostHeader"] = _bool(value, name)
        elif key == "serversscheme":
            out["serversScheme"] = value.strip()
        elif key == "serverstransport":
            out["serversTransport"] = value.strip()
        elif key == "nativelb":
            out["nativeLB"] = _bool(value, name)
        elif key == "sticky.cookie":
            if _bool(value, name):
                cookie = cookie if cookie is not None else {}
        elif key.startswith("sticky.cookie."):
            cookie = cookie if cookie is not None else {}
            field_name = key[len("sticky.cookie."):]
            if field_name == "name":
                cookie["name"] = value.strip()
            elif field_name == "secure":
                cookie["secure"] = _bool(value, name)
            elif field_name == "httponly":
                cookie["httpOnly"] = _bool(value, name)
            elif field_name == "samesite":
                cookie["sameSite"] = value.strip()
            elif field_name == "maxage":
                cookie["maxAge"] = _int(value, name)
            elif field_name == "path":
                cookie["path"] = value.strip()
            else:
                raise AnnotationError(f"unknown annotation {ANNOTATION_PREFIX}{name}")
        else:
            raise AnnotationError(f"unknown annotation {ANNOTATION_PREFIX}{name}")
    if cookie is not None:
        out["sticky"] = {"cookie": cookie}
    return out


def handled_classes(cluster: Cluster, settings: Settings) -> list[Obj]:
    """IngressClasses of our controllers, restricted to ``ingressClass`` when set."""
    if settings.disable_ingress_class_lookup:
        return []
    classes = [c for _, c in sorted(cluster.ingress_classes.items())
               if (c.get("spec") or {}).get("controller") in CONTROLLERS]
    if settings.ingress_class:
        classes = [c for c in classes if _meta(c).get("name") == settings.ingress_class]
    return classes


def should_process(ingress: Obj, classes: list[Obj], settings: Settings) -> bool:
    class_name = (ingress.get("spec") or {}).get("ingressClassName")
    if class_name:
        return any(_meta(c).get("name") == class_name for c in classes)
    annotation = _annotations(ingress).get(CLASS_ANNOTATION, "")
    if annotation == settings.ingress_class or (not settings.ingress_class and annotation == TRAEFIK_CLASS):
        return True
    # No class at all: an IngressClass of ours marked as the cluster default takes it.
    return not annotation and any(
        str(_annotations(c).get(DEFAULT_CLASS_ANNOTATION, "")).lower() == "true" for c in classes)


def _quote_meta(text: str) -> str:
    """Go's ``regexp.QuoteMeta`` (Python's ``re.escape`` also escapes ``-``)."""
    return "".join("\\" + ch if ch in r"\.+*?()|[]{}^$" else ch for ch in text)


def build_host_rule(host: str) -> str:
    if host.startswith("*."):
        pattern = _quote_meta(host).replace(r"\*\.", r"[a-zA-Z0-9-]+\.", 1)
        return f"HostRegexp(`^{pattern}$`)"
    return f"Host(`{host}`)"


def _path_rule(path: str, path_type: str, matcher: str, strict_prefix: bool) -> str:
    if path_type == "Exact":
        return f"Path(`{path}`)"
    if path_type == "Prefix":
        if strict_prefix and path.rstrip("/"):
            base = path.rstrip("/")
            return f"(Path(`{base}`) || PathPrefix(`{base}/`))"
        return f"PathPrefix(`{path}`)"
    return f"{matcher or 'PathPrefix'}(`{path}`)"


def _port_key(backend: Obj) -> str:
    port = backend.get("port") or {}
    return str(port.get("name") or port.get("number") or "")


def _scheme(port_spec: Obj, svc_conf: Mapping[str, Any]) -> str:
    if svc_conf.get("serversScheme"):
        return str(svc_conf["serversScheme"])
    if port_spec.get("port") == 443 or str(port_spec.get("name") or "").startswith("https"):
        return "https"
    return "http"


def _join(host: str, port: int) -> str:
    """Go's ``net.JoinHostPort``: brackets around an IPv6 address."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _endpoints(slices: Iterable[Obj], port_name: str) -> tuple[list[tuple[str, int]], int]:
    """``(addresses, fenced)`` of the slices for the port named ``port_name``.

    Like Traefik, an endpoint is used while it is ready or serving (an absent condition is
    true); one that is serving *and* terminating is "fenced" in Traefik (no new requests).
    traefikpy has no fenced servers, so fenced endpoints are left out of the server list; they
    still count as endpoints, so a Service whose pods are all terminating keeps its router and
    answers 503 (as in Traefik) instead of disappearing.
    """
    out: list[tuple[str, int]] = []
    seen: set[str] = set()
    fenced = 0
    for eps in slices:
        if eps.get("addressType", "IPv4") not in ("IPv4", "IPv6"):
            continue
        port = 0
        for p in eps.get("ports") or []:
            if (p.get("name") or "") == port_name and p.get("port"):
                port = int(p["port"])
                break
        if not port:
            continue
        for endpoint in eps.get("endpoints") or []:
            cond = endpoint.get("conditions") or {}
            ready = cond.get("ready") is not False
            serving = cond.get("serving") is not False
            terminating = cond.get("terminating") is True
            if not (ready or serving):
                continue
            for address in endpoint.get("addresses") or []:
                if address in seen:
                    continue
                seen.add(address)
                if terminating and serving:
                    fenced += 1
                    continue
                out.append((address, port))
    return out, fenced


class ServiceError(ValueError):
    pass


def load_service(cluster: Cluster, settings: Settings, namespace: str, backend: Obj,
                 slices: Mapping[Key, list[Obj]] | None = None) -> tuple[dict[str, Any], bool]:
    """``(loadBalancer dict, has endpoints)`` for an Ingress backend; raises :class:`ServiceError`."""
    if backend.get("resource"):
        raise ServiceError("resource backends are not supported")
    ref = backend.get("service")
    if not ref:
        raise ServiceError("missing service definition")
    name = str(ref.get("name", ""))
    service = cluster.services.get((namespace, name))
    if service is None:
        raise ServiceError(f"service {namespace}/{name} not found")
    spec = service.get("spec") or {}
    svc_type = spec.get("type", "ClusterIP")
    if svc_type == "ExternalName" and not settings.allow_external_name_services:
        raise ServiceError(f"externalName services not allowed: {namespace}/{name}")
    want = ref.get("port") or {}
    port_spec: Obj | None = None
    for p in spec.get("ports") or []:
        if (want.get("number") and p.get("port") == want.get("number")) or (
                want.get("name") and p.get("name") == want.get("name")):
            port_spec = p
            break
    if port_spec is None:
        raise ServiceError(f"service port {_port_key(ref)} not found in {namespace}/{name}")
    try:
        conf = service_annotations(service)
    except AnnotationError as exc:
        raise ServiceError(str(exc)) from None
    lb: dict[str, Any] = {}
    for key in ("sticky", "passHostHeader", "serversTransport"):
        if key in conf:
            lb[key] = conf[key]
    scheme = _scheme(port_spec, conf)
    port_number = int(port_spec.get("port") or 0)
    if svc_type == "ExternalName":
        lb["servers"] = [{"url": f"{scheme}://{_join(str(spec.get('externalName', '')), port_number)}"}]
        return lb, True
    if conf.get("nativeLB", settings.native_lb_by_default):
        cluster_ip = spec.get("clusterIP") or ""
        if cluster_ip == "None":
            raise ServiceError(f"no clusterIP on headless service: {namespace}/{name}")
        if not cluster_ip:
            raise ServiceError(f"no clusterIP found for service: {namespace}/{name}")
        lb["servers"] = [{"url": f"{scheme}://{_join(cluster_ip, port_number)}"}]
        return lb, True
    if slices is None:
        slices = cluster.slices_by_service()
    addresses, fenced = _endpoints(slices.get((namespace, name), []), str(port_spec.get("name") or ""))
    lb["servers"] = [{"url": f"{scheme}://{_join(host, port)}"} for host, port in addresses]
    return lb, bool(addresses) or fenced > 0


def _secret_text(secret: Obj, key: str) -> str:
    data = secret.get("data") or {}
    if key in data:
        try:
            return base64.b64decode(str(data[key])).decode()
        except (ValueError, UnicodeDecodeError):
            return ""
    return str((secret.get("stringData") or {}).get(key, ""))


def _certificate(cluster: Cluster, namespace: str, secret_name: str) -> dict[str, str]:
    secret = cluster.secrets.get((namespace, secret_name))
    if secret is None:
        raise ServiceError(f"secret {namespace}/{secret_name} does not exist")
    data = secret.get("data") or {}
    missing = [k for k in ("tls.crt", "tls.key") if k not in data]
    if missing:
        raise ServiceError(f"secret {namespace}/{secret_name} is missing the following TLS data entries: "
                           + ", ".join(missing))
    cert, key = _secret_text(secret, "tls.crt"), _secret_text(secret, "tls.key")
    empty = [k for k, v in (("tls.crt", cert), ("tls.key", key)) if not v]
    if empty:
        raise ServiceError(f"secret {namespace}/{secret_name} contains the following empty TLS data entries: "
                           + ", ".join(empty))
    return {"certFile": cert, "keyFile": key}


def translate(cluster: Cluster, settings: Settings) -> Translation:
    routers: dict[str, dict[str, Any]] = {}
    services: dict[str, dict[str, Any]] = {}
    certs: dict[str, dict[str, str]] = {}
    handled: list[Key] = []
    warnings: list[str] = []
    classes = handled_classes(cluster, settings)
    slices = cluster.slices_by_service()

    for key, ingress in sorted(cluster.ingresses.items()):
        namespace, name = key
        where = f"ingress {namespace}/{name}"
        if not should_process(ingress, classes, settings):
            continue
        try:
            rt_conf = router_annotations(ingress)
        except AnnotationError as exc:
            warnings.append(f"{where}: failed to parse annotations: {exc}")
            continue
        spec = ingress.get("spec") or {}
        for tls in spec.get("tls") or []:
            secret_name = tls.get("secretName") or ""
            if not secret_name or f"{namespace}-{secret_name}" in certs:
                continue
            try:
                certs[f"{namespace}-{secret_name}"] = _certificate(cluster, namespace, secret_name)
            except ServiceError as exc:
                warnings.append(f"{where}: error configuring TLS: {exc}")
                break

        rules = spec.get("rules") or []
        default = spec.get("defaultBackend")
        if not rules and default:
            if "default-backend" in services:
                warnings.append(f"{where}: the default backend already exists")
                continue
            try:
                lb, has_endpoints = load_service(cluster, settings, namespace, default, slices)
            except ServiceError as exc:
                warnings.append(f"{where}: cannot create service: {exc}")
                continue
            if not has_endpoints and not settings.allow_empty_services:
                warnings.append(f"{where}: skipping service {_svc_name(default)}: no endpoints found")
                continue
            router: dict[str, Any] = {"rule": "PathPrefix(`/`)", "priority": MIN_PRIORITY,
                                      "service": "default-backend"}
            for k in ("entryPoints", "middlewares", "tls"):
                if k in rt_conf:
                    router[k] = rt_conf[k]
            routers["default-router"] = router
            services["default-backend"] = {"loadBalancer": lb}

        if rules:
            handled.append(key)
        by_key: dict[str, list[dict[str, Any]]] = {}
        for rule in rules:
            host = str(rule.get("host") or "")
            for path in (rule.get("http") or {}).get("paths") or []:
                backend = path.get("backend") or {}
                try:
                    lb, has_endpoints = load_service(cluster, settings, namespace, backend, slices)
                except ServiceError as exc:
                    warnings.append(f"{where}: cannot create service: {exc}")
                    continue
                if not has_endpoints and not settings.allow_empty_services:
                    warnings.append(f"{where}: skipping service {_svc_name(backend)}: no endpoints found")
                    continue
                ref = backend.get("service") or {}
                service_name = normalize(f"{namespace}-{ref.get('name', '')}-{_port_key(ref)}")
                services[service_name] = {"loadBalancer": lb}
                parts = [build_host_rule(host)] if host else []
                path_value = str(path.get("path") or "")
                if path_value:
                    parts.append(_path_rule(path_value, str(path.get("pathType") or ""),
                                            str(rt_conf.get("pathMatcher", "")), settings.strict_prefix_matching))
                router = {"rule": " && ".join(parts), "service": service_name}
                for k in ("priority", "entryPoints", "middlewares", "tls"):
                    if k in rt_conf:
                        router[k] = rt_conf[k]
                router_key = normalize(f"{namespace}-{name}-{host}{path_value}").lstrip("-")
                by_key.setdefault(router_key, []).append(router)
        for router_key, found in by_key.items():
            if len(found) == 1:
                routers[router_key] = found[0]
                continue
            for router in found:
                digest = hashlib.sha256(router["rule"].encode()).hexdigest()[:20]
                routers[f"{router_key}-{digest}"] = router

    raw: dict[str, Any] = {"http": {"routers": routers, "services": services}}
    if certs:
        raw["tls"] = {"certificates": [certs[k] for k in sorted(certs)]}
    config = DynamicConfig.model_validate(raw)
    return Translation(config, handled, warnings)


def _svc_name(backend: Obj) -> str:
    ref = backend.get("service") or {}
    return f"{ref.get('name', '')}:{_port_key(ref)}"
