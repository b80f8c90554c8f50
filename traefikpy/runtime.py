"""RuntimeState: what the compiler concluded about every element, as the API will show it.

Errors are recorded on the element they touch (Traefik's ``AddError(err, critical)``) and never
raised past it: a critical error disables the element, a non-critical one makes it ``warning``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ENABLED, WARNING, DISABLED = "enabled", "warning", "disabled"


@dataclass
class ElementState:
    """One router, service or middleware of one protocol section."""

    name: str  # qualified: "web@file"
    kind: str  # "router" | "service" | "middleware" | "serversTransport"
    section: str  # "http" | "tcp" | "udp"
    config: Any = None  # the validated model (None when only an error is known)
    status: str = ENABLED
    errors: list[str] = field(default_factory=list)
    using: list[str] = field(default_factory=list)  # routers: entrypoints they are attached to
    used_by: list[str] = field(default_factory=list)  # services/middlewares: routers using them
    server_status: dict[str, str] = field(default_factory=dict)  # services: url -> "UP"/"DOWN"
    _users: set[str] = field(default_factory=set, repr=False, compare=False)  # used_by, for lookups

    @property
    def provider(self) -> str:
        return self.name.rpartition("@")[2]

    def add_error(self, message: str, critical: bool = True) -> None:
        if message not in self.errors:
            self.errors.append(message)
        if critical:
            self.status = DISABLED
        elif self.status == ENABLED:
            self.status = WARNING

    def add_user(self, router: str) -> None:
        # A set beside the list: a service used by 100,000 routers must not cost n² to record.
        if router not in self._users:
            self._users.add(router)
            self.used_by.append(router)


@dataclass
class RuntimeState:
    """Every element of one compiled graph, keyed by ``(section, kind, qualified name)``."""

    elements: dict[tuple[str, str, str], ElementState] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # problems not tied to one element

    def get(self, section: str, kind: str, name: str, config: Any = None) -> ElementState:
        key = (section, kind, name)
        state = self.elements.get(key)
        if state is None:
            state = self.elements[key] = ElementState(name, kind, section, config)
        elif config is not None and state.config is None:
            state.config = config
        return state

    def of(self, section: str, kind: str) -> dict[str, ElementState]:
        return {n: s for (sec, k, n), s in self.elements.items() if sec == section and k == kind}

    def counts(self) -> dict[str, int]:
        out = {ENABLED: 0, WARNING: 0, DISABLED: 0}
        for state in self.elements.values():
            out[state.status] += 1
        return out
