"""Request-target and Host handling: pure functions, table-tested.

What the HTTP/1.1 server does with the request line and the Host header before routing, the way
Traefik v3 (Go's ``net/http`` plus its entry point handlers) does it:

* :func:`split_target` accepts origin-form (``/p?q``), absolute-form (``http://h/p``: the
  authority then replaces Host, RFC 9112 section 3.2.2) and ``OPTIONS *``; anything else, a
  fragment in the path, or userinfo in an absolute URI is a 400.
* :func:`normalize_path` decodes percent-encoded *unreserved* characters and upper-cases the
  remaining escapes (RFC 3986 sections 2.3 and 6.2.2.1); a broken escape is a 400.
* :func:`clean_path` is ``entryPoints.<ep>.http.sanitizePath`` (default on): Go's ``path.Clean``
  of the escaped path (dot segments, repeated slashes) keeping a trailing slash, like Traefik's
  ``URL.JoinPath()``.  Encoded slashes (``%2F``) are not separators and stay as they are.
* :func:`decode_path` gives the routing path rules match on (Traefik v3's: escapes decoded
  except reserved characters, so ``%2F`` is never a separator).
* :func:`canonical_host` lower-cases the Host, strips the port, IPv6 brackets and one trailing
  dot; :func:`valid_host` is Go's ``httpguts.ValidHostHeader`` byte check.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple


class BadTarget(ValueError):
    """The request target or Host cannot be served; ``status`` is the response code to send."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.status = status


class Target(NamedTuple):
    raw_path: bytes  # escaped path as sent (``*`` for ``OPTIONS *``)
    query: bytes  # raw query without ``?``
    authority: bytes | None  # host[:port] of an absolute-form target, else None


def split_target(method: bytes, target: bytes) -> Target:
    """Split the request-target into path, query and (absolute-form) authority."""
    if target[:1] == b"/":
        path, _, query = target.partition(b"?")
        if b"#" in path:
            # Traefik rejects fragments: Go would otherwise re-encode '#' and change the meaning.
            raise BadTarget("fragment in request path")
        return Target(path, query, None)
    if target == b"*":
        if method != b"OPTIONS":
            raise BadTarget("asterisk-form target is only allowed with OPTIONS")
        return Target(b"*", b"", None)
    lower = target[:8].lower()
    if lower.startswith(b"http://") or lower.startswith(b"https://"):
        rest = target[target.index(b"//") + 2 :]
        cut = len(rest)
        for sep in (b"/", b"?", b"#"):
            pos = rest.find(sep)
            if 0 <= pos < cut:
                cut = pos
        authority, tail = rest[:cut], rest[cut:]
        if not authority or b"@" in authority or not valid_host(authority) or not _valid_port(authority):
            raise BadTarget("invalid authority in absolute-form target")
        if tail[:1] == b"#":
            raise BadTarget("fragment in request target")
        path, _, query = tail.partition(b"?")
        if b"#" in path:
            raise BadTarget("fragment in request path")
        return Target(path or b"/", query, authority)
    raise BadTarget("invalid request target")


def _valid_port(authority: bytes) -> bool:
    """``host[:port]`` or ``[v6][:port]`` with a numeric port, like Go's URL parser wants."""
    if authority.startswith(b"["):
        end = authority.find(b"]")
        if end < 0:
            return False
        rest = authority[end + 1 :]
        return not rest or (rest[:1] == b":" and rest[1:].isdigit())
    if authority.count(b":") > 1:
        return False
    _, colon, port = authority.partition(b":")
    return not colon or port.isdigit()


_UNRESERVED: Final = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_HEX: Final = frozenset(b"0123456789abcdefABCDEF")


