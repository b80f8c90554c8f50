"""The one decoder: YAML/TOML documents, flat labels and KV paths, environment variables and
command-line flags all become alias-keyed data, and :func:`validate` turns data into a model or a
:class:`ConfigError` listing every mistake with its dotted path and, for files, its line.

Documents are read like Traefik's file provider reads them (``paerser``): field names match
case-insensitively, numbers and booleans are accepted where a string is expected, a null value
leaves a field (or a named section such as a router) unset, YAML follows the 1.2 core schema
(``on``/``yes`` and ``1:30`` stay strings, as with Go's yaml.v3), and a duplicate YAML key is an
error.  Enable a section with defaults with ``{}`` (``tls: {}``), not with a bare ``tls:``.

The flat form lives in :mod:`traefikpy.config.flat` and is re-exported here.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path as FsPath
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from traefikpy.config.base import dump
from traefikpy.config.errors import (
    ConfigError,
    Path,
    Problem,
    join_path,
    parse_path,
    problems_from_validation,
)
from traefikpy.config.flat import (
    Shape,
    find_field,
    flat_to_data,
    flatten,
    parse_kv,
    parse_labels,
    shape_of,
    to_kv,
    to_labels,
)

__all__ = [
    "ConfigError", "Locator", "Problem", "flat_to_data", "flatten", "load_file", "load_text",
    "parse_env", "parse_flags", "parse_kv", "parse_labels", "to_kv", "to_labels", "to_toml",
    "to_yaml", "validate", "Shape", "shape_of",
]

M = TypeVar("M", bound=BaseModel)


class Locator:
    """Line numbers of the keys of one document, looked up by path (exact case first)."""

    def __init__(self, lines: Mapping[Path, int] | None = None) -> None:
        self._lines: dict[Path, int] = dict(lines or {})
        self._folded: dict[Path, int] | None = None  # built on the first case-insensitive lookup

    def line(self, path: Path | str) -> int | None:
        """The line of ``path`` or of its nearest written ancestor (``None`` if none is known)."""
        segments = parse_path(path) if isinstance(path, str) else tuple(path)
        for end in range(len(segments), 0, -1):
            prefix = segments[:end]
            found = self._lines.get(prefix)
            if found is None:
                if self._folded is None:
                    self._folded = {}
                    for known, line in self._lines.items():
                        self._folded.setdefault(_fold(known), line)
                found = self._folded.get(_fold(prefix))
            if found is not None:
                return found
        return None

    __call__ = line


def _fold(path: Path) -> Path:
    return tuple(s.lower() if isinstance(s, str) else s for s in path)


# --------------------------------------------------------------------------------------------
# documents

_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~10x faster


class _Yaml12Loader(_SafeLoader):  # type: ignore[valid-type,misc]
    """SafeLoader with the YAML 1.2 core schema for booleans, numbers and timestamps."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag.rsplit(":", 1)[-1] not in ("bool", "int", "float", "timestamp")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _tag, _pattern, _first in (
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    ("float", r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
     r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", "-+.0123456789"),
):
    _Yaml12Loader.add_implicit_resolver(f"tag:yaml.org,2002:{_tag}", re.compile(_pattern), list(_first))


def _construct_yaml_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    return int(text, 8) if text.startswith("0o") else int(text, 0) if text.startswith("0x") else int(text)


_Yaml12Loader.add_constructor("tag:yaml.org,2002:int", _construct_yaml_int)


def _yaml_lines(node: yaml.Node, path: Path, lines: dict[Path, int], problems: list[Problem], source: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key == "<<":
                continue
            line = key_node.start_mark.line + 1
            if key in seen:
                problems.append(Problem(join_path((*path, key)), "duplicate key", source, line))
            seen.add(key)
            lines.setdefault((*path, key), line)
            _yaml_lines(value_node, (*path, key), lines, problems, source)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines.setdefault((*path, index), item.start_mark.line + 1)
            _yaml_lines(item, (*path, index), lines, problems, source)


def _load_yaml(text: str, source: str) -> tuple[Any, Locator]:
    loader = _Yaml12Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return {}, Locator()
        lines: dict[Path, int] = {}
        problems: list[Problem] = []
        _yaml_lines(node, (), lines, problems, source)
        if problems:
            raise ConfigError(problems)
        return loader.construct_document(node), Locator(lines)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = ", ".join(str(p) for p in (exc.context, exc.problem) if p) or "invalid YAML"
        raise ConfigError([Problem("", message, source, mark.line + 1 if mark else None)]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem("", f"invalid YAML: {exc}", source)]) from None
    finally:
        loader.dispose()


_TOML_KEY = re.compile(r'\s*("(?:[^"\\]|\\.)*"|\'[^\']*\'|[A-Za-z0-9_-]+)\s*(\.|=|\]|$)')


