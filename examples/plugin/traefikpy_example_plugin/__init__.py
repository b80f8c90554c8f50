"""An example traefikpy plugin: sets request headers, adds response headers and rejects requests
whose path matches a pattern.

The module itself is the plugin object named by the entry point: it has ``Config`` (a pydantic
model validating the options) and ``build(config, next, name, ctx) -> Handler``.  Everything is
prepared in ``build`` (encoded headers, compiled regex); the handler does the least per request.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

Handler = Callable[[Any], Awaitable[None]]


class Config(BaseModel):
    """Options of the ``example`` plugin (camelCase keys, like every Traefik option)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)

    headers: dict[str, str] = Field(default_factory=dict, description="Request headers set before the service.")
    response_headers: dict[str, str] = Field(default_factory=dict, description="Headers added to every response.")
    block_pattern: str = Field("", description="Python regex searched in the request path; a match is rejected.")
    block_status: int = Field(403, description="Status of rejected requests (400-599).")

    @field_validator("block_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regex {value!r}: {exc}") from None
        return value

    @field_validator("block_status")
    @classmethod
    def _error_status(cls, value: int) -> int:
        if not 400 <= value <= 599:
            raise ValueError("must be an HTTP error status (400-599)")
        return value


def _encode(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    out = []
    for name, value in headers.items():
        if not name or any(c in name for c in " :\r\n") or "\r" in value or "\n" in value:
            raise ValueError(f"invalid header {name!r}")
        out.append((name.encode("latin-1"), value.encode("latin-1")))
    return out


def build(config: Config, next: Handler, name: str, ctx: Any) -> Handler:
    """The middleware handler for one configuration."""
    request_headers = _encode(config.headers)
    request_names = [n.lower() for n, _ in request_headers]
    response_headers = _encode(config.response_headers)
    blocked = re.compile(config.block_pattern).search if config.block_pattern else None
    status = config.block_status
    try:
        body = HTTPStatus(status).phrase.encode() + b"\n"
    except ValueError:
        body = b"blocked\n"

    def add_response_headers(code: int, headers: list[tuple[bytes, bytes]]) -> int:
        headers.extend(response_headers)
        return code

    async def example(ex: Any) -> None:
        if response_headers:
            ex.on_response(add_response_headers)
        if blocked is not None and blocked(ex.path):
            await ex.respond(status, body)
            return
        if request_headers:
            ex.headers[:] = [(k, v) for k, v in ex.headers if k.lower() not in request_names]
            ex.headers.extend(request_headers)
        await next(ex)

    return example
