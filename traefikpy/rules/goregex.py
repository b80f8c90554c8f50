"""Go (RE2) regular expressions, translated to Python ``re`` with the same matching behaviour.

Traefik compiles the values of ``HostRegexp``, ``PathRegexp``, ``HeaderRegexp`` and
``QueryRegexp`` with Go's ``regexp.Compile`` and tests them with ``MatchString``: unanchored,
Perl syntax, UTF-8 text.  :func:`compile_go_regexp` accepts exactly that syntax and rejects what
Go rejects (look-arounds, backreferences, atomic groups, possessive quantifiers...), so a rule
that Traefik refuses is refused here too.  The translation handles the places where the two
dialects read the same text differently:

* ``$`` without the ``m`` flag is the end of the text in Go; Python's ``$`` also matches before
  a final newline, so it becomes ``\\Z``; Go's ``\\z`` becomes ``\\Z``;
* ``\\d``, ``\\w``, ``\\s``, ``\\b`` are ASCII-only in Go (``\\s`` is ``[\\t\\n\\f\\r ]``): they
  become explicit ASCII classes;
* flag groups ``(?i)`` may appear anywhere in Go and last until the enclosing group closes
  (across ``|``); they become scoped ``(?i:...)`` groups, re-opened after each ``|``;
* ``(?<name>...)`` becomes ``(?P<name>...)``; ``[[:alpha:]]`` POSIX classes and ``\\Q...\\E``
  quoting are expanded; octal (``\\101``) and ``\\x{...}`` escapes become Python escapes;
* a ``{`` that is not a valid repeat (``{,3}``, ``{path:...}``) is a literal in Go.

Not supported (rejected with a clear error): Unicode classes ``\\pL``/``\\p{Greek}``, negated
POSIX classes ``[[:^alpha:]]``, the ungreedy flag ``U`` and ``\\C``.  Python's engine
backtracks where RE2 does not, so a pathological pattern such as ``(a+)+$`` can be slow on
adversarial input; such patterns should be avoided in rules.
"""

from __future__ import annotations

import re

