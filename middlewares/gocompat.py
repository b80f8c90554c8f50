"""Go standard-library text behaviours that Traefik's path, redirect and header middlewares
inherit, restated for Python: pure functions, table-tested.

* :func:`canonical_header_key` is ``textproto.CanonicalMIMEHeaderKey`` (``x-foo`` -> ``X-Foo``),
  the spelling Go gives every header it sets.
* :class:`Template` and :func:`replace_all` are ``regexp.Expand`` and
  ``Regexp.ReplaceAllString``: ``$1``, ``${1}``, ``$name``, ``${name}``, ``$$``; ``$1x`` means the
  group named ``1x`` (empty), and an empty match right after a match is not replaced.
* :func:`group_names` gives the capture names of a Go pattern (the translated Python pattern
  keeps the groups but not their names).
* :func:`unescape`, :func:`escape` and :func:`escaped_path` are ``net/url``'s percent-encoding
  rules for paths, fragments and hosts; :func:`url_string` is ``url.Parse(s).String()``, used for
  the ``Location`` of redirects (an unparsable URL raises :class:`URLError`).
* :func:`split_host_port` is ``net.SplitHostPort``.
"""

from __future__ import annotations

import re
from typing import Final

# -- header names -----------------------------------------------------------------------------

_TOKEN: Final = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def canonical_header_key(name: str) -> str:
    """``x-custom-header`` -> ``X-Custom-Header``; names with non-token characters stay as given."""
    if not name or any(c not in _TOKEN for c in name):
        return name
    out = []
    upper = True
    for c in name:
        if upper and "a" <= c <= "z":
            c = c.upper()
        elif not upper and "A" <= c <= "Z":
            c = c.lower()
        out.append(c)
        upper = c == "-"
    return "".join(out)


# -- regexp templates ---------------------------------------------------------------------------


def group_names(pattern: str) -> list[str]:
    """Names of the capturing groups of Go pattern ``pattern``, in order ("" when unnamed)."""
    names: list[str] = []
    i, n = 0, len(pattern)
    in_class = False
    while i < n:
        c = pattern[i]
        if c == "\\":
            if pattern.startswith("\\Q", i):
                end = pattern.find("\\E", i + 2)
                i = n if end < 0 else end + 2
                continue
            i += 2
            continue
        if in_class:
            if pattern.startswith("[:", i):
                end = pattern.find(":]", i + 2)
                i = n if end < 0 else end + 2
                continue
            if c == "]":
                in_class = False
            i += 1
            continue
        if c == "[":
            in_class = True
            i += 1
            if pattern.startswith("^", i):
                i += 1
            if pattern.startswith("]", i):
                i += 1  # a leading "]" is a literal
            continue
        if c == "(":
            if pattern.startswith("(?P<", i) or pattern.startswith("(?<", i):
                start = pattern.index("<", i) + 1
                end = pattern.find(">", start)
                names.append(pattern[start:end] if end > 0 else "")
            elif not pattern.startswith("(?", i):
                names.append("")
        i += 1
    return names


def _extract(text: str) -> tuple[str, str] | None:
    """Go's ``extract``: the name after a ``$`` (``name`` or ``{name}``) and the rest, or None."""
    brace = text.startswith("{")
    body = text[1:] if brace else text
    i = 0
    while i < len(body) and (body[i].isalpha() or body[i].isdecimal() or body[i] == "_"):
        i += 1
    if i == 0:
        return None
    name = body[:i]
    if brace:
        if i >= len(body) or body[i] != "}":
            return None
        i += 1
    return name, body[i:]


class Template:
    """A replacement template compiled for one pattern: literal text and group references."""

    __slots__ = ("parts", "literal")

    def __init__(self, template: str, names: list[str]) -> None:
        parts: list[str | int] = []  # text, or the group number (-1: a group that never exists)
        rest = template
        text: list[str] = []
        while True:
            before, dollar, after = rest.partition("$")
            text.append(before)
            if not dollar:
                break
            if after.startswith("$"):
                text.append("$")
                rest = after[1:]
                continue
            found = _extract(after)
            if found is None:
                text.append("$")  # malformed reference: the "$" is literal
                rest = after
                continue
            name, rest = found
            parts.append("".join(text))
            text = []
            parts.append(_group_number(name, names))
        parts.append("".join(text))
        self.parts = tuple(p for p in parts if p != "")
        self.literal = all(type(p) is str for p in self.parts)

    def expand(self, match: re.Match[str]) -> str:
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            elif part >= 0:
                value = match.group(part)
                if value:
                    out.append(value)
        return "".join(out)


