"""Values and functions of :mod:`providers.gotemplate`: Go's printing and truth rules, Go's
template builtins, Traefik's ``normalize`` and the common Sprig string helpers.

A missing map key is :data:`MISSING` (Go's invalid value): printed as ``<no value>``, nil for
functions taking any value, an error for functions that want a string.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["FUNCTIONS", "MISSING", "Struct", "TemplateError", "call", "normalize", "text", "truth"]


class TemplateError(ValueError):
    """A template that does not parse, or an execution error (the message says which)."""


def normalize(name: str) -> str:
    """Traefik's ``provider.Normalize``: runs of non-letters/digits become one ``-``, trimmed."""
    parts: list[str] = []
    current: list[str] = []
    for ch in name:
        if ch.isalpha() or ch.isnumeric():
            current.append(ch)
        elif current:
            parts.append("".join(current))
            current = []
    if current:
        parts.append("".join(current))
    return "-".join(parts)


class _Missing:
    """The value of a missing map key (Go's invalid reflect.Value)."""

    def __repr__(self) -> str:
        return "<no value>"


MISSING: Any = _Missing()


class Struct(dict[str, Any]):
    """Template data whose unknown fields are errors (a Go struct), unlike a map."""


def text(value: Any) -> str:
    """Go's ``fmt.Sprint`` of one value."""
    if value is MISSING:
        return "<no value>"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format(value, "g")
    if isinstance(value, list | tuple):
        return "[" + " ".join(text(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{text(k)}:{text(value[k])}" for k in sorted(value)) + "]"
    return str(value)


def truth(value: Any) -> bool:
    if value is MISSING or value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str | list | tuple | Mapping):
        return len(value) > 0
    return True


# functions


def _want_str(name: str, value: Any) -> str:
    if value is MISSING or value is None:
        raise TemplateError(f"error calling {name}: invalid value; expected string")
    if isinstance(value, str):
        return value
    raise TemplateError(f"error calling {name}: wrong type for value; expected string; got {type(value).__name__}")


def _want_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TemplateError(f"error calling {name}: expected an integer, got {text(value)}")
    return value


def _strval(value: Any) -> str:
    """Sprig's ``strval``: any value as text (nil is empty)."""
    return "" if value is MISSING or value is None else text(value)


