"""The small Go ``text/template`` subset of Traefik's ``defaultRule`` (Docker, Consul Catalog).

Traefik renders ``defaultRule`` with Go's ``text/template``, the Sprig functions and
``normalize``, with the data ``{Name, Labels}`` (Docker adds ``ContainerName``).  This module
implements what such rules use, purely:

* text and actions ``{{ pipeline }}`` with trim markers (``{{- ... -}}``) and comments;
* ``{{ if }}``/``{{ else if }}``/``{{ else }}``/``{{ end }}`` and ``{{ with }}`` (which moves the dot);
* pipelines ``a | f b`` (the previous value is the last argument), parenthesised pipelines;
* operands: fields (``.Name``, ``.Labels.key``, ``$.Name``, ``.``), strings (``"..."`` with Go
  escapes, raw `` `...` ``), numbers, ``true``/``false``/``nil``;
* functions: Go's ``and or not len index print printf println eq ne lt le gt ge``, ``normalize``,
  and the common Sprig string helpers (``lower upper title trim trimAll trimPrefix trimSuffix
  replace contains hasPrefix hasSuffix default empty coalesce quote squote cat splitList join
  first last regexMatch regexReplaceAll trunc substr nospace repeat toString ternary list``).

Go's semantics are kept where a rule can see them: a missing map key prints ``<no value>``
(``index`` gives ``""``), an unknown field of the data is an error, and a missing key passed to a
function that wants a string is an error (``invalid value; expected string``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from providers.gotemplate_funcs import FUNCTIONS, MISSING, Struct, TemplateError, call, normalize
from providers.gotemplate_funcs import text as _show
from providers.gotemplate_funcs import truth as _truth

__all__ = ["Template", "TemplateError", "compile_template", "normalize"]


# --------------------------------------------------------------------------------------------
# nodes


@dataclass(frozen=True)
class _Field:
    base: str  # "dot", "root" or "pipe" (fields after a parenthesised pipeline)
    chain: tuple[str, ...]
    sub: _Pipeline | None = None


@dataclass(frozen=True)
class _Literal:
    value: Any


@dataclass(frozen=True)
class _Func:
    name: str


@dataclass(frozen=True)
class _Pipeline:
    commands: tuple[tuple[Any, ...], ...]


@dataclass(frozen=True)
class _Action:
    pipeline: _Pipeline


@dataclass(frozen=True)
class _Branch:
    kind: str  # "if" or "with"
    pipeline: _Pipeline
    then: tuple[Any, ...]
    otherwise: tuple[Any, ...]


# --------------------------------------------------------------------------------------------
# lexing and parsing

_TOKEN = re.compile(
    r"""\s+|(?P<str>"(?:[^"\\\n]|\\.)*")|(?P<raw>`[^`]*`)|(?P<num>[-+]?\d+(?:\.\d+)?)
    |(?P<var>\$[A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)|(?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.)
    |(?P<ident>[A-Za-z_][A-Za-z0-9_]*)|(?P<punct>[()|])""",
    re.VERBOSE,
)
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
            "\\": "\\", '"': '"', "'": "'"}


def _unquote(text: str) -> str:
    out: list[str] = []
    i = 1
    while i < len(text) - 1:
        ch = text[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[nxt]
            out.append(chr(int(text[i + 2:i + 2 + width], 16)))
            i += 2 + width
        elif nxt in "01234567":
            out.append(chr(int(text[i + 1:i + 4], 8)))
            i += 4
        else:
            raise TemplateError(f"unknown escape sequence \\{nxt}")
    return "".join(out)


def _tokens(source: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        if match is None or match.end() == pos:
            raise TemplateError(f"unexpected {source[pos]!r} in action {source.strip()!r}")
        pos = match.end()
        kind = match.lastgroup
        if kind is not None:
            out.append((kind, match.group(kind)))
    return out


class _ActionParser:
    """Parses the inside of one ``{{ }}``: a pipeline, possibly after a keyword."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.toks = _tokens(source)
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def pipeline(self, close: str | None = None) -> _Pipeline:
        commands: list[tuple[Any, ...]] = []
        operands: list[Any] = []
        while True:
            tok = self.peek()
            if tok is None or tok == ("punct", ")"):
                if tok is not None and close is None:
                    raise TemplateError(f"unexpected ')' in {self.source.strip()!r}")
                break
            self.pos += 1
            kind, text = tok
            if tok == ("punct", "|"):
                if not operands:
                    raise TemplateError(f"missing command before '|' in {self.source.strip()!r}")
                commands.append(tuple(operands))
                operands = []
                continue
            operands.append(self.operand(kind, text))
        if not operands:
            raise TemplateError(f"missing value in {self.source.strip()!r}")
        commands.append(tuple(operands))
        return _Pipeline(tuple(commands))

    def operand(self, kind: str, text: str) -> Any:
        if kind == "str":
            return _Literal(_unquote(text))
        if kind == "raw":
            return _Literal(text[1:-1])
        if kind == "num":
            return _Literal(float(text) if "." in text else int(text))
        if kind == "field":
            return _Field("dot", tuple(p for p in text.split(".") if p))
        if kind == "var":
            head, *names = text.split(".")
            if head != "$":
                raise TemplateError(f"undefined variable {head!r} (only $ is supported)")
            return _Field("root", tuple(names))
        if kind == "ident":
            if text in ("true", "false"):
                return _Literal(text == "true")
            if text == "nil":
                return _Literal(None)
            if text not in FUNCTIONS:
                raise TemplateError(f'function "{text}" not defined')
            return _Func(text)
        if text == "(":
            inner = self.pipeline(close=")")
            if self.peek() != ("punct", ")"):
                raise TemplateError(f"unclosed '(' in {self.source.strip()!r}")
            self.pos += 1
            chain: tuple[str, ...] = ()
            nxt = self.peek()
            if nxt is not None and nxt[0] == "field" and nxt[1] != ".":
                self.pos += 1
                chain = tuple(p for p in nxt[1].split(".") if p)
            return _Field("pipe", chain, inner)
        raise TemplateError(f"unexpected {text!r} in {self.source.strip()!r}")


_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)
_KEYWORD = re.compile(r"\s*(if|else|end|with|range|define|template|block|break|continue)\b(.*)", re.DOTALL)


