"""Reference documentation generated from the configuration models.

:func:`render` walks any :class:`pydantic.BaseModel` tree (dynamic or static configuration) and
returns Markdown: one section per model class with its docstring, the key paths where it appears,
and a table of its keys (Traefik alias, type, default, the field's ``description``).  Defaults are
read from the models themselves, so the page cannot drift from the code.

``python -m traefikpy.config.docgen`` writes ``docs/reference/dynamic.md``;
``python -m traefikpy.config.docgen MODULE:CLASS "Title" OUTPUT`` renders another model, and
``--check`` only reports (exit 1) when the file on disk is stale.
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, BeforeValidator
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from traefikpy.config.base import format_duration, parse_duration

__all__ = ["main", "render"]

DEFAULT_TARGET = ("traefikpy.config.dynamic:DynamicConfig", "Dynamic configuration reference",
                  "docs/reference/dynamic.md")

_SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean"}


Linker = Callable[[type[BaseModel]], str]


def _plain(model: type[BaseModel]) -> str:
    return model.__name__


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _is_duration(metadata: Sequence[Any]) -> bool:
    return any(isinstance(m, BeforeValidator) and m.func is parse_duration for m in metadata)


def _describe(
    tp: Any, metadata: Sequence[Any] = (), link: Linker = _plain
) -> tuple[str, list[tuple[str, type[BaseModel]]], bool]:
    """``(type text, [(path suffix, nested model)], is_duration)`` for an annotation."""
    origin = get_origin(tp)
    if origin is Annotated:
        inner, *extra = get_args(tp)
        return _describe(inner, [*metadata, *extra], link)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return _describe(args[0], metadata, link)
        parts = [_describe(a, (), link) for a in args]
        return " or ".join(p[0] for p in parts), [n for p in parts for n in p[1]], False
    if origin is Literal:
        return "one of " + ", ".join(f"`{v}`" for v in get_args(tp)), [], False
    if origin is list:
        (item,) = get_args(tp)
        text, nested, dur = _describe(item, (), link)
        return f"list of {text}", [(f"[]{suffix}", m) for suffix, m in nested], dur
    if origin is dict:
        _, value = get_args(tp)
        text, nested, dur = _describe(value, (), link)
        return f"map of {text}", [(f".<name>{suffix}", m) for suffix, m in nested], dur
    if _is_model(tp):
        return link(tp), [("", tp)], False
    if _is_duration(metadata):
        return "duration", [], True
    if tp is Any:
        return "any", [], False
    return _SCALARS.get(tp, getattr(tp, "__name__", str(tp))), [], False


def _default_text(info: FieldInfo, is_duration: bool, link: Linker) -> str:
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
    elif info.default is PydanticUndefined:
        return "required"
    else:
        value = info.default
    if value is None:
        return "unset"
    if isinstance(value, BaseModel):
        return f"{link(type(value))} defaults"
    if is_duration and isinstance(value, int | float) and not isinstance(value, bool):
        return f"`{format_duration(float(value))}`"
    return f"`{json.dumps(value)}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _doc(model: type[BaseModel]) -> str:
    raw = model.__dict__.get("__doc__")
    return " ".join(inspect.cleandoc(raw).split()) if raw else ""


def render(model_cls: type[BaseModel], title: str) -> str:
    """Markdown reference of ``model_cls`` and every model reachable from it."""
    order: list[type[BaseModel]] = []
    paths: dict[type[BaseModel], list[str]] = {}
    # Breadth-first over key paths (a model reused in several places lists them all); a model
    # already among its own ancestors is not expanded again, so recursive models terminate.
    queue: list[tuple[type[BaseModel], str, tuple[type[BaseModel], ...]]] = [(model_cls, "", ())]
    while queue:
        model, path, ancestors = queue.pop(0)
        if model not in paths:
            paths[model] = []
            order.append(model)
        paths[model].append(path)
        if model in ancestors:
            continue
        for name, info in model.model_fields.items():
            key = info.alias or name
            _, nested, _ = _describe(info.annotation, info.metadata)
            queue.extend(
                (sub, f"{path}.{key}{suffix}".lstrip("."), (*ancestors, model)) for suffix, sub in nested
            )

    # Anchors are class names; a name shared by two classes gets its module as a prefix.
    names = [m.__name__ for m in order]
    anchors = {
        m: (m.__name__ if names.count(m.__name__) == 1 else f"{m.__module__.rpartition('.')[2]}-{m.__name__}").lower()
        for m in order
    }

    def link(model: type[BaseModel]) -> str:
        return f"[{model.__name__}](#{anchors[model]})"

    out = [
        "<!-- Generated by `python -m traefikpy.config.docgen` from the models; do not edit. -->",
        "",
        f"# {title}",
        "",
    ]
    for model in order:
        out += [f'<a id="{anchors[model]}"></a>', "", f"## {model.__name__}", ""]
        if doc := _doc(model):
            out += [doc, ""]
        where = [p for p in paths[model] if p]
        if where:
            out += ["Keys: " + ", ".join(f"`{p}`" for p in where), ""]
        if not model.model_fields:
            out += ["No options: the key's presence is the setting.", ""]
            continue
        out += ["| Key | Type | Default | Description |", "| --- | --- | --- | --- |"]
        for name, info in model.model_fields.items():
            text, _, is_duration = _describe(info.annotation, info.metadata, link)
            out.append(
                f"| `{info.alias or name}` | {_cell(text)} | {_cell(_default_text(info, is_duration, link))} "
                f"| {_cell(info.description or '')} |"
            )
        out.append("")
    return "\n".join(out)


def _load(target: str) -> type[BaseModel]:
    module_name, _, attr = target.partition(":")
    model = getattr(importlib.import_module(module_name), attr)
    if not _is_model(model):
        raise SystemExit(f"{target} is not a pydantic model")
    return model  # type: ignore[no-any-return]


def main(argv: Sequence[str] | None = None) -> int:
    """Write (or with ``--check`` verify) a reference page; see the module docstring."""
    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    args = [a for a in args if a != "--check"]
    if args and len(args) != 3:
        print("usage: python -m traefikpy.config.docgen [--check] [MODULE:CLASS TITLE OUTPUT]", file=sys.stderr)
        return 2
    target, title, output = args or DEFAULT_TARGET
    text = render(_load(target), title)
    path = Path(output)
    if check:
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            print(f"{path} is stale: run python -m traefikpy.config.docgen", file=sys.stderr)
            return 1
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
