"""Provider ``constraints`` expressions: which containers (labels) or catalog services (tags) to route.

Traefik parses them as Go expressions (``vulcand/predicate``): calls combined with ``&&``,
``||``, ``!`` and parentheses (``&&`` binds tighter than ``||``); arguments are Go strings,
``"double quoted"`` with escapes or `` `raw` ``.

* labels (Docker): ``Label(`key`, `value`)`` (a missing label is ``""``), ``LabelRegex(`key`, `re`)``;
* tags (Consul Catalog): ``Tag(`tag`)``, ``TagRegex(`re`)``.

Regular expressions search anywhere in the value (Go's ``regexp.MatchString``); an invalid one
matches nothing.  An empty expression keeps everything.  :func:`compile_constraints` raises
:class:`ConstraintError` for anything else, so a mistake is reported once, at start-up.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

__all__ = ["ConstraintError", "Matcher", "compile_constraints", "match_labels", "match_tags"]

Subject = Any  # Mapping[str, str] of labels, or Sequence[str] of tags
Matcher = Callable[[Subject], bool]
Kind = Literal["labels", "tags"]


class ConstraintError(ValueError):
    """The expression does not parse or calls an unknown function."""


_TOKEN = re.compile(
    r'\s+|(?P<str>"(?:[^"\\\n]|\\.)*")|(?P<raw>`[^`]*`)|(?P<ident>[A-Za-z_][A-Za-z0-9_]*)'
    r"|(?P<op>&&|\|\||!|\(|\)|,)"
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "a": "\a",
            "b": "\b", "f": "\f", "v": "\v"}


def _unquote(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        esc = match.group(1)
        if esc[0] in "xuU":
            return chr(int(esc[1:], 16))
        if esc[0] in "01234567":
            return chr(int(esc, 8))
        if esc in _ESCAPES:
            return _ESCAPES[esc]
        raise ConstraintError(f"unknown escape sequence \\{esc}")

    return re.sub(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)", one, text[1:-1])


def _go_regex(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern.replace(r"\z", r"\Z"))
    except re.error:
        return None


def _label(key: str, value: str) -> Matcher:
    return lambda labels: labels.get(key, "") == value


def _label_regex(key: str, pattern: str) -> Matcher:
    rx = _go_regex(pattern)
    return lambda labels: rx is not None and rx.search(labels.get(key, "")) is not None


def _tag(tag: str) -> Matcher:
    return lambda tags: tag in tags


def _tag_regex(pattern: str) -> Matcher:
    rx = _go_regex(pattern)
    return lambda tags: rx is not None and any(rx.search(t) for t in tags)


_FUNCTIONS: dict[Kind, dict[str, tuple[int, Callable[..., Matcher]]]] = {
    "labels": {"Label": (2, _label), "LabelRegex": (2, _label_regex)},
    "tags": {"Tag": (1, _tag), "TagRegex": (1, _tag_regex)},
}


class _Parser:
    def __init__(self, expr: str, kind: Kind) -> None:
        self.expr = expr
        self.functions = _FUNCTIONS[kind]
        self.toks: list[tuple[str, str]] = []
        pos = 0
        while pos < len(expr):
            match = _TOKEN.match(expr, pos)
            if match is None:
                raise ConstraintError(f"unexpected {expr[pos]!r} at offset {pos} in {expr!r}")
            pos = match.end()
            if match.lastgroup is not None:
                self.toks.append((match.lastgroup, match.group(match.lastgroup)))
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self, text: str) -> bool:
        if self.peek() == ("op", text):
            self.pos += 1
            return True
        return False

    def expect(self, text: str) -> None:
        if not self.take(text):
            found = self.peek()
            raise ConstraintError(f"expected {text!r}, found {found[1] if found else 'end'!r} in {self.expr!r}")

    def parse(self) -> Matcher:
        matcher = self.or_expr()
        if self.peek() is not None:
            raise ConstraintError(f"unexpected {self.peek()[1]!r} in {self.expr!r}")  # type: ignore[index]
        return matcher

    def or_expr(self) -> Matcher:
        parts = [self.and_expr()]
        while self.take("||"):
            parts.append(self.and_expr())
        if len(parts) == 1:
            return parts[0]
        return lambda subject: any(p(subject) for p in parts)

    def and_expr(self) -> Matcher:
        parts = [self.unary()]
        while self.take("&&"):
            parts.append(self.unary())
        if len(parts) == 1:
            return parts[0]
        return lambda subject: all(p(subject) for p in parts)

    def unary(self) -> Matcher:
        if self.take("!"):
            inner = self.unary()
            return lambda subject: not inner(subject)
        if self.take("("):
            inner = self.or_expr()
            self.expect(")")
            return inner
        return self.call()

    def call(self) -> Matcher:
        tok = self.peek()
        if tok is None or tok[0] != "ident":
            raise ConstraintError(f"expected a function call, found {tok[1] if tok else 'end'!r} in {self.expr!r}")
        self.pos += 1
        name = tok[1]
        if name not in self.functions:
            known = ", ".join(self.functions)
            raise ConstraintError(f"unsupported function {name!r} in {self.expr!r} (use {known})")
        arity, build = self.functions[name]
        self.expect("(")
        args: list[str] = []
        while not self.take(")"):
            if args:
                self.expect(",")
            arg = self.peek()
            if arg is None or arg[0] not in ("str", "raw"):
                raise ConstraintError(f"{name} takes string arguments in {self.expr!r}")
            self.pos += 1
            args.append(_unquote(arg[1]) if arg[0] == "str" else arg[1][1:-1])
        if len(args) != arity:
            raise ConstraintError(f"{name} takes {arity} argument{'s' if arity > 1 else ''}, got {len(args)} in {self.expr!r}")
        return build(*args)


def _everything(_subject: Subject) -> bool:
    return True


def compile_constraints(expr: str, kind: Kind) -> Matcher:
    """A predicate over labels (``kind="labels"``) or tags (``kind="tags"``)."""
    if not expr.strip():
        return _everything
    return _Parser(expr, kind).parse()


def match_labels(labels: Mapping[str, str], expr: str) -> bool:
    return compile_constraints(expr, "labels")(labels)


def match_tags(tags: Sequence[str], expr: str) -> bool:
    return compile_constraints(expr, "tags")(list(tags))
