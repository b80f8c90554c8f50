"""The flat form of configuration: ``(path segments, string value)`` pairs, as written in Docker
labels (``traefik.http.routers.r.rule``), KV stores (``traefik/http/routers/r/rule``), environment
variables and command-line flags, in both directions.

Decoding is generic: it walks the target model's ``model_fields`` (alias + annotation, see
:func:`shape_of`) and mirrors Traefik's parser (``paerser``):

* field names match case-insensitively (``loadbalancer`` → ``loadBalancer``); map keys (router,
  service, header names) keep the case they were written with;
* a list of scalars is one comma-separated value (items trimmed) or indexed items
  (``entrypoints[0]``, KV ``entrypoints/0``); a list of sections is indexed (``servers[0].url``);
* a value on a section (a model or a map) enables it with defaults (``true`` or empty) or drops it
  (``false``), like ``--providers.docker=true`` or ``...routers.r.tls=true``;
* free-form maps (``dict[str, Any]``, plugin options) keep nested strings; indices make lists.

Values stay strings; pydantic's lax mode turns ``"true"``/``"10"``/``"1m30s"`` into field types.
"""

from __future__ import annotations

import enum
import re
import types
import typing
from collections import abc
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel

from traefikpy.config.base import dump
from traefikpy.config.errors import ConfigError, Path, Problem, join_path

Kind = Literal["scalar", "model", "list", "dict", "any"]


@dataclass(frozen=True)
class Shape:
    """What a field holds, as far as the flat form cares."""

    kind: Kind
    item: Shape | None = None  # element of a list, value of a dict
    model: type[BaseModel] | None = None  # for kind "model"
    scalar: type | None = None  # str, int, float or bool for kind "scalar" (None: other)


@dataclass(frozen=True)
class FieldSpec:
    alias: str
    shape: Shape


_ANY = Shape("any")
_SCALARS = (bool, int, float, str)
_LISTS = (list, tuple, set, frozenset, abc.Sequence, abc.MutableSequence, abc.Set, abc.MutableSet)
_DICTS = (dict, abc.Mapping, abc.MutableMapping)


