"""Where the static configuration comes from, and how the sources are combined.

Three sources, deep-merged with precedence file < ``TRAEFIK_*`` environment < command-line flags
(Traefik uses only one of them; the merge is a deliberate superset, see docs/differences.md):

* the file: ``--configFile`` or the first existing ``traefik.{toml,yaml,yml}`` in Traefik's
  search order (``/etc/traefik``, ``$XDG_CONFIG_HOME``, ``$HOME/.config``, the working directory);
* environment variables: ``TRAEFIK_ENTRYPOINTS_WEB_ADDRESS=:80``, split at ``_`` and lower-cased
  like Traefik; a map key (an entry point name) may contain ``_``: the split that lets the rest of
  the name resolve against the model wins, shortest key first;
* flags: ``--entryPoints.web.address=:80``, ``--log.level DEBUG``, ``--api.insecure``.

Flags and environment go through the shared flat decoder (:mod:`traefikpy.config.flat`); the
merged data is validated once, and every problem is reported with the source (file and line,
``env`` or ``flag``) that wrote the offending key.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from traefikpy.config.decode import (
    ConfigError,
    Locator,
    Problem,
    Shape,
    flat_to_data,
    load_file,
    parse_flags,
    validate,
)
from traefikpy.config.errors import parse_path
from traefikpy.config.flat import find_field
from traefikpy.config.static import StaticConfig

__all__ = ["CONFIG_FILE_FLAG", "ENV_PREFIX", "find_config_file", "load_static"]

ENV_PREFIX = "TRAEFIK_"
CONFIG_FILE_FLAG = "configfile"
"""``--configFile`` (any case): the file to load; not a configuration key."""

_EXTENSIONS = ("toml", "yaml", "yml")  # Traefik's order
_ROOT = Shape("model", model=StaticConfig)
_ANY = Shape("any")
KeyPath = tuple[str | int, ...]


def find_config_file(
    explicit: str | None, cwd: Path, home: Path, *, xdg_config_home: str | None = None
) -> Path | None:
    """The static configuration file to read.

    ``explicit`` (``--configFile``, relative to ``cwd``) is returned whether or not it exists, so
    that a missing file is reported.  Otherwise the first existing ``traefik.<ext>`` (toml, yaml,
    yml) in ``/etc/traefik``, ``$XDG_CONFIG_HOME`` (when set), ``$HOME/.config`` and ``cwd``.
    """
    if explicit:
        path = Path(os.path.expanduser(explicit))
        return path if path.is_absolute() else cwd / path
    bases = [Path("/etc/traefik")]
    if xdg_config_home:
        bases.append(Path(xdg_config_home))
    bases += [home / ".config", cwd]
    for base in bases:
        for ext in _EXTENSIONS:
            candidate = base / f"traefik.{ext}"
            if candidate.is_file():
                return candidate
    return None


# --------------------------------------------------------------------------------------------
# the flat sources

@dataclass(frozen=True)
class _Item:
    """One flag (with its arguments) or one variable, and the path it addresses (case-folded)."""

    origin: str  # as the user wrote it: "--log.level", "TRAEFIK_LOG_LEVEL"
    args: tuple[str, ...]  # flags: the arguments; env: (segments..., value)
    folded: KeyPath


def _fold(segments: Iterable[str | int]) -> KeyPath:
    return tuple(s.lower() if isinstance(s, str) else s for s in segments)


def _split_flags(argv: Sequence[str]) -> tuple[str | None, list[_Item], list[Problem]]:
    """``--configFile`` taken out; every other flag grouped with the arguments that follow it."""
    config_file: str | None = None
    items: list[_Item] = []
    problems: list[Problem] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        end = i + 1
        while end < len(argv) and not argv[end].startswith("-"):
            end += 1
        name, has_value, value = arg.lstrip("-").partition("=")
        if not arg.startswith("-"):
            problems.append(Problem("", f"unexpected argument {arg!r}", "flag"))
        elif name.lower() == CONFIG_FILE_FLAG:
            if not has_value and end > i + 1:
                value, end = argv[i + 1], i + 2
            elif not has_value:
                problems.append(Problem("configFile", "flag needs a value", "flag"))
            config_file = value or config_file
        else:
            items.append(_Item(arg.partition("=")[0], tuple(argv[i:end]), _fold(parse_path(name))))
        i = end
    return config_file, items, problems


def _group_env(shape: Shape, segments: Sequence[str]) -> list[str] | None:
    """``segments`` with map keys re-joined at ``_`` so that the path resolves, else ``None``."""
    if not segments:
        return []
    if shape.kind == "model" and shape.model is not None:
        spec = find_field(shape.model, segments[0])
        if spec is None:
            return None
        rest = _group_env(spec.shape, segments[1:])
        return None if rest is None else [segments[0], *rest]
    if shape.kind == "dict":
        item = shape.item or _ANY
        if item.kind == "any":
            return list(segments)
        for n in range(1, len(segments) + 1):  # shortest key first: a field name match wins
            rest = _group_env(item, segments[n:])
            if rest is not None:
                return ["_".join(segments[:n]), *rest]
        return None
    if shape.kind == "list" and segments[0].isdigit():
        rest = _group_env(shape.item or _ANY, segments[1:])
        return None if rest is None else [f"[{segments[0]}]", *rest]
    if shape.kind == "any":
        return list(segments)
    return None


def _env_items(env: Mapping[str, str]) -> list[_Item]:
    """``TRAEFIK_*`` variables whose first segment is a top-level key (others are not ours)."""
    items: list[_Item] = []
    for name in sorted(env):
        if not name.upper().startswith(ENV_PREFIX):
            continue
        segments = name[len(ENV_PREFIX):].lower().split("_")
        if find_field(StaticConfig, segments[0]) is None:
            continue
        grouped = _group_env(_ROOT, segments) or segments
        folded = tuple(int(s[1:-1]) if s.startswith("[") else s for s in grouped)
        items.append(_Item(name, (*grouped, env[name]), folded))
    return items


def _decode_env(items: Sequence[_Item]) -> dict[str, Any]:
    return flat_to_data([(item.args[:-1], item.args[-1]) for item in items], StaticConfig, "env")


def _decode_flags(items: Sequence[_Item]) -> dict[str, Any]:
    return parse_flags([arg for item in items for arg in item.args], StaticConfig)


Decoder = Callable[[Sequence[_Item]], dict[str, Any]]


def _decode_all(items: Sequence[_Item], decode: Decoder) -> tuple[dict[str, Any], list[Problem]]:
    """Decode ``items`` together; when that fails, find the failing items one by one and decode
    the others, so that one mistake does not hide the rest of the configuration."""
    try:
        return decode(items), []
    except ConfigError:
        pass
    good: list[_Item] = []
    problems: list[Problem] = []
    for item in items:
        try:
            decode([item])
            good.append(item)
        except ConfigError as exc:
            problems += [_with_origin(p, item) for p in exc.problems]
    try:
        return decode(good), problems
    except ConfigError as exc:  # items that only fail together (mixed list forms)
        return {}, problems + exc.problems


def _with_origin(problem: Problem, item: _Item) -> Problem:
    return replace(problem, message=f"{problem.message} ({item.origin})")


# --------------------------------------------------------------------------------------------
# merging and reporting

def _merge(base: Any, over: Any, shape: Shape) -> Any:
    """``over`` deep-merged onto ``base``: sections merge key by key (field names compared
    case-insensitively, map keys exactly); any other value of ``over`` replaces ``base``'s."""
    if not isinstance(base, Mapping) or not isinstance(over, Mapping):
        return over
    if shape.kind == "model" and shape.model is not None:
        model = shape.model
        out: dict[str, Any] = {}
        for key, value in [*base.items(), *over.items()]:
            spec = find_field(model, str(key))
            name, sub = (spec.alias, spec.shape) if spec is not None else (str(key), _ANY)
            out[name] = _merge(out[name], value, sub) if name in out else value
        return out
    item = shape.item if shape.kind == "dict" and shape.item is not None else _ANY
    merged = dict(base)
    for key, value in over.items():
        merged[key] = _merge(merged[key], value, item) if key in merged else value
    return merged


