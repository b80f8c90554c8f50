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
_PUNCT = {"(": LPAREN, ")": RPAREN, ",": COMMA}
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


def _is_ident_start(ch: str) -> bool:
    return ch == "_" or ch.isalpha()


def _is_ident_part(ch: str) -> bool:
    return ch == "_" or ch.isalnum()


def tokenize(text: str) -> list[Token]:
    """All tokens of ``text``, ending with one ``EOF`` token; raises :class:`RuleError`."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in " \t\r\n":
            if ch == "\n" and tokens and tokens[-1].kind in _ENDS_LINE:
                tokens.append(Token(END_LINE, "\n", i, i + 1))
            i += 1
            continue
        if text.startswith("//", i):
            i = text.find("\n", i)
            if i < 0:
                i = n
            continue
        if text.startswith("/*", i):
            close = text.find("*/", i + 2)
            if close < 0:
                raise RuleError(text, i, f"unterminated comment at position {i}")
            if "\n" in text[i:close] and tokens and tokens[-1].kind in _ENDS_LINE:
                tokens.append(Token(END_LINE, "\n", i, close + 2))
            i = close + 2
            continue
        if ch == "`":
            close = text.find("`", i + 1)
            if close < 0:
                raise RuleError(text, i, f"unterminated backtick string at position {i}")
            tokens.append(Token(STRING, text[i + 1 : close].replace("\r", ""), i, close + 1))
            i = close + 1
        elif ch == '"':
            value, i_end = _interpreted_string(text, i)
            tokens.append(Token(STRING, value, i, i_end))
            i = i_end
        elif ch == "'":
            close = text.find("'", i + 1)
            end = n if close < 0 else close + 1
            tokens.append(Token(CHAR, text[i:end], i, end))
            i = end
        elif _is_ident_start(ch):
            j = i + 1
            while j < n and _is_ident_part(text[j]):
                j += 1
            tokens.append(Token(IDENT, text[i:j], i, j))
            i = j
        elif ch.isdigit():
            j = i + 1
            while j < n and (text[j].isalnum() or text[j] in "._"):
                j += 1
            tokens.append(Token(NUMBER, text[i:j], i, j))
            i = j
        elif ch in _PUNCT:
            tokens.append(Token(_PUNCT[ch], ch, i, i + 1))
            i += 1
        elif text.startswith("&&", i):
            tokens.append(Token(AND, "&&", i, i + 2))
            i += 2
        elif text.startswith("||", i):
            tokens.append(Token(OR, "||", i, i + 2))
            i += 2
        elif ch == "!" and not text.startswith("!=", i):
            tokens.append(Token(NOT, "!", i, i + 1))
            i += 1
        else:  # not part of the rule language; the parser reports it in context
            op = next((op for op in _GO_OPERATORS if text.startswith(op, i)), ch)
            tokens.append(Token(OTHER, op, i, i + len(op)))
            i += len(op)
    tokens.append(Token(EOF, "", n, n))
    return tokens


def describe_other(tok: Token) -> str:
    """The error for an ``OTHER`` token: a Go operator the rules do not support, or junk."""
    if tok.value not in _GO_OPERATORS:
        return f"unexpected character {tok.value!r} at position {tok.pos}"
    hint = {"&": " (did you mean '&&'?)", "|": " (did you mean '||'?)"}.get(tok.value, "")
    return (f"operator '{tok.value}' at position {tok.pos} is not supported; "
            f"use '&&', '||', '!' and parentheses{hint}")


def _interpreted_string(text: str, start: int) -> tuple[str, int]:
    """Decode the double-quoted Go string starting at ``start``; returns (value, end)."""
    out = bytearray()
    i, n = start + 1, len(text)
    while True:
        if i >= n or text[i] == "\n":
            raise RuleError(text, start, f"unterminated double-quoted string at position {start}")
        ch = text[i]
        if ch == '"':
            return out.decode("utf-8", "surrogateescape"), i + 1
        if ch != "\\":
            out += ch.encode("utf-8", "surrogatepass")
            i += 1
            continue
        esc = text[i + 1] if i + 1 < n else ""
        if esc in _SIMPLE_ESCAPES:
            out += _SIMPLE_ESCAPES[esc].encode()
            i += 2
        elif esc in "01234567" and esc:
            digits = text[i + 1 : i + 4]
            if len(digits) < 3 or any(d not in "01234567" for d in digits) or int(digits, 8) > 255:
                raise RuleError(text, i, f"invalid octal escape in string at position {i}")
            out.append(int(digits, 8))
            i += 4
        elif esc in ("x", "u", "U"):
            width = {"x": 2, "u": 4, "U": 8}[esc]
            digits = text[i + 2 : i + 2 + width]
            if len(digits) < width or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise RuleError(text, i, f"invalid \\{esc} escape in string at position {i}")
            value = int(digits, 16)
            if esc == "x":
                out.append(value)
            elif value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
                raise RuleError(text, i, f"escape is an invalid Unicode code point at position {i}")
            else:
                out += chr(value).encode()
            i += 2 + width
        else:
            shown = esc if esc else "end of rule"
            raise RuleError(text, i, f"unknown escape sequence '\\{shown}' in string at position {i}")
