"""Shared building blocks of every configuration model: the base class and Traefik's value types."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer
from pydantic.alias_generators import to_camel


class Model(BaseModel):
    """Frozen, strict model whose field aliases are Traefik's camelCase key names.

    ``populate_by_name`` lets Python code build models with snake_case names while files,
    labels and KV use the aliases.  Dump with ``model_dump(by_alias=True, exclude_none=True)``
    (see :func:`dump`) to get Traefik's form back.
    """

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        populate_by_name=True,
        alias_generator=to_camel,
        validate_default=False,
    )


def dump(model: BaseModel) -> dict[str, Any]:
    """The Traefik-form mapping of ``model`` (aliases, no unset/None values)."""
    return model.model_dump(by_alias=True, exclude_none=True, exclude_unset=True, mode="json")


_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(value: Any) -> float:
    """Seconds from Traefik's duration forms: ``10s``, ``1m30s``, ``250ms``, ``-1s``, or a plain
    number of seconds (int, float or numeric string), as Traefik's ``ptypes.Duration`` accepts."""
    if isinstance(value, bool):
        raise ValueError("a duration cannot be a boolean")
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"invalid duration {value!r}")
    text = value.strip()
    if not text:
        raise ValueError("empty duration")
    try:
        return float(text)
    except ValueError:
        pass
    sign = 1.0
    if text[0] in "+-":
        sign = -1.0 if text[0] == "-" else 1.0
        text = text[1:]
    total, pos = 0.0, 0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or pos == 0:
        raise ValueError(f"invalid duration {value!r} (expected e.g. 10s, 1m30s, 250ms or seconds)")
    return sign * total


def format_duration(seconds: float) -> str:
    """Go-style duration text for ``seconds`` (``90`` → ``1m30s``, ``0.25`` → ``250ms``)."""
    if seconds == 0:
        return "0s"
    sign = "-" if seconds < 0 else ""
    rest = abs(seconds)
    if rest < 1:
        ms = rest * 1000
        return f"{sign}{ms:g}ms" if ms >= 1 else f"{sign}{rest * 1e6:g}us"
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    out = sign
    if hours:
        out += f"{int(hours)}h"
    if minutes or (hours and secs):
        out += f"{int(minutes)}m"
    if secs:
        out += f"{round(secs, 9):g}s"
    return out


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
"""A duration in seconds, written in config as ``10s``/``1m30s``/``250ms`` or plain seconds."""