def normalize_path(raw: bytes) -> bytes:
    """Decode %XX of unreserved characters, upper-case the other escapes; 400 on a bad escape."""
    if 37 not in raw:  # "%" (int membership is far cheaper than a bytes needle)
        return raw
    out = bytearray()
    i, n = 0, len(raw)
    while i < n:
        pos = raw.find(b"%", i)
        if pos < 0:
            out += raw[i:]
            break
        out += raw[i:pos]
        if pos + 2 >= n or raw[pos + 1] not in _HEX or raw[pos + 2] not in _HEX:
            raise BadTarget("invalid percent-encoding in request path")
        code = int(raw[pos + 1 : pos + 3], 16)
        if code in _UNRESERVED:
            out.append(code)
        else:
            out += raw[pos : pos + 3].upper()
        i = pos + 3
    return bytes(out)


def has_denied_encoding(raw: bytes, denied: frozenset[bytes]) -> bool:
    """True when the normalized path holds one of the ``denied`` upper-case escapes (``%2F``)."""
    return bool(denied) and 37 in raw and any(code in raw for code in denied)


def clean_path(raw: bytes) -> bytes:
    """Go's ``path.Clean`` on the escaped path, keeping one trailing slash (``URL.JoinPath``)."""
    if raw.find(b"//") < 0 and raw.find(b"/.") < 0:
        return raw
    if raw[:1] != b"/":
        return raw
    out: list[bytes] = []
    for seg in raw.split(b"/"):
        if not seg or seg == b".":
            continue
        if seg == b"..":
            if out:
                out.pop()
            continue  # ".." above the root stays at the root
        out.append(seg)
    cleaned = b"/" + b"/".join(out)
    if raw.endswith(b"/") and not cleaned.endswith(b"/"):
        cleaned += b"/"
    return cleaned


_RESERVED_ESCAPES: Final = frozenset(
    b"%" + c.encode() for c in ("3A", "2F", "3F", "23", "5B", "5D", "40", "21", "24", "26", "27",
                                 "28", "29", "2A", "2B", "2C", "3B", "3D", "25")
)
_ESCAPE: Final = re.compile(rb"%[0-9A-Fa-f]{2}")


def _unescape(match: re.Match[bytes]) -> bytes:
    code = match.group(0).upper()
    return code if code in _RESERVED_ESCAPES else bytes([int(code[1:], 16)])


def decode_path(raw: bytes) -> str:
    """Traefik's *routing path*: escapes decoded except those of reserved characters
    (``:/?#[]@!$&'()*+,;=%``), so ``/a%2Fb`` never matches a rule for ``/a/b`` while
    ``/foo%20bar`` matches ``/foo bar``.  Text is UTF-8 (undecodable bytes kept as surrogates)."""
    if 37 in raw:  # "%"
        raw = _ESCAPE.sub(_unescape, raw)
    return raw.decode("utf-8", "surrogateescape")


_HOST_OK: Final = re.compile(rb"[A-Za-z0-9!$&'()*+,\-.:;=\[\]_~%]*")


def valid_host(value: bytes) -> bool:
    """Go's ``httpguts.ValidHostHeader``: only the bytes a host, IP literal and port may hold."""
    return _HOST_OK.fullmatch(value) is not None


def canonical_host(value: bytes) -> str:
    """``Example.COM:8080`` -> ``example.com``; ``[::1]:80`` -> ``::1``; ``a.b.`` -> ``a.b``."""
    host = value.decode("latin-1").lower()
    if host.startswith("["):
        end = host.find("]")
        host = host[1:end] if end > 0 else host
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    if host.endswith("."):
        host = host[:-1]
    return host


def host_port(value: bytes) -> bytes:
    """The port part of a Host value (``b""`` when absent)."""
    if value.startswith(b"["):
        end = value.find(b"]")
        rest = value[end + 1 :] if end > 0 else b""
        return rest[1:] if rest.startswith(b":") else b""
    if value.count(b":") == 1:
        return value.partition(b":")[2]
    return b""


def encode_query_semicolons(query: bytes) -> bytes:
    """``entryPoints.<ep>.http.encodeQuerySemicolons``: ``;`` becomes ``%3B``."""
    return query.replace(b";", b"%3B") if 59 in query else query
