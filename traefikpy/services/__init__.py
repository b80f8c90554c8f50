"""Services: the handlers that end a router's chain by choosing where a request goes.

Every service is a ``Handler`` (``async (Exchange) -> None``) built once per graph:

* :func:`build_load_balancer` (``loadBalancer``): servers, strategies (``wrr`` default, ``p2c``,
  ``hrw``, ``leasttime``, plus NGINX's ``leastconn`` and ``iphash``), sticky cookie, active and
  passive health checks.  It ends with the injected ``forward(ex, server)`` step.
* :func:`build_weighted` / :func:`build_highest_random_weight`: services over services.
* :func:`build_mirroring`: main service plus mirrors receiving a percentage of copies.
* :func:`build_failover`: main service, or the fallback when the main is down (or answers with
  configured error statuses).

Module map (each owns one concept):
``server`` (Server, ServerSpec, NoHealthyServer), ``strategies`` (pure pickers), ``sticky``
(cookie names/values/Set-Cookie), ``status`` (health propagation between services), ``passive``
(passive health), ``healthcheck`` (active checker, HealthRegistry), ``grpc_health`` (gRPC health
probe), ``balancer``, ``weighted``, ``mirroring``, ``failover``, ``replay`` (re-readable bodies,
request copies).

State that must survive a reload (server health, in-flight counts, latency samples, passive
windows, running checkers) lives in :class:`HealthRegistry`, which the compiler keeps outside
graphs and reconciles after each build.
"""

from __future__ import annotations

from traefikpy.services.balancer import LoadBalancer, build_load_balancer
from traefikpy.services.failover import Failover, FailoverErrors, build_failover
from traefikpy.services.healthcheck import HealthCheckConfig, HealthKey, HealthRegistry
from traefikpy.services.mirroring import Mirroring, build_mirroring
from traefikpy.services.passive import PassiveHealthConfig
from traefikpy.services.server import (
    Forward,
    NoHealthyServer,
    Server,
    ServerSpec,
    ServiceBuildError,
    StatusCallback,
)
from traefikpy.services.status import StatusReporter
from traefikpy.services.sticky import StickyCookie
from traefikpy.services.strategies import STRATEGIES
from traefikpy.services.weighted import WeightedService, build_highest_random_weight, build_weighted

__all__ = [
    "STRATEGIES",
    "Failover",
    "FailoverErrors",
    "Forward",
    "HealthCheckConfig",
    "HealthKey",
    "HealthRegistry",
    "LoadBalancer",
    "Mirroring",
    "NoHealthyServer",
    "PassiveHealthConfig",
    "Server",
    "ServerSpec",
    "ServiceBuildError",
    "StatusCallback",
    "StatusReporter",
    "StickyCookie",
    "WeightedService",
    "build_failover",
    "build_highest_random_weight",
    "build_load_balancer",
    "build_mirroring",
    "build_weighted",
]
