"""Configuration mistakes as users see them: :class:`Problem`, :class:`ConfigError`, and the
translation of pydantic's validation errors into dotted alias paths with line numbers.

A path is a tuple of segments (``str`` keys, ``int`` list indices) and is shown dotted with
indices in brackets: ``http.services.s.loadBalancer.servers[0].url``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

Path = tuple[str | int, ...]
"""A location in a configuration tree: keys and list indices from the root."""

LineOf = Callable[[Path], "int | None"]
"""Maps a path to the 1-based line where the user wrote it (``None`` when unknown)."""


def join_path(path: Iterable[str | int]) -> str:
    """``("http", "services", "s", "servers", 0, "url")`` → ``http.services.s.servers[0].url``."""
    out = ""
    for segment in path:
        if isinstance(segment, int):
            out += f"[{segment}]"
        else:
            out += f".{segment}" if out else segment
    return out


_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def parse_path(text: str) -> Path:
    """Inverse of :func:`join_path` for keys without dots or brackets."""
    return tuple(int(m.group(2)) if m.group(2) is not None else m.group(1) for m in _SEGMENT.finditer(text))


@dataclass(frozen=True)
class Problem:
    """One configuration mistake, located as precisely as the input allows."""

    path: str
    message: str
    source: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = self.source or ""
        if self.line is not None:
            where = f"{where}:{self.line}" if where else f"line {self.line}"
        parts = [p for p in (where, self.path) if p]
        return ": ".join([*parts, self.message])


class ConfigError(Exception):
    """Every problem found in one document (not just the first)."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def __str__(self) -> str:
        if len(self.problems) == 1:
            return str(self.problems[0])
        return f"{len(self.problems)} configuration problems:\n" + "\n".join(
            f"  {p}" for p in self.problems
        )


def _user_path(loc: Sequence[str | int], data: Any, renames: Mapping[Path, str]) -> Path:
    """The path the user wrote for pydantic's ``loc``.

    pydantic inserts type tags (``function-after[...]``, union member names) into ``loc``; walking
    the input alongside keeps only real keys and indices.  Keys canonicalised from another case
    are shown as the user wrote them (``renames``: canonical path → original key).
    """
    out: list[str | int] = []
    canonical: list[str | int] = []
    cur: Any = data
    last = len(loc) - 1
    for i, item in enumerate(loc):
        if isinstance(cur, Mapping) and item in cur:
            canonical.append(item)
            out.append(renames.get(tuple(canonical), item))
            cur = cur[item]
        elif isinstance(cur, list | tuple) and isinstance(item, int) and 0 <= item < len(cur):
            canonical.append(item)
            out.append(item)
            cur = cur[item]
        elif isinstance(cur, Mapping) and i == last:
            out.append(item)  # a missing key: not in the input, but it is the place to point at
            cur = None
        # anything else is a pydantic tag: skip it
    return tuple(out)


def _message(error: Mapping[str, Any]) -> str:
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    msg = str(error.get("msg", "invalid value"))
    msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    value = error.get("input")
    if isinstance(value, str | int | float | bool) and kind not in ("value_error", "assertion_error"):
        msg += f" (got {value!r})"
    return msg


def problems_from_validation(
    exc: ValidationError,
    data: Any,
    *,
    source: str | None,
    line_of: LineOf | None,
    renames: Mapping[Path, str] | None = None,
) -> list[Problem]:
    """One :class:`Problem` per pydantic error, deduplicated, in pydantic's order."""
    seen: set[Problem] = set()
    out: list[Problem] = []
    for error in exc.errors(include_url=False):
        path = _user_path(tuple(error.get("loc", ())), data, renames or {})
        line = line_of(path) if line_of is not None else None
        problem = Problem(join_path(path), _message(error), source, line)
        if problem not in seen:
            seen.add(problem)
            out.append(problem)
    return out