def _index(item: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(item, Mapping):
            item = item.get(key, "")  # Go: the zero value of the (string) element type
        elif isinstance(item, list | tuple | str):
            idx = _want_int("index", key)
            if not 0 <= idx < len(item):
                raise TemplateError(f"error calling index: index out of range: {idx}")
            item = item[idx]
        else:
            raise TemplateError(f"error calling index: can't index item of type {type(item).__name__}")
    return item


_VERB = re.compile(r"%([-+# 0]*)(\d*)(?:\.(\d+))?([svdqxXtfeg%])")


def _printf(fmt: Any, *args: Any) -> str:
    template = _want_str("printf", fmt)
    values = list(args)

    def one(match: re.Match[str]) -> str:
        flags, width, precision, verb = match.groups()
        if verb == "%":
            return "%"
        if not values:
            return f"%!{verb}(MISSING)"
        value = values.pop(0)
        if verb == "q":
            rendered = '"' + text(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
        elif verb in "dxX" and isinstance(value, int) and not isinstance(value, bool):
            rendered = format(value, {"d": "d", "x": "x", "X": "X"}[verb])
        elif verb in "feg" and isinstance(value, int | float) and not isinstance(value, bool):
            rendered = format(value, f".{precision or 6}{verb}")
        else:
            rendered = text(value)
            if precision and verb == "s":
                rendered = rendered[: int(precision)]
        if width:
            rendered = rendered.ljust(int(width)) if "-" in flags else rendered.rjust(int(width), "0" if "0" in flags else " ")
        return rendered

    out = _VERB.sub(one, template)
    if values:
        out += "%!(EXTRA " + ", ".join(text(v) for v in values) + ")"
    return out


def _print(*args: Any) -> str:
    out = ""
    for i, arg in enumerate(args):
        # fmt.Sprint adds a space between operands when neither is a string
        if i and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out += " "
        out += text(arg)
    return out


def _compare(name: str, a: Any, b: Any) -> int:
    if isinstance(a, bool) or isinstance(b, bool) or type(a) is not type(b) and not (
            isinstance(a, int | float) and isinstance(b, int | float)):
        raise TemplateError(f"error calling {name}: incompatible types for comparison")
    return int(a > b) - int(a < b)


def _go_regex(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern.replace(r"\z", r"\Z"))
    except re.error as exc:
        raise TemplateError(f"invalid regular expression {pattern!r}: {exc}") from None


def _title(text: str) -> str:
    return re.sub(r"(^|\s)(\S)", lambda m: m.group(1) + m.group(2).upper(), text)


def _trunc(count: Any, text: Any) -> str:
    n, s = _want_int("trunc", count), _strval(text)
    return s[:n] if n >= 0 else s[n:]


def _substr(start: Any, end: Any, text: Any) -> str:
    a, b, s = _want_int("substr", start), _want_int("substr", end), _strval(text)
    a = max(a, 0)
    return s[a:] if b < 0 or b > len(s) else s[a:b]


def _regex_replace(pattern: Any, text: Any, repl: Any) -> str:
    # Go's $1 / ${1} / ${name} become Python's \g<...>
    python_repl = re.sub(r"\$\{?(\w+)\}?", r"\\g<\1>", _strval(repl).replace("\\", "\\\\"))
    return _go_regex(_strval(pattern)).sub(python_repl, _strval(text))


def _len(value: Any) -> int:
    if isinstance(value, str | list | tuple | Mapping):
        return len(value)
    raise TemplateError(f"error calling len: len of type {type(value).__name__}")


def _empty(value: Any) -> bool:
    return not truth(value)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    # Go's builtins
    "and": lambda *a: next((v for v in a if not truth(v)), a[-1] if a else None),
    "or": lambda *a: next((v for v in a if truth(v)), a[-1] if a else None),
    "not": lambda v: not truth(v),
    "len": _len,
    "index": _index,
    "print": _print,
    "println": lambda *a: " ".join(text(v) for v in a) + "\n",
    "printf": _printf,
    "eq": lambda a, *others: any(a == o for o in others),
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: _compare("lt", a, b) < 0,
    "le": lambda a, b: _compare("le", a, b) <= 0,
    "gt": lambda a, b: _compare("gt", a, b) > 0,
    "ge": lambda a, b: _compare("ge", a, b) >= 0,
    # Traefik
    "normalize": lambda s: normalize(_want_str("normalize", s)),
    # Sprig
    "lower": lambda s: _want_str("lower", s).lower(),
    "upper": lambda s: _want_str("upper", s).upper(),
    "title": lambda s: _title(_want_str("title", s)),
    "trim": lambda s: _want_str("trim", s).strip(),
    "trimAll": lambda cut, s: _want_str("trimAll", s).strip(_want_str("trimAll", cut)),
    "trimPrefix": lambda p, s: _want_str("trimPrefix", s).removeprefix(_want_str("trimPrefix", p)),
    "trimSuffix": lambda p, s: _want_str("trimSuffix", s).removesuffix(_want_str("trimSuffix", p)),
    "replace": lambda old, new, s: _want_str("replace", s).replace(_want_str("replace", old), _want_str("replace", new)),
    "contains": lambda sub, s: _want_str("contains", sub) in _want_str("contains", s),
    "hasPrefix": lambda p, s: _want_str("hasPrefix", s).startswith(_want_str("hasPrefix", p)),
    "hasSuffix": lambda p, s: _want_str("hasSuffix", s).endswith(_want_str("hasSuffix", p)),
    "default": lambda d, *given: given[0] if given and truth(given[0]) else d,
    "empty": _empty,
    "coalesce": lambda *a: next((v for v in a if truth(v)), None),
    "ternary": lambda yes, no, cond: yes if truth(cond) else no,
    "quote": lambda *a: " ".join('"' + _strval(v).replace("\\", "\\\\").replace('"', '\\"') + '"'
                                 for v in a if v is not None and v is not MISSING),
    "squote": lambda *a: " ".join(f"'{_strval(v)}'" for v in a if v is not None and v is not MISSING),
    "cat": lambda *a: " ".join(_strval(v) for v in a if v is not None and v is not MISSING),
    "splitList": lambda sep, s: _strval(s).split(_want_str("splitList", sep)),
    "join": lambda sep, items: _want_str("join", sep).join(
        _strval(v) for v in (items if isinstance(items, list | tuple) else [items])),
    "first": lambda items: items[0] if items else None,
    "last": lambda items: items[-1] if items else None,
    "list": lambda *a: list(a),
    "regexMatch": lambda p, s: _go_regex(_strval(p)).search(_strval(s)) is not None,
    "regexReplaceAll": _regex_replace,
    "trunc": _trunc,
    "substr": _substr,
    "nospace": lambda s: re.sub(r"\s", "", _strval(s)),
    "repeat": lambda n, s: _strval(s) * max(_want_int("repeat", n), 0),
    "toString": _strval,
}


def call(name: str, args: list[Any]) -> Any:
    """Call a template function; every failure is a :class:`TemplateError` naming it."""
    function = FUNCTIONS[name]
    try:
        inspect.signature(function).bind(*args)
    except TypeError:
        raise TemplateError(f"wrong number of args for {name}: got {len(args)}") from None
    try:
        return function(*args)
    except TemplateError:
        raise
    except Exception as exc:  # e.g. first on a string, a comparison of unlike values
        raise TemplateError(f"error calling {name}: {exc}") from None
