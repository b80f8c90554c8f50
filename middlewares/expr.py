"""The predicate language of ``circuitBreaker.expression`` and ``buffering.retryExpression``.

Traefik parses these with Go's expression parser (``vulcand/predicate``): function calls with
literal arguments, compared to a literal, joined by ``&&`` and ``||``, with parentheses::

    NetworkErrorRatio() > 0.30 || ResponseCodeRatio(500, 600, 0, 600) > 0.25
    IsNetworkError() && Attempts() < 2

Each language passes its own functions (:class:`Function`); this module tokenizes, parses with
Go's precedence (``||`` < ``&&`` < comparisons), type-checks and compiles the expression into a
closure ``predicate(context) -> bool``, all at build time.  Errors are :class:`ExpressionError`
(a ValueError) naming the position.

Rules kept from Traefik: the left side of a comparison is a function, the right side a literal;
a function returning a boolean may stand alone; ``!`` and arithmetic are not supported; string
values compare with ``==``/``!=`` only.  One leniency: integer and float literals are
interchangeable (Go rejects ``NetworkErrorRatio() > 1`` and wants ``1.0``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

Evaluator = Callable[[Any], Any]
Predicate = Callable[[Any], bool]


class ExpressionError(ValueError):
    """An expression that cannot be parsed or type-checked."""


@dataclass(frozen=True, slots=True)
class Function:
    """A function of a language: its parameter types (``int``, ``float``, ``string``), its result
    type (``bool``, ``int``, ``float``, ``string``) and ``make(*args) -> evaluator(context)``."""

    params: tuple[str, ...]
    returns: str
    make: Callable[..., Evaluator]


_TOKEN: Final = re.compile(
    r"""\s*(?:
        (?P<float>(?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)
      | (?P<int>\d+)
      | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<string>"(?:[^"\\\n]|\\.)*"|`[^`]*`)
      | (?P<op>&&|\|\||==|!=|<=|>=|<|>|!|\(|\)|,)
    )""",
    re.VERBOSE,
)
_COMPARISONS: Final = frozenset({"==", "!=", "<", "<=", ">", ">="})
_ESCAPES: Final = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "'": "'"}


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # float, int, ident, string, op, end
    text: str
    pos: int


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            start = pos + len(text[pos:]) - len(text[pos:].lstrip())
            raise ExpressionError(f"unexpected character {text[start]!r} at position {start + 1}")
        kind = match.lastgroup or "op"
        tokens.append(_Tok(kind, match.group(kind), match.start(kind)))
        pos = match.end()
    tokens.append(_Tok("end", "", len(text)))
    return tokens


def _unquote(raw: str) -> str:
    if raw.startswith("`"):
        return raw[1:-1]
    out: list[str] = []
    i = 1
    while i < len(raw) - 1:
        char = raw[i]
        if char == "\\":
            nxt = raw[i + 1]
            if nxt not in _ESCAPES:
                raise ExpressionError(f"unsupported escape \\{nxt} in string {raw}")
            out.append(_ESCAPES[nxt])
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


# -- syntax tree ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Lit:
    type: str  # int, float, string
    value: Any
    pos: int


@dataclass(frozen=True, slots=True)
class _Call:
    name: str
    args: tuple[Any, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class _Binary:
    op: str
    left: Any
    right: Any
    pos: int


class _Parser:
    def __init__(self, tokens: list[_Tok]) -> None:
        self.tokens = tokens
        self.i = 0

    def peek(self) -> _Tok:
        return self.tokens[self.i]

    def take(self) -> _Tok:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def expect(self, text: str) -> _Tok:
        tok = self.take()
        if tok.kind != "op" or tok.text != text:
            raise ExpressionError(f"expected {text!r} at position {tok.pos + 1}, found {_describe(tok)}")
        return tok

    def parse(self) -> Any:
        node = self.or_expr()
        tok = self.peek()
        if tok.kind != "end":
            raise ExpressionError(f"unexpected {_describe(tok)} at position {tok.pos + 1}")
        return node

    def or_expr(self) -> Any:
        node = self.and_expr()
        while self.peek().text == "||" and self.peek().kind == "op":
            tok = self.take()
            node = _Binary("||", node, self.and_expr(), tok.pos)
        return node

    def and_expr(self) -> Any:
        node = self.comparison()
        while self.peek().text == "&&" and self.peek().kind == "op":
            tok = self.take()
            node = _Binary("&&", node, self.comparison(), tok.pos)
        return node

    def comparison(self) -> Any:
        node = self.unary()
        while self.peek().kind == "op" and self.peek().text in _COMPARISONS:
            tok = self.take()
            node = _Binary(tok.text, node, self.unary(), tok.pos)
        return node

    def unary(self) -> Any:
        tok = self.peek()
        if tok.kind == "op" and tok.text == "!":
            raise ExpressionError(f"operator ! is not supported (position {tok.pos + 1})")
        return self.primary()

    def primary(self) -> Any:
        tok = self.take()
        if tok.kind == "int":
            return _Lit("int", int(tok.text), tok.pos)
        if tok.kind == "float":
            return _Lit("float", float(tok.text), tok.pos)
        if tok.kind == "string":
            return _Lit("string", _unquote(tok.text), tok.pos)
        if tok.kind == "op" and tok.text == "(":
            node = self.or_expr()
            self.expect(")")
            return node
        if tok.kind == "ident":
            if not (self.peek().kind == "op" and self.peek().text == "("):
                raise ExpressionError(f"{tok.text} is not defined (position {tok.pos + 1}); functions are called with ()")
            self.take()
            args: list[Any] = []
            if not (self.peek().kind == "op" and self.peek().text == ")"):
                while True:
                    args.append(self.argument())
                    if self.peek().kind == "op" and self.peek().text == ",":
                        self.take()
                        continue
                    break
            self.expect(")")
            return _Call(tok.text, tuple(args), tok.pos)
        raise ExpressionError(f"unexpected {_describe(tok)} at position {tok.pos + 1}")

    def argument(self) -> _Lit:
        tok = self.take()
        if tok.kind == "int":
            return _Lit("int", int(tok.text), tok.pos)
        if tok.kind == "float":
            return _Lit("float", float(tok.text), tok.pos)
        if tok.kind == "string":
            return _Lit("string", _unquote(tok.text), tok.pos)
        raise ExpressionError(f"function arguments must be literals; found {_describe(tok)} at position {tok.pos + 1}")


def _describe(tok: _Tok) -> str:
    return "end of expression" if tok.kind == "end" else repr(tok.text)


# -- type check and compile -----------------------------------------------------------------
def _accepts(param: str, lit: _Lit) -> bool:
    if param == lit.type:
        return True
    if param == "float" and lit.type == "int":
        return True
    return param == "int" and lit.type == "float" and float(lit.value).is_integer()


def _convert(param: str, value: Any) -> Any:
    if param == "float":
        return float(value)
    if param == "int":
        return int(value)
    return value


def _value(node: Any, functions: Mapping[str, Function]) -> tuple[str, Evaluator]:
    """Type and evaluator of a call or literal."""
    if isinstance(node, _Lit):
        value = node.value
        return node.type, lambda _ctx: value
    if isinstance(node, _Call):
        fn = functions.get(node.name)
        if fn is None:
            known = ", ".join(sorted(functions))
            raise ExpressionError(f"unsupported function: {node.name} (position {node.pos + 1}; known: {known})")
        if len(node.args) != len(fn.params):
            raise ExpressionError(
                f"{node.name}() takes {len(fn.params)} argument(s), {len(node.args)} given (position {node.pos + 1})"
            )
        args = []
        for param, arg in zip(fn.params, node.args, strict=True):
            if not _accepts(param, arg):
                raise ExpressionError(f"{node.name}(): expected {param}, got {arg.type} at position {arg.pos + 1}")
            args.append(_convert(param, arg.value))
        return fn.returns, fn.make(*args)
    raise ExpressionError(f"expected a function or a literal at position {node.pos + 1}")


def _compile(node: Any, functions: Mapping[str, Function]) -> Predicate:
    if isinstance(node, _Binary) and node.op in ("&&", "||"):
        parts = _flatten(node, node.op)
        preds = tuple(_compile(part, functions) for part in parts)
        if node.op == "&&":
            return lambda ctx: all(p(ctx) for p in preds)
        return lambda ctx: any(p(ctx) for p in preds)
    if isinstance(node, _Binary):
        return _comparison(node, functions)
    kind, evaluate = _value(node, functions)
    if kind != "bool":
        raise ExpressionError(f"expected a condition, got a value of type {kind} at position {node.pos + 1}")
    return lambda ctx: bool(evaluate(ctx))


def _flatten(node: Any, op: str) -> list[Any]:
    if isinstance(node, _Binary) and node.op == op:
        return _flatten(node.left, op) + _flatten(node.right, op)
    return [node]


def _comparison(node: _Binary, functions: Mapping[str, Function]) -> Predicate:
    if not isinstance(node.left, _Call):
        raise ExpressionError(f"the left side of {node.op} must be a function call (position {node.pos + 1})")
    if not isinstance(node.right, _Lit):
        raise ExpressionError(f"the right side of {node.op} must be a literal (position {node.pos + 1})")
    kind, evaluate = _value(node.left, functions)
    lit = node.right
    if kind == "bool":
        raise ExpressionError(f"{node.left.name}() is a condition and cannot be compared (position {node.pos + 1})")
    if kind == "string":
        if lit.type != "string":
            raise ExpressionError(f"{node.left.name}() is a string, compared to {lit.type} literal {lit.value!r} (position {lit.pos + 1})")
        if node.op not in ("==", "!="):
            raise ExpressionError(f"strings only support == and != (position {node.pos + 1})")
    elif lit.type == "string":
        raise ExpressionError(f"{node.left.name}() is a number, compared to a string (position {lit.pos + 1})")
    value = lit.value
    op = node.op
    if op == "==":
        return lambda ctx: bool(evaluate(ctx) == value)
    if op == "!=":
        return lambda ctx: bool(evaluate(ctx) != value)
    if op == "<":
        return lambda ctx: bool(evaluate(ctx) < value)
    if op == "<=":
        return lambda ctx: bool(evaluate(ctx) <= value)
    if op == ">":
        return lambda ctx: bool(evaluate(ctx) > value)
    return lambda ctx: bool(evaluate(ctx) >= value)


def compile_expression(text: str, functions: Mapping[str, Function]) -> Predicate:
    """Compile ``text`` into ``predicate(context) -> bool``; raises :class:`ExpressionError`."""
    if not text.strip():
        raise ExpressionError(f"invalid expression {text!r}: the expression is empty")
    try:
        tree = _Parser(_tokenize(text)).parse()
        return _compile(tree, functions)
    except ExpressionError as exc:
        raise ExpressionError(f"invalid expression {text!r}: {exc}") from None
