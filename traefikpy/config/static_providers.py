"""Provider sections of the static configuration (``providers.*``).

A provider is enabled by the presence of its section (``providers.docker: {}``,
``--providers.docker``, ``TRAEFIK_PROVIDERS_DOCKER=true``); the fields of a present section
take Traefik v3's defaults.  Only the providers traefikpy implements are modelled: any other key
under ``providers`` is reported as unknown rather than silently ignored.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from traefikpy.config.base import Duration, Model

DEFAULT_RULE = "Host(`{{ normalize .Name }}`)"
"""Traefik's default rule template for label-based providers."""


class ClientTLS(Model):
    """TLS client settings for talking to a provider's endpoint."""

    ca: str = Field("", description="CA certificate (path or PEM content).")
    cert: str = Field("", description="Client certificate (path or PEM content).")
    key: str = Field("", description="Client private key (path or PEM content).")
    insecure_skip_verify: bool = Field(False, description="Do not verify the server certificate.")


class FileProvider(Model):
    """Dynamic configuration from a file or a directory of files."""

    directory: str = Field("", description="Load every .yml/.yaml/.toml file of this directory.")
    filename: str = Field("", description="Load this file.")
    watch: bool = Field(True, description="Reload when the files change.")
    debug_log_generated_template: bool = Field(False, description="Log the configuration produced by templates.")


class DockerProvider(Model):
    """Dynamic configuration from Docker container labels."""

    endpoint: str = Field("unix:///var/run/docker.sock", description="Docker daemon endpoint (unix or tcp).")
    default_rule: str = Field(DEFAULT_RULE, description="Rule of routers that set none (Go template).")
    exposed_by_default: bool = Field(True, description="Expose containers without traefik.enable=true.")
    network: str = Field("", description="Default network used to reach containers.")
    use_bind_port_ip: bool = Field(
        False, alias="useBindPortIP", description="Use the host IP/port a container port is bound to."
    )
    watch: bool = Field(True, description="Watch Docker events.")
    constraints: str = Field("", description="Expression on labels selecting the containers to route.")
    allow_empty_services: bool = Field(False, description="Keep services whose containers are all unhealthy.")
    http_client_timeout: Duration = Field(0.0, description="Timeout of HTTP requests to the daemon; 0 is none.")
    tls: ClientTLS | None = Field(None, description="TLS to the Docker daemon.")
    username: str = Field("", description="Basic auth username for the daemon.")
    password: str = Field("", description="Basic auth password for the daemon.")


class IngressEndpoint(Model):
    """What the Ingress provider writes into ``Ingress.status``."""

    ip: str = Field("", description="IP published in the Ingress status.")
    hostname: str = Field("", description="Hostname published in the Ingress status.")
    published_service: str = Field("", description="'namespace/name' of a Service whose status is copied.")


class KubernetesIngressProvider(Model):
    """Dynamic configuration from Kubernetes Ingress objects."""

    endpoint: str = Field("", description="API server URL (empty: in-cluster configuration).")
    token: str = Field("", description="Bearer token, or a path to a file holding it.")
    cert_auth_file_path: str = Field("", description="CA file of the API server.")
    namespaces: list[str] = Field(default_factory=list, description="Namespaces to watch (empty: all).")
    label_selector: str = Field("", description="Label selector of the Ingresses to watch.")
    ingress_class: str = Field("", description="Ingress class (annotation or IngressClass name) to handle.")
    ingress_endpoint: IngressEndpoint | None = Field(None, description="Status to publish on Ingresses.")
    throttle_duration: Duration = Field(0.0, description="Minimum time between two refreshes.")
    allow_empty_services: bool = Field(False, description="Create services that have no endpoints.")
    allow_external_name_services: bool = Field(False, description="Allow Services of type ExternalName.")
    disable_ingress_class_lookup: bool = Field(False, description="Do not read IngressClass objects (deprecated).")
    disable_cluster_scope_resources: bool = Field(False, description="Do not read cluster-scoped resources.")
    native_lb_by_default: bool = Field(
        False, alias="nativeLBByDefault", description="Use the Service IP instead of pod endpoints by default."
    )
    strict_prefix_matching: bool = Field(
        True, description="Match Prefix paths element by element, as Kubernetes defines pathType Prefix (Traefik's default is false)."
    )


class KVProvider(Model):
    """Fields shared by the key-value store providers."""

    root_key: str = Field("traefik", description="Root key of the configuration in the store.")
    endpoints: list[str] = Field(default_factory=list, description="Store endpoints (host:port).")
    tls: ClientTLS | None = Field(None, description="TLS to the store.")


class ConsulProvider(KVProvider):
    """Dynamic configuration from the Consul KV store."""

    endpoints: list[str] = Field(default_factory=lambda: ["127.0.0.1:8500"], description="Consul endpoints.")
    token: str = Field("", description="Per-request ACL token.")
    namespaces: list[str] = Field(default_factory=list, description="Consul Enterprise namespaces.")


class EtcdProvider(KVProvider):
    """Dynamic configuration from etcd v3."""

    endpoints: list[str] = Field(default_factory=lambda: ["127.0.0.1:2379"], description="etcd endpoints.")
    username: str = Field("", description="Username for authentication.")
    password: str = Field("", description="Password for authentication.")


class RedisSentinel(Model):
    """Redis Sentinel settings."""

    master_name: str = Field("", description="Name of the master.")
    username: str = Field("", description="Username for Sentinel authentication.")
    password: str = Field("", description="Password for Sentinel authentication.")
    latency_strategy: bool = Field(False, description="Route commands to the closest node.")
    random_strategy: bool = Field(False, description="Route commands to a random node.")
    replica_strategy: bool = Field(False, description="Route every command to replicas.")
    use_disconnected_replicas: bool = Field(False, description="Use replicas disconnected from the master.")


