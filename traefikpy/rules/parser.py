"""The rule parser: text -> :class:`~traefikpy.rules.rule.Rule`, or a positioned RuleError.

Grammar (Go expression syntax restricted the way Traefik's ``vulcand/predicate`` parser
restricts it)::

    rule    := or
    or      := and ( '||' and )*
    and     := unary ( '&&' unary )*
    unary   := '!' unary | primary
    primary := '(' or ')' | NAME '(' [ STRING ( ',' STRING )* [ ',' ] ] ')'

so ``!`` binds tighter than ``&&``, which binds tighter than ``||``.  Matcher names are the
canonical ones (``PathPrefix``) or their all-lower, ALL-UPPER or Capitalised forms
(``pathprefix``, ``PATHPREFIX``, ``Pathprefix``), as Traefik registers them.  Every argument
must be a non-empty string, and each matcher takes a fixed number of them.
"""

from __future__ import annotations

import difflib
import re

from traefikpy.rules import lexer
from traefikpy.rules.errors import RuleError
from traefikpy.rules.lexer import Token, tokenize
from traefikpy.rules.matchers import MATCHERS, MatcherValueError
from traefikpy.rules.rule import Leaf, Node, Op, Rule

_NAMES: dict[str, str] = {}
for _name in MATCHERS:
    for _form in (_name, _name.lower(), _name.upper(), _name.lower().capitalize()):
        _NAMES[_form] = _name

# Names users bring from Traefik v2 rules or from TCP routers, with the v3 HTTP replacement.
_HINTS = {
    "Headers": "Headers is Traefik v2 syntax; use Header",
    "HeadersRegexp": "HeadersRegexp is Traefik v2 syntax; use HeaderRegexp",
    "HostHeader": "HostHeader is Traefik v2 syntax; use Host",
    "HostSNI": "HostSNI is a TCP matcher; use Host in HTTP rules",
    "HostSNIRegexp": "HostSNIRegexp is a TCP matcher; use HostRegexp in HTTP rules",
    "ALPN": "ALPN is a TCP matcher",
}