def _toml_key(text: str) -> tuple[Path, str]:
    """Parses a (dotted, possibly quoted) TOML key; returns it and what follows it."""
    parts: list[str | int] = []
    rest = text
    while True:
        match = _TOML_KEY.match(rest)
        if match is None:
            return tuple(parts), rest
        raw = match.group(1)
        parts.append(raw[1:-1] if raw[0] in "\"'" else raw)
        rest = rest[match.end(1):].lstrip()
        if not rest.startswith("."):
            return tuple(parts), rest
        rest = rest[1:]


def _toml_lines(text: str) -> Locator:
    """Best effort: table headers and ``key =`` lines (multi-line strings may add noise)."""
    lines: dict[Path, int] = {}
    arrays: dict[Path, int] = {}
    table: Path = ()
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith("[["):
            name, _ = _toml_key(stripped[2:])
            arrays[name] = arrays.get(name, -1) + 1
            table = (*name, arrays[name])
            lines.setdefault(name, number)
            lines.setdefault(table, number)
        elif stripped.startswith("["):
            table, _ = _toml_key(stripped[1:])
            lines.setdefault(table, number)
        elif stripped and not stripped.startswith("#"):
            key, rest = _toml_key(stripped)
            if key and rest.startswith("="):
                lines.setdefault((*table, *key), number)
    return Locator(lines)


def _load_toml(text: str, source: str) -> tuple[Any, Locator]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = re.search(r"\s*\(at line (\d+), column \d+\)", message)
        line = int(found.group(1)) if found else None
        if found:
            message = message[: found.start()] + message[found.end():]
        raise ConfigError([Problem("", message or "invalid TOML", source, line)]) from None
    return data, _toml_lines(text)


_FORMATS = {"yaml": "yaml", "yml": "yaml", "toml": "toml"}


def load_text(text: str, fmt: str, source: str = "<string>") -> tuple[dict[str, Any], Locator]:
    """Parse a YAML or TOML document; ``({}, ...)`` for an empty one.

    Raises :class:`ConfigError` (with the line) on a syntax error, a duplicate YAML key or a
    document that is not a mapping.
    """
    kind = _FORMATS.get(fmt.lower().lstrip("."))
    if kind is None:
        raise ConfigError([Problem("", f"unsupported configuration format {fmt!r} (use yaml or toml)", source)])
    data, locator = _load_yaml(text, source) if kind == "yaml" else _load_toml(text, source)
    if data is None:
        return {}, locator
    if not isinstance(data, dict):
        raise ConfigError([Problem("", "the document must be a mapping of keys", source, 1)])
    return data, locator


def load_file(path: str | FsPath) -> tuple[dict[str, Any], Locator]:
    """:func:`load_text` on a file; the format comes from its suffix (.yml, .yaml or .toml)."""
    file = FsPath(path)
    if file.suffix.lower().lstrip(".") not in _FORMATS:
        raise ConfigError([Problem("", f"unsupported file extension {file.suffix!r} (use .yml, .yaml or .toml)", str(file))])
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem("", f"cannot read the file: {exc}", str(file))]) from None
    return load_text(text, file.suffix, str(file))


# --------------------------------------------------------------------------------------------
# validation