def _group_number(name: str, names: list[str]) -> int:
    """The group a template name refers to (0 is the whole match), -1 when there is none."""
    if name.isdecimal() and name.isascii() and not (len(name) > 1 and name[0] == "0"):
        number = int(name)  # a number with leading zeros is looked up as a name, like Go
        return number if number <= len(names) else -1
    for index, group in enumerate(names, 1):
        if group == name:
            return index
    return -1


def replace_all(pattern: re.Pattern[str], src: str, template: Template) -> str:
    """``Regexp.ReplaceAllString``: every leftmost-first match replaced, an empty match that
    abuts the previous match left alone."""
    out: list[str] = []
    last = 0
    pos = 0
    end = len(src)
    search = pattern.search
    while pos <= end:
        match = search(src, pos)
        if match is None:
            break
        start, stop = match.span()
        out.append(src[last:start])
        if stop > last or start == 0:
            out.append(template.expand(match))
        last = stop
        pos = stop if stop > pos else pos + 1
    out.append(src[last:])
    return "".join(out)


# -- percent-encoding (net/url) -----------------------------------------------------------------

PATH, FRAGMENT, HOST = 0, 1, 2
_ALNUM: Final = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
_RESERVED: Final = frozenset(b"$&+,/:;=?@")
_HOST_OK: Final = frozenset(b"!$&'()*+,;=:[]<>\"")
_SUBDELIMS: Final = frozenset(b"!$&'()*+,;=:@[]%")


def _should_escape(c: int, mode: int) -> bool:
    if c in _ALNUM:
        return False
    if mode == HOST and c in _HOST_OK:
        return False
    if c in _RESERVED:
        if mode == PATH:
            return c == 0x3F  # "?"
        if mode == FRAGMENT:
            return False
    return not (mode == FRAGMENT and c in b"!()*")


_ESCAPES: Final = tuple(tuple(_should_escape(c, mode) for c in range(256)) for mode in (PATH, FRAGMENT, HOST))
_HEXDIGITS: Final = frozenset(b"0123456789abcdefABCDEF")


class URLError(ValueError):
    """A URL (or part of one) ``net/url`` refuses; the message is Go's."""


def unescape(raw: bytes, mode: int = PATH) -> bytes:
    """Decode ``%XX`` escapes; raises :class:`URLError` (``invalid URL escape "%zz"``) like Go."""
    if 37 not in raw and mode != HOST:
        return raw
    out = bytearray()
    i, n = 0, len(raw)
    table = _ESCAPES[mode]
    while i < n:
        c = raw[i]
        if c == 37:
            if i + 2 >= n or raw[i + 1] not in _HEXDIGITS or raw[i + 2] not in _HEXDIGITS:
                bad = raw[i : i + 3].decode("latin-1")
                raise URLError(f"invalid URL escape {_quote(bad)}")
            code = int(raw[i + 1 : i + 3], 16)
            if mode == HOST and code < 0x80 and raw[i : i + 3] != b"%25":
                raise URLError(f"invalid URL escape {_quote(raw[i : i + 3].decode('latin-1'))}")
            out.append(code)
            i += 3
            continue
        if mode == HOST and c < 0x80 and table[c]:
            raise URLError(f"invalid character {_quote(chr(c))} in host name")
        out.append(c)
        i += 1
    return bytes(out)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def escape(decoded: bytes, mode: int = PATH) -> bytes:
    """Go's ``escape``: every byte the mode does not allow becomes ``%XX`` (upper-case)."""
    table = _ESCAPES[mode]
    if not any(table[c] for c in decoded):
        return decoded
    return b"".join(b"%%%02X" % c if table[c] else bytes((c,)) for c in decoded)


def valid_encoded(raw: bytes, mode: int = PATH) -> bool:
    """Go's ``validEncoded``: ``raw`` only holds bytes that may appear as they are."""
    table = _ESCAPES[mode]
    return not any(table[c] and c not in _SUBDELIMS for c in raw)


