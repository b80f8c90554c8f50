"""Tokens of a rule: the subset of Go's expression syntax that Traefik's rule parser accepts.

Traefik parses a rule with Go's own expression parser, so a rule follows Go's lexical rules:

* strings are Go string literals: raw in backticks (no escapes; carriage returns dropped) or
  interpreted in double quotes (Go escapes: ``\\n``, ``\\t``, ``\\\\``, ``\\"``, ``\\xHH``,
  octal ``\\NNN``, ``\\uHHHH``, ``\\UHHHHHHHH``...); single quotes are Go rune literals and are
  rejected;
* spaces, tabs, line breaks and ``//`` / ``/* */`` comments separate tokens;
* Go inserts a semicolon at a line break that follows an identifier, a literal or ``)``, which
  ends the expression: a line may end with ``&&``, ``||``, ``(``, ``,`` or ``!`` but not with a
  matcher call that the next line continues.  That token is ``END_LINE`` here; the parser
  accepts it only where the rule ends.

Values made of ``\\x``/octal escapes may be arbitrary bytes (Go strings are byte strings); they
are decoded as UTF-8 with ``surrogateescape`` so that byte-level equality is preserved.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from traefikpy.rules.errors import RuleError

IDENT = "identifier"
STRING = "string"
NUMBER = "number"
CHAR = "char"
LPAREN = "'('"
RPAREN = "')'"
COMMA = "','"
AND = "'&&'"
OR = "'||'"
NOT = "'!'"
OTHER = "operator"
END_LINE = "line break"
EOF = "end of rule"

_SIMPLE_ESCAPES = {
    "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"',
}
_PUNCT = {"(": LPAREN, ")": RPAREN, ",": COMMA, "&&": AND, "||": OR, "!": NOT}
# Go operators that the rule language does not support, longest first (for the error message).
_GO_OPERATORS = (
    "==", "!=", "<=", ">=", "<-", ":=", "&^", "<<", ">>", "++", "--",
    "+", "-", "*", "/", "%", "&", "|", "^", "<", ">", "=", ".", ";", ":", "[", "]", "{", "}", "~",
)
# Tokens after which a line break ends the expression (Go's automatic semicolon rule).
_ENDS_LINE = frozenset({IDENT, STRING, NUMBER, CHAR, RPAREN})


class Token(NamedTuple):
    kind: str
    value: str  # identifier name or decoded string value; source text otherwise
    pos: int  # 0-based offset of the token's first character
    end: int  # offset just past the token


# One scanner for every token; group names are the token kinds.  Strings and comments are
# matched whole here and checked (terminated? valid escapes?) in tokenize().
_SCANNER = re.compile(
    r"""(?P<space>[ \t\r]+)
      | (?P<newline>\n)
      | (?P<comment>//[^\n]*|/\*)
      | (?P<raw>`[^`]*`?)
      | (?P<quoted>"(?:[^"\\\n]|\\.)*"?)
      | (?P<char>'[^'\n]*'?)
      | (?P<ident>[^\W\d]\w*)
      | (?P<number>\d[\w.]*)
      | (?P<punct>[(),]|&&|\|\||!(?!=))
    """,
    re.VERBOSE,
)
_KINDS = {"ident": IDENT, "number": NUMBER, "char": CHAR}


def tokenize(text: str) -> list[Token]:
    """All tokens of ``text``, ending with one ``EOF`` token; raises :class:`RuleError`."""
    tokens: list[Token] = []
    append = tokens.append
    i, n = 0, len(text)
    scan = _SCANNER.match
    while i < n:
        found = scan(text, i)
        if found is None:  # not part of the rule language; the parser reports it in context
            op = next((op for op in _GO_OPERATORS if text.startswith(op, i)), text[i])
            append(Token(OTHER, op, i, i + len(op)))
            i += len(op)
            continue
        kind, value, end = found.lastgroup, found.group(), found.end()
        if kind == "space":
            pass
        elif kind == "newline" or kind == "comment":
            if value == "/*":
                close = text.find("*/", i + 2)
                if close < 0:
                    raise RuleError(text, i, f"unterminated comment at position {i}")
                end = close + 2
                value = text[i:end]
            if "\n" in value and tokens and tokens[-1].kind in _ENDS_LINE:
                append(Token(END_LINE, "\n", i, end))
        elif kind == "raw":
            if len(value) < 2 or value[-1] != "`":
                raise RuleError(text, i, f"unterminated backtick string at position {i}")
            append(Token(STRING, value[1:-1].replace("\r", ""), i, end))
        elif kind == "quoted":
            if len(value) < 2 or value[-1] != '"' or (value.endswith('\\"') and _odd_backslashes(value)):
                raise RuleError(text, i, f"unterminated double-quoted string at position {i}")
            body = value[1:-1]
            append(Token(STRING, _unescape(text, i, body) if "\\" in body else body, i, end))
        elif kind == "punct":
            append(Token(_PUNCT[value], value, i, end))
        else:
            append(Token(_KINDS[kind or ""], value, i, end))
        i = end
    append(Token(EOF, "", n, n))
    return tokens


def _odd_backslashes(quoted: str) -> bool:
    """Whether the closing quote of ``quoted`` is escaped (preceded by an odd run of ``\\``)."""
    run = len(quoted) - 1 - len(quoted[:-1].rstrip("\\"))
    return run % 2 == 1


def describe_other(tok: Token) -> str:
    """The error for an ``OTHER`` token: a Go operator the rules do not support, or junk."""
    if tok.value not in _GO_OPERATORS:
        return f"unexpected character {tok.value!r} at position {tok.pos}"
    hint = {"&": " (did you mean '&&'?)", "|": " (did you mean '||'?)"}.get(tok.value, "")
    return (f"operator '{tok.value}' at position {tok.pos} is not supported; "
            f"use '&&', '||', '!' and parentheses{hint}")


def _unescape(text: str, start: int, body: str) -> str:
    """Decode the Go escapes of a double-quoted string's ``body`` (it starts at ``start + 1``)."""
    out = bytearray()
    i, n = 0, len(body)
    while i < n:
        ch = body[i]
        if ch != "\\":
            out += ch.encode("utf-8", "surrogatepass")
            i += 1
            continue
        at = start + 1 + i
        esc = body[i + 1]
        if esc in _SIMPLE_ESCAPES:
            out += _SIMPLE_ESCAPES[esc].encode()
            i += 2
        elif esc in "01234567":
            digits = body[i + 1 : i + 4]
            if len(digits) < 3 or any(d not in "01234567" for d in digits) or int(digits, 8) > 255:
                raise RuleError(text, at, f"invalid octal escape in string at position {at}")
            out.append(int(digits, 8))
            i += 4
        elif esc in ("x", "u", "U"):
            width = {"x": 2, "u": 4, "U": 8}[esc]
            digits = body[i + 2 : i + 2 + width]
            if len(digits) < width or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise RuleError(text, at, f"invalid \\{esc} escape in string at position {at}")
            value = int(digits, 16)
            if esc == "x":
                out.append(value)
            elif value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
                raise RuleError(text, at, f"escape is an invalid Unicode code point at position {at}")
            else:
                out += chr(value).encode()
            i += 2 + width
        else:
            raise RuleError(text, at, f"unknown escape sequence '\\{esc}' in string at position {at}")
    return out.decode("utf-8", "surrogateescape")