def _as_string(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


class _Conformer:
    """Rewrites document data the way Traefik's file decoder reads it (see module docstring)."""

    def __init__(self) -> None:
        self.renames: dict[Path, str] = {}
        self.problems: list[tuple[Path, str]] = []

    def run(self, data: Any, shape: Shape, path: Path) -> Any:
        kind = shape.kind
        if kind == "model" and shape.model is not None and isinstance(data, Mapping):
            out: dict[str, Any] = {}
            for raw_key, value in data.items():
                key = str(_as_string(raw_key))
                spec = find_field(shape.model, key)
                if spec is None:
                    out[key] = value  # pydantic reports it as an unknown key
                    continue
                if spec.alias in out:
                    self.problems.append(((*path, key), f"duplicate key (also written as {spec.alias!r})"))
                    continue
                if key != spec.alias:
                    self.renames[(*path, spec.alias)] = key
                if value is None:
                    continue  # null leaves the field unset, as Traefik skips nil values
                out[spec.alias] = self.run(value, spec.shape, (*path, spec.alias))
            return out
        if kind == "dict" and isinstance(data, Mapping):
            item = shape.item or Shape("any")
            # a null named section (``routers: {r1: }``) is unset; a null text value is left to
            # the model (the header maps read it as "" = remove the header)
            return {
                str(_as_string(k)): self.run(v, item, (*path, str(_as_string(k))))
                for k, v in data.items()
                if v is not None or item.kind in ("scalar", "any")
            }
        if kind == "list" and isinstance(data, list):
            item = shape.item or Shape("any")
            return [self.run(v, item, (*path, i)) for i, v in enumerate(data)]
        if kind == "scalar" and shape.scalar is str:
            return _as_string(data)
        return data


def validate(
    model: type[M], data: Mapping[str, Any], *, source: str | None = None, locator: Locator | None = None
) -> M:
    """``model`` from alias-keyed ``data`` (a document, or flat data); on failure a
    :class:`ConfigError` with one :class:`Problem` per mistake (dotted path, message, line)."""
    conformer = _Conformer()
    conformed = conformer.run(data, Shape("model", model=model), ())
    problems = [Problem(join_path(path), message, source, locator(path) if locator else None)
                for path, message in conformer.problems]
    try:
        result = model.model_validate(conformed)
    except ValidationError as exc:
        problems += problems_from_validation(
            exc, conformed, source=source, line_of=locator, renames=conformer.renames
        )
        # in document order when lines are known (stable: pydantic's order otherwise)
        problems.sort(key=lambda p: p.line if p.line is not None else 1 << 30)
        raise ConfigError(problems) from None
    if problems:
        raise ConfigError(problems)
    return result


# --------------------------------------------------------------------------------------------
# environment variables and flags

def parse_env(
    environ: Mapping[str, str], model: type[BaseModel], prefix: str = "TRAEFIK_", skip: Iterable[str] = ()
) -> dict[str, Any]:
    """Data from variables such as ``TRAEFIK_ENTRYPOINTS_WEB_ADDRESS=:80``.

    As in Traefik, names are lower-cased and split at ``_`` (so map keys from the environment
    are lower case and cannot contain ``_``), and variables whose first segment is not a field
    of ``model`` are ignored.
    """
    skipped = {s.lower() for s in skip}
    items: list[tuple[list[str], str]] = []
    for name in sorted(environ):
        if not name.upper().startswith(prefix.upper()):
            continue
        segments = name[len(prefix):].lower().split("_")
        if segments[0] in skipped or find_field(model, segments[0]) is None:
            continue
        items.append((segments, environ[name]))
    return flat_to_data(items, model, "env")


def _resolve(model: type[BaseModel], segments: Sequence[str]) -> Shape | None:
    """The shape a flag name points at (``None`` when a segment is unknown)."""
    shape = Shape("model", model=model)
    for segment in (t for s in segments for t in re.split(r"[\[\]]+", s) if t):
        if shape.kind == "model" and shape.model is not None:
            spec = find_field(shape.model, segment)
            if spec is None:
                return None
            shape = spec.shape
        elif shape.kind in ("dict", "list"):
            shape = shape.item or Shape("any")
        elif shape.kind != "any":
            return None
    return shape


def _takes_value(shape: Shape | None) -> bool:
    """Whether ``--a.b`` without ``=`` reads the next argument (not for bools and sections)."""
    if shape is None:
        return True
    return not (shape.kind in ("model", "dict") or (shape.kind == "scalar" and shape.scalar is bool))


def parse_flags(args: Sequence[str], model: type[BaseModel], skip: Iterable[str] = ()) -> dict[str, Any]:
    """Data from arguments such as ``--entrypoints.web.address=:80``, ``--api.insecure``,
    ``--providers.docker`` (a bare section enables it), ``--log.level DEBUG``; a repeated list
    flag appends.  Flags whose first segment is in ``skip`` are ignored, with their value."""
    skipped = {s.lower() for s in skip}
    values: dict[str, tuple[list[str], str]] = {}
    problems: list[Problem] = []
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if arg == "--":
            break
        name = arg.lstrip("-")
        if not arg.startswith("-") or not name or name.startswith("="):
            problems.append(Problem("", f"unexpected argument {arg!r}", "flag"))
            continue
        name, has_value, value = name.partition("=")
        segments = name.split(".")
        ignored = segments[0].lower() in skipped
        shape = None if ignored else _resolve(model, segments)
        if not has_value:
            if ignored:
                value = rest.pop(0) if rest and not rest[0].startswith("-") else "true"
            elif not _takes_value(shape):
                value = "true"
            elif rest:
                value = rest.pop(0)
            else:
                problems.append(Problem(name, "flag needs a value", "flag"))
                continue
        if ignored:
            continue
        key = name.lower()
        previous = values.get(key)
        if previous is not None and shape is not None and shape.kind == "list":
            value = f"{previous[1]},{value}"
        values[key] = (segments, value)
    if problems:
        raise ConfigError(problems)
    return flat_to_data(values.values(), model, "flag")


# --------------------------------------------------------------------------------------------
# documents out

def to_yaml(obj: BaseModel) -> str:
    """YAML with Traefik's key names, set fields only."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(dump(obj), Dumper=dumper, sort_keys=False, allow_unicode=True, default_flow_style=False)


def to_toml(obj: BaseModel) -> str:
    """TOML with Traefik's key names, set fields only (written with ``tomli-w``)."""
    import tomli_w  # only needed for this output

    return tomli_w.dumps(dump(obj))

