"""Passive health checks (``passiveHealthCheck``): real traffic marks servers down.

A forwarded request *fails* when the upstream could not be reached (the forward step raised before
anything was sent, with a 5xx status hint or none) or answered with a 5xx status.  Any other answer clears the server's failures:
Traefik counts *consecutive* failures.  When ``maxFailedAttempts`` failures (default 1) fall within
``failureWindow`` (default 10s) the server is marked down; it comes back up once the window has
passed, unless the service also has an active health check, which then decides when it is up.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from traefikpy.config.base import parse_duration
from traefikpy.services.server import Server


@dataclass(frozen=True, slots=True)
class PassiveHealthConfig:
    """Traefik's ``passiveHealthCheck`` options (seconds, count)."""

    failure_window: float = 10.0
    max_failed_attempts: int = 1

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> PassiveHealthConfig | None:
        if data is None:
            return None
        window = data.get("failureWindow")
        attempts = data.get("maxFailedAttempts")
        return cls(
            failure_window=10.0 if window is None else parse_duration(window),
            max_failed_attempts=1 if attempts is None else int(attempts),
        )


def record_failure(failures: deque[float], now: float, window: float, max_failed: int) -> bool:
    """Add a failure at ``now``, drop those older than ``window``; True when the server must go
    down (``max_failed`` failures inside the window).  Pure: the caller owns the deque."""
    failures.append(now)
    cutoff = now - window
    while failures and failures[0] <= cutoff:
        failures.popleft()
    return len(failures) >= max_failed


class PassiveHealth:
    """Applies :func:`record_failure` to servers and schedules their return after the window."""

    __slots__ = ("config", "has_active")

    def __init__(self, config: PassiveHealthConfig, *, has_active: bool) -> None:
        self.config = config
        self.has_active = has_active

    def success(self, server: Server) -> None:
        if server.passive_failures:
            server.passive_failures.clear()

    def failure(self, server: Server) -> None:
        loop = asyncio.get_running_loop()
        config = self.config
        if not record_failure(server.passive_failures, loop.time(), config.failure_window, config.max_failed_attempts):
            return
        if server.passive_timer is not None:  # already down until its window passes
            return
        server.set_up(False)
        if self.has_active:  # the active checker decides when the server is back
            return
        server.passive_timer = loop.call_later(config.failure_window, _recover, server)

    def __repr__(self) -> str:
        return f"<PassiveHealth window={self.config.failure_window}s max={self.config.max_failed_attempts}>"


def _recover(server: Server) -> None:
    server.passive_timer = None
    server.passive_failures.clear()
    server.set_up(True)