class RedisProvider(KVProvider):
    """Dynamic configuration from Redis."""

    endpoints: list[str] = Field(default_factory=lambda: ["127.0.0.1:6379"], description="Redis endpoints.")
    username: str = Field("", description="Username for authentication.")
    password: str = Field("", description="Password for authentication.")
    db: int = Field(0, ge=0, description="Database selected after connecting.")
    sentinel: RedisSentinel | None = Field(None, description="Connect through Redis Sentinel.")


class ConsulHTTPAuth(Model):
    """Basic authentication to Consul."""

    username: str = Field("", description="Basic auth username.")
    password: str = Field("", description="Basic auth password.")


class ConsulEndpoint(Model):
    """How the Consul Catalog provider reaches Consul."""

    address: str = Field("", description="Consul address (empty: the agent default, 127.0.0.1:8500).")
    scheme: str = Field("", description="URI scheme of the Consul server.")
    datacenter: str = Field("", description="Datacenter (empty: the agent's).")
    token: str = Field("", description="ACL token.")
    tls: ClientTLS | None = Field(None, description="TLS to Consul.")
    http_auth: ConsulHTTPAuth | None = Field(None, description="Basic authentication.")
    endpoint_wait_time: Duration = Field(0.0, description="How long a blocking watch waits; 0 is the agent default.")


class ConsulCatalogProvider(Model):
    """Dynamic configuration from Consul Catalog service tags."""

    constraints: str = Field("", description="Expression on tags selecting the services to route.")
    prefix: str = Field("traefik", description="Prefix of the tags read as configuration.")
    refresh_interval: Duration = Field(15.0, description="Polling interval of the catalog.")
    require_consistent: bool = Field(False, description="Force fully consistent reads.")
    stale: bool = Field(False, description="Allow stale reads.")
    cache: bool = Field(False, description="Use agent caching for catalog reads.")
    exposed_by_default: bool = Field(True, description="Expose services without traefik.enable=true.")
    default_rule: str = Field(DEFAULT_RULE, description="Rule of routers that set none (Go template).")
    connect_aware: bool = Field(False, description="Enable Consul Connect support.")
    connect_by_default: bool = Field(False, description="Treat every service as Connect capable.")
    service_name: str = Field("traefik", description="Name of this proxy's service in the catalog.")
    watch: bool = Field(False, description="Watch catalog events instead of polling only.")
    namespaces: list[str] = Field(default_factory=list, description="Consul Enterprise namespaces.")
    strict_checks: list[str] = Field(
        default_factory=lambda: ["passing", "warning"], description="Health statuses allowed to take traffic."
    )
    endpoint: ConsulEndpoint = Field(default_factory=ConsulEndpoint, description="How to reach Consul.")


class HTTPProvider(Model):
    """Dynamic configuration polled from an HTTP endpoint."""

    endpoint: str = Field("", description="URL returning the dynamic configuration (JSON).")
    poll_interval: Duration = Field(5.0, description="Polling interval.")
    poll_timeout: Duration = Field(5.0, description="Timeout of one poll.")
    headers: dict[str, str] = Field(default_factory=dict, description="Headers sent to the endpoint.")
    tls: ClientTLS | None = Field(None, description="TLS client settings.")


class Providers(Model):
    """The providers and the throttle between their updates."""

    providers_throttle_duration: Duration = Field(
        2.0, description="Minimum time between two applied configurations of one provider; 0 disables it."
    )
    file: FileProvider | None = Field(None, description="File provider.")
    docker: DockerProvider | None = Field(None, description="Docker provider.")
    kubernetes_ingress: KubernetesIngressProvider | None = Field(None, description="Kubernetes Ingress provider.")
    consul: ConsulProvider | None = Field(None, description="Consul KV provider.")
    consul_catalog: ConsulCatalogProvider | None = Field(None, description="Consul Catalog provider.")
    etcd: EtcdProvider | None = Field(None, description="etcd provider.")
    redis: RedisProvider | None = Field(None, description="Redis provider.")
    http: HTTPProvider | None = Field(None, description="HTTP provider.")
    # Traefik providers traefikpy does not implement: accepted so an existing Traefik
    # configuration loads; the app logs a warning naming each one that is enabled.
    kubernetes_crd: dict[str, Any] | None = Field(
        None, alias="kubernetesCRD", description="Not supported: accepted and ignored (a warning is logged).")
    kubernetes_gateway: dict[str, Any] | None = Field(
        None, description="Not supported: accepted and ignored (a warning is logged).")
    swarm: dict[str, Any] | None = Field(None, description="Not supported: accepted and ignored (a warning is logged).")
    nomad: dict[str, Any] | None = Field(None, description="Not supported: accepted and ignored (a warning is logged).")
    ecs: dict[str, Any] | None = Field(None, description="Not supported: accepted and ignored (a warning is logged).")
    zoo_keeper: dict[str, Any] | None = Field(
        None, alias="zooKeeper", description="Not supported: accepted and ignored (a warning is logged).")
    rest: dict[str, Any] | None = Field(None, description="Not supported: accepted and ignored (a warning is logged).")
    plugin: dict[str, Any] | None = Field(None, description="Not supported: accepted and ignored (a warning is logged).")

    def unsupported(self) -> list[str]:
        """Aliases of the enabled providers that traefikpy accepts but does not run."""
        names = ("kubernetes_crd", "kubernetes_gateway", "swarm", "nomad", "ecs", "zoo_keeper", "rest", "plugin")
        return [type(self).model_fields[n].alias or n for n in names if getattr(self, n) is not None]