def escaped_path(raw: bytes) -> bytes:
    """What Go sends for a path set from ``raw`` (``URL.EscapedPath``): ``raw`` itself when it
    is a valid encoding, else the decoded path re-escaped.  Raises :class:`URLError`."""
    decoded = unescape(raw, PATH)
    if valid_encoded(raw, PATH):
        return raw
    return escape(decoded, PATH)


def has_raw_path(raw: bytes) -> bool:
    """True when Go would keep ``raw`` as ``URL.RawPath`` (its escaping is not the default)."""
    try:
        return escape(unescape(raw, PATH), PATH) != raw
    except URLError:
        return True


_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")


def url_string(text: str) -> str:
    """``url.Parse(text).String()``; raises :class:`URLError` where Go's parser fails."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise URLError("net/url: invalid control character in URL")
    rest, hash_sign, fragment = text.partition("#")
    scheme = ""
    match = _SCHEME.match(rest)
    if rest.startswith(":"):
        raise URLError("missing protocol scheme")
    if match is not None and rest[match.end() : match.end() + 1] == ":":
        scheme, rest = match.group(0).lower(), rest[match.end() + 1 :]
    if rest.endswith("?") and rest.count("?") == 1:
        rest, query, force_query = rest[:-1], "", True
    else:
        rest, _, query = rest.partition("?")
        force_query = False
    out = scheme + ":" if scheme else ""
    if not rest.startswith("/"):
        if scheme:
            return out + rest + _tail(query, force_query, hash_sign, fragment)  # opaque
        if ":" in rest.partition("/")[0]:
            raise URLError("first path segment in URL cannot contain colon")
    host = ""
    userinfo: str | None = None
    authority = rest.startswith("//") and (bool(scheme) or not rest.startswith("///"))
    if authority:
        hostport, slash, path = rest[2:].partition("/")
        rest = slash + path
        info, at, bare = hostport.rpartition("@")
        host = _parse_host(bare if at else hostport)
        userinfo = info if at else None
    # With a scheme and a single "/", the empty authority is omitted ("http:/path").
    path = escaped_path(rest.encode("utf-8", "surrogateescape")).decode("latin-1")
    if authority and (host or path or userinfo is not None):
        out += "//" + (userinfo + "@" if userinfo is not None else "")
        out += escape(host.encode("utf-8", "surrogateescape"), HOST).decode("latin-1")
    if not out and ":" in path.partition("/")[0]:
        out = "./"
    return out + path + _tail(query, force_query, hash_sign, fragment)


def _tail(query: str, force_query: bool, hash_sign: str, fragment: str) -> str:
    tail = "?" + query if (query or force_query) else ""
    if hash_sign and fragment:
        raw = fragment.encode("utf-8", "surrogateescape")
        decoded = unescape(raw, FRAGMENT)
        if decoded:
            tail += "#" + (raw if valid_encoded(raw, FRAGMENT) else escape(decoded, FRAGMENT)).decode("latin-1")
    return tail


def _parse_host(host: str) -> str:
    if host.startswith("["):
        close = host.rfind("]")
        if close < 0:
            raise URLError("missing ']' in host")
        port = host[close + 1 :]
    else:
        colon = host.rfind(":")
        port = host[colon:] if colon >= 0 else ""
    if port and (port[0] != ":" or not all("0" <= c <= "9" for c in port[1:])):
        raise URLError(f"invalid port {_quote(port)} after host")
    return unescape(host.encode("utf-8", "surrogateescape"), HOST).decode("utf-8", "surrogateescape")


def split_host_port(hostport: str) -> tuple[str, str] | None:
    """``net.SplitHostPort``: ``(host, port)`` without IPv6 brackets, or None when Go errors."""
    if hostport.startswith("["):
        close = hostport.find("]")
        if close < 0 or hostport[close + 1 : close + 2] != ":":
            return None
        host, port = hostport[1:close], hostport[close + 2 :]
        if "[" in port or "]" in port:
            return None
        return host, port
    colon = hostport.rfind(":")
    if colon < 0:
        return None
    host, port = hostport[:colon], hostport[colon + 1 :]
    if ":" in host or "[" in host or "]" in host or "[" in port or "]" in port:
        return None
    return host, port