def shape_of(annotation: Any) -> Shape:
    """The :class:`Shape` of a field annotation (``Optional`` and ``Annotated`` unwrapped)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return shape_of(args[0])
    if origin is typing.Union or origin is types.UnionType:
        members = [a for a in args if a is not type(None)]
        if len(members) == 1:
            return shape_of(members[0])
        shapes = [shape_of(m) for m in members]
        return shapes[0] if all(s.kind == "scalar" for s in shapes) else _ANY
    if origin is Literal:
        return Shape("scalar", scalar=type(args[0]) if args else None)
    if origin in _LISTS or annotation in _LISTS:
        return Shape("list", item=shape_of(args[0]) if args else _ANY)
    if origin in _DICTS or annotation in _DICTS:
        return Shape("dict", item=shape_of(args[1]) if len(args) == 2 else _ANY)
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return Shape("model", model=annotation)
        if issubclass(annotation, enum.Enum):
            return Shape("scalar")
        for scalar in _SCALARS:
            if issubclass(annotation, scalar):
                return Shape("scalar", scalar=scalar)
    if annotation is Any or annotation is object:
        return _ANY
    return Shape("scalar")


@cache
def _fields(model: type[BaseModel]) -> tuple[dict[str, FieldSpec], dict[str, FieldSpec]]:
    exact: dict[str, FieldSpec] = {}
    folded: dict[str, FieldSpec] = {}
    for name, info in model.model_fields.items():
        spec = FieldSpec(info.alias or name, shape_of(info.annotation))
        exact[spec.alias] = spec
        folded.setdefault(spec.alias.lower(), spec)
    return exact, folded


def find_field(model: type[BaseModel], name: str) -> FieldSpec | None:
    """The field whose alias is ``name``, exactly or else case-insensitively."""
    exact, folded = _fields(model)
    return exact.get(name) or folded.get(name.lower())


# --------------------------------------------------------------------------------------------
# flat → nested data

@dataclass(frozen=True)
class _Token:
    name: str
    index: int | None = None  # written as an index: "[0]", or a numeric KV segment


_BRACKETS = re.compile(r"\[(\d+)\]")


def _tokens(segment: str) -> list[_Token]:
    """``servers[0]`` → ``servers``, ``[0]``; ``[1]`` → ``[1]``; anything else is one name."""
    first = segment.find("[")
    if first < 0 or not segment.endswith("]"):
        return [_Token(segment)]
    rest = segment[first:]
    indices = _BRACKETS.findall(rest)
    if "".join(f"[{i}]" for i in indices) != rest:
        return [_Token(segment)]
    head = [_Token(segment[:first])] if first else []
    return head + [_Token(i, int(i)) for i in indices]


class _Node:
    __slots__ = ("children", "shape", "shown", "value")

    def __init__(self, shape: Shape, shown: Path) -> None:
        self.shape = shape
        self.shown = shown  # the path as first written, for messages
        self.value: str | None = None
        self.children: dict[str | int, _Node] = {}


_DROP = object()
_SECTION_HINT = "a section takes true (enable with defaults) or false (disable)"


class _Decoder:
    def __init__(self, model: type[BaseModel], source: str) -> None:
        self.root = _Node(Shape("model", model=model), ())
        self.source = source
        self.problems: list[Problem] = []

    def problem(self, path: Iterable[str | int], message: str) -> None:
        self.problems.append(Problem(join_path(path), message, self.source))

    def insert(self, segments: Sequence[str], value: str) -> None:
        node, shown = self.root, list[str | int]()
        for token in (t for segment in segments for t in _tokens(segment)):
            shape = node.shape
            key: str | int
            seg: str | int
            if shape.kind == "model" and shape.model is not None:
                spec = find_field(shape.model, token.name) if token.index is None else None
                if spec is None:
                    self.problem([*shown, token.name if token.index is None else token.index], "unknown key")
                    return
                key, child_shape, seg = spec.alias, spec.shape, token.name
            elif shape.kind == "dict":
                key = seg = token.name
                child_shape = shape.item or _ANY
            elif shape.kind == "list":
                index = token.index if token.index is not None else (
                    int(token.name) if token.name.isdigit() else None)
                if index is None:
                    self.problem([*shown, token.name], f"expected a list index, e.g. {join_path(shown)}[0]")
                    return
                key = seg = index
                child_shape = shape.item or _ANY
            elif shape.kind == "any":
                key = seg = token.index if token.index is not None else token.name
                child_shape = _ANY
            else:
                self.problem(shown, f"is a single value and has no key {token.name!r}")
                return
            shown.append(seg)
            child = node.children.get(key)
            if child is None:
                child = node.children[key] = _Node(child_shape, tuple(shown))
            node = child
        node.value = value

    def build(self, node: _Node) -> Any:
        kind = node.shape.kind
        if kind in ("model", "dict"):
            if node.value is not None:
                flag = node.value.strip().lower()
                if flag == "false":
                    return _DROP
                if flag not in ("", "true"):
                    self.problem(node.shown, f"{_SECTION_HINT}, got {node.value!r}")
                    return _DROP
            out: dict[str | int, Any] = {}
            for key, child in node.children.items():
                value = self.build(child)
                if value is not _DROP:
                    out[key] = value
            return out
        if kind == "list":
            return self._build_list(node)
        if kind == "any" and node.children:
            keys = list(node.children)
            if all(isinstance(k, int) for k in keys):
                return [self.build(node.children[k]) for k in sorted(keys, key=int)]
            if any(isinstance(k, int) for k in keys):
                self.problem(node.shown, "mixes list indices and keys")
                return _DROP
            return {k: self.build(c) for k, c in node.children.items()}
        return node.value

    def _build_list(self, node: _Node) -> Any:
        item = node.shape.item or _ANY
        if node.children:
            if node.value is not None:
                self.problem(node.shown, "give either one comma-separated value or indexed items, not both")
            items = (self.build(node.children[k]) for k in sorted(node.children, key=int))
            return [v for v in items if v is not _DROP]
        text = node.value or ""
        if not text.strip():
            return []
        if item.kind in ("model", "dict", "list"):
            self.problem(node.shown, f"a list of sections needs indexed keys, e.g. {join_path(node.shown)}[0]...")
            return _DROP
        return [part.strip() for part in text.split(",")]


def flat_to_data(
    items: Iterable[tuple[Sequence[str], str]], model: type[BaseModel], source: str = "flat"
) -> dict[str, Any]:
    """Nested alias-keyed data for ``model`` from ``(segments, value)`` pairs.

    A segment may carry indices (``servers[0]``) or be one (``[0]``, or digits where a list is
    expected).  Later pairs overwrite earlier ones.  Raises :class:`ConfigError` listing every
    unknown or misplaced key; values are not type-checked here (see ``validate``).
    """
    decoder = _Decoder(model, source)
    for segments, value in items:
        decoder.insert(segments, value)
    data = decoder.build(decoder.root)
    if decoder.problems:
        raise ConfigError(decoder.problems)
    return data if isinstance(data, dict) else {}


def parse_labels(
    labels: Mapping[str, str],
    model: type[BaseModel],
    prefix: str = "traefik",
    skip: Iterable[str] = ("enable", "docker", "tags"),
    source: str = "label",
) -> dict[str, Any]:
    """Data for ``model`` from labels such as ``traefik.http.routers.r.rule``.

    Only keys under ``prefix.`` are read; those whose first segment after the prefix is in
    ``skip`` (case-insensitive; provider settings such as ``traefik.enable``) are ignored.
    """
    skipped = {s.lower() for s in skip}
    items: list[tuple[list[str], str]] = []
    for key in sorted(labels):  # sorted like Traefik: the last of two spellings wins
        head, dot, rest = key.partition(".")
        if not dot or head.lower() != prefix.lower():
            continue
        segments = rest.split(".")
        if segments[0].lower() not in skipped:
            items.append((segments, labels[key]))
    return flat_to_data(items, model, source)


def parse_kv(
    pairs: Mapping[str, str],
    model: type[BaseModel],
    root: str = "traefik",
    skip: Iterable[str] = (),
    source: str = "kv",
) -> dict[str, Any]:
    """Data for ``model`` from KV pairs such as ``traefik/http/services/s/loadBalancer/servers/0/url``.

    Numeric segments are list indices (``entryPoints/0``, ``servers/0/url``), as in Traefik.
    """
    skipped = {s.lower() for s in skip}
    items: list[tuple[list[str], str]] = []
    for key in sorted(pairs):
        segments = [s for s in key.split("/") if s]
        if len(segments) < 2 or segments[0].lower() != root.lower() or segments[1].lower() in skipped:
            continue
        items.append(([f"[{s}]" if s.isdigit() else s for s in segments[1:]], pairs[key]))
    return flat_to_data(items, model, source)


# --------------------------------------------------------------------------------------------
# model → flat

def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _commas_safe(values: list[Any]) -> bool:
    texts = [_text(v) for v in values]
    return bool(texts) and all(
        isinstance(v, str | int | float | bool) and t and "," not in t and t == t.strip()
        for v, t in zip(values, texts, strict=True)
    )


def _emit(value: Any, shape: Shape, path: Path, out: list[tuple[Path, str]], commas: bool) -> None:
    kind = shape.kind
    if kind in ("model", "dict") and isinstance(value, dict):
        if not value and path:
            out.append((path, "true"))
        for key, item in value.items():
            if shape.kind == "model" and shape.model is not None:
                spec = find_field(shape.model, key)
                item_shape = spec.shape if spec is not None else _ANY
            else:
                item_shape = shape.item or _ANY
            _emit(item, item_shape, (*path, key), out, commas)
    elif kind == "list" and isinstance(value, list):
        item = shape.item or _ANY
        if not value:
            out.append((path, ""))
        elif commas and item.kind == "scalar" and _commas_safe(value):
            out.append((path, ",".join(_text(v) for v in value)))
        else:
            for i, element in enumerate(value):
                _emit(element, item, (*path, i), out, commas)
    elif isinstance(value, dict):  # free-form map: empty containers have no flat form
        for key, item in value.items():
            _emit(item, _ANY, (*path, key), out, commas)
    elif isinstance(value, list):
        for i, element in enumerate(value):
            _emit(element, _ANY, (*path, i), out, commas)
    elif value is not None:
        out.append((path, _text(value)))


def flatten(obj: BaseModel, *, comma_lists: bool = True) -> list[tuple[Path, str]]:
    """The set fields of ``obj`` as ``(path, text)`` pairs (see :func:`to_labels`)."""
    out: list[tuple[Path, str]] = []
    _emit(dump(obj), Shape("model", model=type(obj)), (), out, comma_lists)
    return out


def _check_keys(pairs: list[tuple[Path, str]], forbidden: str, form: str, source: str) -> None:
    bad = {join_path(p): s for p, _ in pairs for s in p if isinstance(s, str) and forbidden in s}
    if bad:
        raise ConfigError(
            Problem(path, f"the name {name!r} contains {forbidden!r} and cannot be written as {form}", source)
            for path, name in bad.items()
        )


def to_labels(obj: BaseModel, prefix: str = "traefik") -> dict[str, str]:
    """Labels for ``obj``: ``traefik.http.routers.r.entryPoints=web,websecure``,
    ``...servers[0].url=...``; an empty section is ``=true``, an empty list ``=`` (empty)."""
    pairs = flatten(obj, comma_lists=True)
    _check_keys(pairs, ".", "a label", "label")
    return {f"{prefix}.{join_path(path)}": text for path, text in pairs}


def to_kv(obj: BaseModel, root: str = "traefik") -> dict[str, str]:
    """KV pairs for ``obj``: ``traefik/http/routers/r/entryPoints/0=web``, lists indexed."""
    pairs = flatten(obj, comma_lists=False)
    _check_keys(pairs, "/", "a KV key", "kv")
    return {"/".join([root, *(str(s) for s in path)]): text for path, text in pairs}