_MAX_REPEAT = 1000
_ASCII_CLASS = {
    "d": ("0-9", False), "D": ("0-9", True),
    "w": ("0-9A-Za-z_", False), "W": ("0-9A-Za-z_", True),
    "s": ("\\t\\n\\f\\r ", False), "S": ("\\t\\n\\f\\r ", True),
}
_WORD = "[0-9A-Za-z_]"
_WORD_BOUNDARY = f"(?:(?<={_WORD})(?!{_WORD})|(?<!{_WORD})(?={_WORD}))"
_NOT_WORD_BOUNDARY = f"(?:(?<={_WORD})(?={_WORD})|(?<!{_WORD})(?!{_WORD}))"
_POSIX = {
    "alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x00-\\x7f", "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f", "digit": "0-9", "graph": "!-~", "lower": "a-z", "print": " -~",
    "punct": "!-/:-@\\[-`{-~", "space": "\\t\\n\\v\\f\\r ", "upper": "A-Z", "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_REPEAT = re.compile(r"\{(\d+)(,(\d*))?\}")
_FLAGS = re.compile(r"\(\?([imsU]*)(?:-([imsU]*))?([:)])")
_NAME = re.compile(r"\(\?P?<([A-Za-z0-9_]+)>")
_ANCHORS = frozenset({"\\A", "\\Z", _WORD_BOUNDARY, _NOT_WORD_BOUNDARY})
_SIMPLE = {"a": 0x07, "f": 0x0C, "t": 0x09, "n": 0x0A, "r": 0x0D, "v": 0x0B}


class GoRegexpError(ValueError):
    """The pattern is not valid Go regexp syntax (or uses a feature we cannot translate)."""


def _lit(code: int) -> str:
    """A Python escape for one code point (safe inside and outside classes)."""
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


class _Frame:
    """One open group: its multiline state and the scoped flag groups opened inside it."""

    __slots__ = ("multiline", "openers")

    def __init__(self, multiline: bool) -> None:
        self.multiline = multiline
        self.openers: list[str] = []


class _Translator:
    def __init__(self, pattern: str) -> None:
        self.src = pattern
        self.i = 0
        self.out: list[str] = []
        self.frames = [_Frame(False)]
        self.can_repeat = False  # whether the last emitted item accepts a quantifier
        self.just_repeated = False  # whether the last emitted item is a quantifier
        self.names: set[str] = set()

    def fail(self, msg: str) -> GoRegexpError:
        return GoRegexpError(f"{msg} at offset {self.i} of `{self.src}`")

    def run(self) -> str:
        src = self.src
        while self.i < len(src):
            ch = src[self.i]
            if ch == "(":
                self.open_group()
            elif ch == ")":
                self.close_group()
            elif ch == "|":
                frame = self.frames[-1]
                self.out.append(")" * len(frame.openers) + "|" + "".join(frame.openers))
                self.i += 1
                self.can_repeat = self.just_repeated = False
            elif ch in "*+?{":
                self.repeat(ch)
            elif ch == "[":
                self.emit(self.char_class())
            elif ch == "\\":
                piece = self.escape(in_class=False)
                self.emit(piece, anchor=piece in _ANCHORS)
            elif ch in "$^":
                self.i += 1
                self.emit("\\Z" if ch == "$" and not self.frames[-1].multiline else ch, anchor=True)
            elif ch == ".":
                self.emit(".")
                self.i += 1
            else:
                self.emit(re.escape(ch))
                self.i += 1
        if len(self.frames) > 1:
            raise self.fail("missing closing )")
        self.out.append(")" * len(self.frames[0].openers))
        return "".join(self.out)

    def emit(self, piece: str, anchor: bool = False) -> None:
        # Go accepts a repeated assertion (`^*`); Python only once it is wrapped in a group.
        self.out.append(f"(?:{piece})" if anchor and self.next_is_repeat() else piece)
        self.can_repeat, self.just_repeated = True, False

    def next_is_repeat(self) -> bool:
        src, i = self.src, self.i
        return i < len(src) and (src[i] in "*+?" or _REPEAT.match(src, i) is not None)

    def repeat(self, ch: str) -> None:
        src = self.src
        if ch == "{":
            match = _REPEAT.match(src, self.i)
            if match is None:  # not a valid repeat: a literal brace in Go
                self.emit("\\{")
                self.i += 1
                return
            low = int(match.group(1))
            high = low if match.group(2) is None else (int(match.group(3)) if match.group(3) else None)
            if low > _MAX_REPEAT or (high is not None and high > _MAX_REPEAT):
                raise self.fail("invalid repeat count (more than 1000)")
            if high is not None and high < low:
                raise self.fail("invalid repeat count (max below min)")
            token = match.group(0)
            self.i = match.end()
        else:
            token = ch
            self.i += 1
        if self.just_repeated:
            raise self.fail(f"invalid nested repetition operator `{token}`")
        if not self.can_repeat:
            raise self.fail(f"missing argument to repetition operator `{token}`")
        if self.i < len(src) and src[self.i] == "?":
            token += "?"
            self.i += 1
        self.out.append(token)
        self.just_repeated = True

    def open_group(self) -> None:
        src, frame = self.src, self.frames[-1]
        if not src.startswith("(?", self.i):
            self.out.append("(")
            self.i += 1
        elif (named := _NAME.match(src, self.i)) is not None:
            # Group names never matter for matching; a plain group avoids Python's stricter
            # name rules (Go allows a leading digit).  Go still rejects duplicate names.
            if named.group(1) in self.names:
                raise self.fail(f"duplicate capture group name {named.group(1)}")
            self.names.add(named.group(1))
            self.out.append("(")
            self.i = named.end()
        elif src.startswith("(?:", self.i):
            self.out.append("(?:")
            self.i += 3
        elif (flags := _FLAGS.match(src, self.i)) is not None:
            on, off, end = flags.group(1), flags.group(2), flags.group(3)
            if "U" in on + (off or ""):
                raise self.fail("the ungreedy flag U is not supported")
            if (not on and not off) or off == "":
                raise self.fail("missing flags in flag group")
            self.i = flags.end()
            opener = "(?" + on + ("-" + off if off else "") + ":"
            multiline = ("m" in on) or (frame.multiline and "m" not in (off or ""))
            if end == ":":
                self.out.append(opener)
                self.frames.append(_Frame(multiline))
                self.can_repeat = self.just_repeated = False
                return
            frame.openers.append(opener)
            frame.multiline = multiline
            self.out.append(opener)
            self.can_repeat = self.just_repeated = False
            return
        else:
            raise self.fail("invalid or unsupported Perl syntax (look-around, backreference, "
                            "atomic group or comment)")
        self.frames.append(_Frame(frame.multiline))
        self.can_repeat = self.just_repeated = False

    def close_group(self) -> None:
        if len(self.frames) == 1:
            raise self.fail("unexpected )")
        frame = self.frames.pop()
        self.out.append(")" * len(frame.openers) + ")")
        self.i += 1
        self.can_repeat, self.just_repeated = True, False

    def escape(self, in_class: bool) -> str:
        """Translate the escape at ``self.i`` (a backslash); advances past it."""
        src = self.src
        if self.i + 1 >= len(src):
            raise self.fail("trailing backslash at end of expression")
        c = src[self.i + 1]
        self.i += 2
        if c in _ASCII_CLASS:
            chars, negated = _ASCII_CLASS[c]
            if in_class:
                return f"\\{c}" if negated else chars
            return f"[{'^' if negated else ''}{chars}]"
        if c in "01234567":
            if c != "0" and (self.i >= len(src) or src[self.i] not in "01234567"):
                raise self.fail("backreferences are not supported")
            code = int(c)
            for _ in range(2):
                if self.i < len(src) and src[self.i] in "01234567":
                    code = code * 8 + int(src[self.i])
                    self.i += 1
            return _lit(code)
        if c == "x":
            if src.startswith("{", self.i):
                close = src.find("}", self.i)
                digits = src[self.i + 1 : close] if close > 0 else ""
                if not digits or any(d not in "0123456789abcdefABCDEF" for d in digits):
                    raise self.fail("invalid escape sequence \\x{")
                code = int(digits, 16)
                if code > 0x10FFFF:
                    raise self.fail("invalid escape sequence (code point out of range)")
                self.i = close + 1
                return _lit(code)
            digits = src[self.i : self.i + 2]
            if len(digits) < 2 or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise self.fail("invalid escape sequence \\x")
            self.i += 2
            return _lit(int(digits, 16))
        if c in _SIMPLE:
            return _lit(_SIMPLE[c])
        if not in_class:
            if c == "A":
                return "\\A"
            if c == "z":
                return "\\Z"
            if c == "b":
                return _WORD_BOUNDARY
            if c == "B":
                return _NOT_WORD_BOUNDARY
            if c == "Q":
                close = src.find("\\E", self.i)
                end = len(src) if close < 0 else close
                text = src[self.i : end]
                self.i = end if close < 0 else close + 2
                return f"(?:{re.escape(text)})" if text else "(?:)"
        if c in "pP":
            raise self.fail("Unicode character classes (\\p, \\P) are not supported")
        if c.isascii() and not c.isalnum():
            return _lit(ord(c))
        raise self.fail(f"invalid escape sequence \\{c}")

    def char_class(self) -> str:
        """Translate the bracket expression at ``self.i``; advances past the closing ``]``."""
        src = self.src
        start = self.i
        self.i += 1
        parts = ["["]
        if self.i < len(src) and src[self.i] == "^":
            parts.append("^")
            self.i += 1
        first = True
        while True:
            if self.i >= len(src):
                self.i = start
                raise self.fail("missing closing ]")
            ch = src[self.i]
            if ch == "]" and not first:
                self.i += 1
                break
            first = False
            if src.startswith("[:", self.i):
                close = src.find(":]", self.i + 2)
                if close >= 0:
                    name = src[self.i + 2 : close]
                    if name.startswith("^"):
                        raise self.fail("negated POSIX classes [:^name:] are not supported")
                    if name not in _POSIX:
                        raise self.fail(f"invalid character class range [:{name}:]")
                    parts.append(_POSIX[name])
                    self.i = close + 2
                    continue
            if ch == "\\" and self.i + 1 < len(src) and src[self.i + 1] in _ASCII_CLASS:
                parts.append(self.escape(in_class=True))
                continue
            low = self.class_char()
            if src.startswith("-", self.i) and not src.startswith("-]", self.i) and self.i + 1 < len(src):
                self.i += 1
                if src[self.i] == "\\" and self.i + 1 < len(src) and src[self.i + 1] in _ASCII_CLASS:
                    raise self.fail("invalid character class range")
                high = self.class_char()
                if high < low:
                    raise self.fail("invalid character class range")
                parts.append(f"{_lit(low)}-{_lit(high)}")
            else:
                parts.append(_lit(low))
        parts.append("]")
        return "".join(parts)

    def class_char(self) -> int:
        """One (possibly escaped) character of a class, as a code point."""
        src = self.src
        if src[self.i] != "\\":
            self.i += 1
            return ord(src[self.i - 1])
        piece = self.escape(in_class=True)
        # escape() returns a single-code-point _lit() here (classes were handled by the caller).
        return int(piece[2:], 16)


def translate(pattern: str) -> str:
    """The Python ``re`` source equivalent to Go regexp ``pattern``; raises GoRegexpError."""
    return _Translator(pattern).run()


def compile_go_regexp(pattern: str) -> re.Pattern[str]:
    """Compile Go regexp ``pattern`` for unanchored matching (use ``.search``)."""
    source = translate(pattern)
    try:
        return re.compile(source)
    except re.error as err:
        raise GoRegexpError(f"{err.msg} in `{pattern}`") from None