def _arity_text(arities: tuple[int, ...]) -> str:
    words = " or ".join(str(n) for n in arities)
    return f"{words} argument{'s' if arities[-1] > 1 else ''}"


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.index]

    def fail(self, pos: int, reason: str) -> RuleError:
        return RuleError(self.text, pos, reason)

    def unexpected(self, expected: str) -> RuleError:
        tok = self.tok
        if tok.kind == lexer.OTHER:
            return self.fail(tok.pos, lexer.describe_other(tok))
        if tok.kind == lexer.EOF:
            return self.fail(tok.pos, f"unexpected end of rule at position {tok.pos}, expected {expected}")
        if tok.kind == lexer.END_LINE:
            return self.fail(
                tok.pos,
                f"line break at position {tok.pos} ends the rule (Go syntax) but {expected} is missing; "
                "end the line with '&&', '||' or '(' to continue the rule",
            )
        what = f"'{tok.value}'" if tok.kind not in (lexer.STRING, lexer.CHAR) else tok.kind
        return self.fail(tok.pos, f"unexpected {what} at position {tok.pos}, expected {expected}")

    def parse(self) -> Rule:
        if self.tok.kind == lexer.EOF:
            raise self.fail(0, "empty rule, expected a matcher such as Host(`example.com`)")
        tree = self.parse_or()
        if self.tok.kind == lexer.END_LINE and self.tokens[self.index + 1].kind == lexer.EOF:
            self.index += 1
        if self.tok.kind != lexer.EOF:
            if self.tok.kind == lexer.END_LINE:
                raise self.fail(
                    self.tok.pos,
                    f"line break at position {self.tok.pos} ends the rule (Go syntax) but more follows; "
                    "end the line with '&&' or '||' to continue the rule",
                )
            if self.tok.kind == lexer.RPAREN:
                raise self.fail(self.tok.pos, f"unbalanced ')' at position {self.tok.pos}")
            raise self.unexpected("'&&', '||' or end of rule")
        return Rule(self.text, tree)

    def parse_or(self) -> Node:
        node = self.parse_and()
        while self.tok.kind == lexer.OR:
            self.index += 1
            node = Op.join("or", node, self.parse_and())
        return node

    def parse_and(self) -> Node:
        node = self.parse_unary()
        while self.tok.kind == lexer.AND:
            self.index += 1
            node = Op.join("and", node, self.parse_unary())
        return node

    def parse_unary(self) -> Node:
        negations = 0
        while self.tok.kind == lexer.NOT:
            self.index += 1
            negations += 1
        node = self.parse_primary()
        return node.invert() if negations % 2 else node

    def parse_primary(self) -> Node:
        tok = self.tok
        if tok.kind == lexer.LPAREN:
            self.index += 1
            node = self.parse_or()
            if self.tok.kind != lexer.RPAREN:
                if self.tok.kind == lexer.EOF:
                    raise self.fail(tok.pos, f"'(' at position {tok.pos} is never closed")
                raise self.unexpected("')'")
            self.index += 1
            return node
        if tok.kind == lexer.IDENT:
            return self.parse_call()
        if tok.kind == lexer.STRING:
            raise self.fail(tok.pos, f"unexpected string at position {tok.pos}, expected a matcher "
                            "such as Host(`example.com`)")
        raise self.unexpected("a matcher")

    def parse_call(self) -> Leaf:
        name_tok = self.tok
        canonical = self.matcher_name(name_tok)
        self.index += 1
        if self.tok.kind != lexer.LPAREN:
            raise self.unexpected(f"'(' after {name_tok.value}")
        self.index += 1
        args: list[Token] = []
        while self.tok.kind != lexer.RPAREN:
            tok = self.tok
            if tok.kind == lexer.STRING:
                args.append(tok)
            elif tok.kind == lexer.CHAR:
                raise self.fail(tok.pos, f"single quotes are not accepted at position {tok.pos}; "
                                "quote values with backticks or double quotes")
            elif tok.kind in (lexer.IDENT, lexer.NUMBER):
                end = min([i for i in (self.text.find(",", tok.pos), self.text.find(")", tok.pos)) if i >= 0]
                          or [len(self.text)])
                raise self.fail(tok.pos, f"argument {self.text[tok.pos:end].strip()} of {canonical} at position "
                                f"{tok.pos} must be a string in backticks or double quotes")
            else:
                raise self.unexpected(f"a string argument or ')' for {canonical}")
            self.index += 1
            if self.tok.kind == lexer.COMMA:
                self.index += 1
            elif self.tok.kind != lexer.RPAREN:
                raise self.unexpected(f"',' or ')' in the arguments of {canonical}")
        end = self.tok.end
        self.index += 1
        return self.build(canonical, name_tok, args, self.text[name_tok.pos : end])

    def matcher_name(self, tok: Token) -> str:
        canonical = _NAMES.get(tok.value)
        if canonical is not None:
            return canonical
        hint = _HINTS.get(tok.value)
        if hint is None:
            lowered = {name.lower(): name for name in MATCHERS}
            close = difflib.get_close_matches(tok.value.lower(), list(lowered), n=1, cutoff=0.6)
            hint = f"did you mean {lowered[close[0]]}?" if close else "known matchers: " + ", ".join(MATCHERS)
        raise self.fail(tok.pos, f"unknown matcher '{tok.value}' at position {tok.pos} ({hint})")

    def build(self, name: str, name_tok: Token, args: list[Token], call_text: str) -> Leaf:
        spec = MATCHERS[name]
        if len(args) not in spec.arities:
            raise self.fail(name_tok.pos, f"{name} takes {_arity_text(spec.arities)}, got {len(args)} "
                            f"(at position {name_tok.pos})")
        for number, arg in enumerate(args, 1):
            if not arg.value:
                raise self.fail(arg.pos, f"{name} argument {number} is empty at position {arg.pos}")
        try:
            matcher = spec.build([arg.value for arg in args])
        except MatcherValueError as err:
            pos = args[err.arg].pos
            raise self.fail(pos, f"{err} (at position {pos})") from None
        return Leaf(matcher, call_text)


# The most common rule shape, a single one-argument call such as Host(`example.com`), skips the
# tokenizer; anything unusual (including every error) goes through the full parser.
_SIMPLE_CALL = re.compile(r"([A-Za-z]+)\(`([^`]+)`\)")


def parse_rule(text: str) -> Rule:
    """Parse and compile a Traefik v3 HTTP router rule; raises :class:`RuleError`."""
    simple = _SIMPLE_CALL.fullmatch(text)
    if simple is not None:
        name = _NAMES.get(simple.group(1))
        if name is not None and 1 in MATCHERS[name].arities and "\r" not in text:
            try:
                matcher = MATCHERS[name].build([simple.group(2)])
            except MatcherValueError:
                pass
            else:
                return Rule(text, Leaf(matcher, text))
    try:
        return _Parser(text).parse()
    except RecursionError:
        raise RuleError(text, 0, "rule is nested too deeply (too many parentheses)") from None


def default_priority(rule_text: str) -> int:
    """Traefik's default router priority: the rule's length in bytes (Go ``len``)."""
    return len(rule_text.encode("utf-8", "surrogateescape"))