def _split(source: str) -> list[tuple[str, str]]:
    """``("text", t)`` and ``("action", inside)`` pieces, trim markers applied."""
    pieces: list[tuple[str, str]] = []
    pos = 0
    trim_next = False
    for match in _ACTION.finditer(source):
        text = source[pos:match.start()]
        if trim_next:
            text = text.lstrip()
        if match.group(1):
            text = text.rstrip()
        if text:
            pieces.append(("text", text))
        inside = match.group(2)
        if not inside.strip().startswith("/*"):
            pieces.append(("action", inside))
        elif not inside.strip().endswith("*/"):
            raise TemplateError("unclosed comment")
        trim_next = bool(match.group(3))
        pos = match.end()
    rest = source[pos:]
    if "{{" in rest:
        raise TemplateError("unclosed action")
    if trim_next:
        rest = rest.lstrip()
    if rest:
        pieces.append(("text", rest))
    return pieces


class _Parser:
    def __init__(self, source: str) -> None:
        self.pieces = _split(source)
        self.pos = 0

    def nodes(self, stop: tuple[str, ...]) -> tuple[tuple[Any, ...], str, str]:
        """Nodes up to a keyword in ``stop``; returns them, that keyword and what followed it."""
        out: list[Any] = []
        while self.pos < len(self.pieces):
            kind, text = self.pieces[self.pos]
            self.pos += 1
            if kind == "text":
                out.append(text)
                continue
            keyword = _KEYWORD.match(text)
            if keyword is None:
                out.append(_Action(_ActionParser(text).pipeline()))
                continue
            word, rest = keyword.group(1), keyword.group(2)
            if word in stop:
                return tuple(out), word, rest
            if word in ("if", "with"):
                out.append(self.branch(word, rest))
            else:
                raise TemplateError(f"unexpected {{{{{word}}}}}" if word in ("else", "end")
                                    else f"{{{{{word}}}}} is not supported in defaultRule templates")
        if stop:
            raise TemplateError("unexpected EOF: missing {{end}}")
        return tuple(out), "", ""

    def branch(self, kind: str, condition: str) -> _Branch:
        pipeline = _ActionParser(condition).pipeline()
        then, word, rest = self.nodes(("else", "end"))
        otherwise: tuple[Any, ...] = ()
        if word == "else":
            nested = _KEYWORD.match(rest)
            if nested is not None and nested.group(1) in ("if", "with"):
                otherwise = (self.branch(nested.group(1), nested.group(2)),)
                return _Branch(kind, pipeline, then, otherwise)
            if rest.strip():
                raise TemplateError(f"unexpected {rest.strip()!r} after else")
            otherwise, _, rest = self.nodes(("end",))
        if rest.strip():
            raise TemplateError(f"unexpected {rest.strip()!r} after end")
        return _Branch(kind, pipeline, then, otherwise)