def _depth(data: Any, folded: KeyPath) -> int:
    """How many leading segments of ``folded`` exist in ``data`` (keys compared case-folded)."""
    depth = 0
    for segment in folded:
        if isinstance(data, Mapping) and isinstance(segment, str):
            data = next((v for k, v in data.items() if str(k).lower() == segment), _MISSING)
        elif isinstance(data, list) and isinstance(segment, int) and segment < len(data):
            data = data[segment]
        else:
            break
        if data is _MISSING:
            break
        depth += 1
    return depth


_MISSING = object()


@dataclass(frozen=True)
class _Source:
    name: str
    data: Mapping[str, Any]
    locator: Locator | None = None
    items: tuple[_Item, ...] = ()


def _attribute(problem: Problem, sources: Sequence[_Source]) -> Problem:
    """Blame the source (highest precedence first) that wrote the most of the problem's path."""
    folded = _fold(parse_path(problem.path))
    best, depth = None, 0
    for source in sources:
        found = _depth(source.data, folded)
        if found > depth:
            best, depth = source, found
    if best is None:
        return problem
    line = best.locator(parse_path(problem.path)) if best.locator else None
    origins = [i for i in best.items if i.folded[: len(folded)] == folded or folded[: len(i.folded)] == i.folded]
    message = f"{problem.message} ({origins[-1].origin})" if origins else problem.message
    return replace(problem, source=best.name, line=line, message=message)


# --------------------------------------------------------------------------------------------
# the entry point

def load_static(
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    cwd: Path | None = None,
    home: Path | None = None,
    search: bool = True,
) -> StaticConfig:
    """The effective static configuration from the file, ``TRAEFIK_*`` variables and flags.

    ``argv`` holds the flags only (no program name).  ``search=False`` reads no file unless
    ``--configFile`` names one.  Raises :class:`ConfigError` listing every problem of every
    source, each located (file and line, ``env`` or ``flag``).
    """
    cwd = cwd if cwd is not None else Path.cwd()
    home = home if home is not None else Path.home()
    explicit, flag_items, problems = _split_flags(argv)
    sources: list[_Source] = []

    flag_data, flag_problems = _decode_all(flag_items, _decode_flags)
    problems += flag_problems
    sources.append(_Source("flag", flag_data, items=tuple(flag_items)))

    env_items = _env_items(env)
    env_data, env_problems = _decode_all(env_items, _decode_env)
    problems += env_problems
    sources.append(_Source("env", env_data, items=tuple(env_items)))

    path = find_config_file(explicit, cwd, home, xdg_config_home=env.get("XDG_CONFIG_HOME")) if (
        explicit or search) else None
    if path is not None:
        try:
            file_data, locator = load_file(path)
            sources.append(_Source(str(path), file_data, locator))
        except ConfigError as exc:
            problems += exc.problems

    merged: Any = {}
    for source in reversed(sources):
        merged = _merge(merged, source.data, _ROOT)
    try:
        config = validate(StaticConfig, merged)
    except ConfigError as exc:
        problems += [_attribute(p, sources) for p in exc.problems]
        raise ConfigError(problems) from None
    if problems:
        raise ConfigError(problems)
    return config.with_defaults()