# --------------------------------------------------------------------------------------------
# execution


class _Exec:
    def __init__(self, root: Any) -> None:
        self.root = root

    def nodes(self, nodes: Sequence[Any], dot: Any, out: list[str]) -> None:
        for node in nodes:
            if isinstance(node, str):
                out.append(node)
            elif isinstance(node, _Action):
                out.append(_show(self.pipeline(node.pipeline, dot)))
            else:
                value = self.pipeline(node.pipeline, dot)
                if _truth(value):
                    self.nodes(node.then, value if node.kind == "with" else dot, out)
                else:
                    self.nodes(node.otherwise, dot, out)

    def pipeline(self, pipeline: _Pipeline, dot: Any) -> Any:
        value: Any = None
        piped = False
        for command in pipeline.commands:
            value = self.command(command, dot, value if piped else None, piped)
            piped = True
        return value

    def command(self, operands: tuple[Any, ...], dot: Any, prev: Any, piped: bool) -> Any:
        head = operands[0]
        if isinstance(head, _Func):
            args = [self.operand(op, dot) for op in operands[1:]]
            if piped:
                args.append(prev)
            return call(head.name, args)
        if len(operands) > 1 or piped:
            raise TemplateError(f"can't give argument to non-function {_describe(head)}")
        return self.operand(head, dot)

    def operand(self, op: Any, dot: Any) -> Any:
        if isinstance(op, _Literal):
            return op.value
        if isinstance(op, _Func):
            return call(op.name, [])
        base = dot if op.base == "dot" else self.root if op.base == "root" else self.pipeline(op.sub, dot)
        for name in op.chain:
            base = _field(base, name)
        return base


def _describe(op: Any) -> str:
    if isinstance(op, _Field):
        return "." + ".".join(op.chain)
    if isinstance(op, _Literal):
        return repr(op.value)
    return str(op)


def _field(value: Any, name: str) -> Any:
    if isinstance(value, Struct):
        if name not in value:
            raise TemplateError(f"can't evaluate field {name}")
        return value[name]
    if isinstance(value, Mapping):
        return value.get(name, MISSING)
    if value is MISSING or value is None:
        raise TemplateError(f"nil pointer evaluating .{name}")
    raise TemplateError(f"can't evaluate field {name} in type {type(value).__name__}")

# --------------------------------------------------------------------------------------------


class Template:
    """A parsed template; :meth:`render` runs it on data (a mapping read as a Go struct)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._nodes, _, _ = _Parser(source).nodes(())

    def render(self, data: Mapping[str, Any]) -> str:
        root = data if isinstance(data, Struct) else Struct(data)
        out: list[str] = []
        _Exec(root).nodes(self._nodes, root, out)
        return "".join(out)

    def __repr__(self) -> str:
        return f"<Template {self.source!r}>"


def compile_template(source: str) -> Template:
    """Parse ``source``; raises :class:`TemplateError` with Go-like messages."""
    return Template(source)
