"""Building the upstream request head from an Exchange (Traefik's director, restated).

The request line carries the exchange's escaped path (the server URL's path in front only with
``preservePath``, joined like Go's ``singleJoiningSlash``) and its query with ``;`` turned into
``&``.  Headers go out as the exchange holds them, minus hop-by-hop fields (``Connection`` and
what it lists, ``Keep-Alive``, ``Proxy-Connection``, ``Proxy-Authorization``,
``Proxy-Authenticate``, ``TE``, ``Trailer``, ``Transfer-Encoding``, ``Upgrade``), with
``X-Forwarded-For`` folded and the client IP appended, ``Host`` the client's (passHostHeader) or
the server's, and the body framing re-stated from the body (Content-Length or chunked).
``X-Forwarded-For`` is left out altogether when a middleware marked the exchange with
:data:`OMIT_XFF` in ``ex.extras`` and no value is left (Go's ``ReverseProxy`` skips the header
when the map holds the key with a nil value: Traefik's ``customRequestHeaders:
{X-Forwarded-For: ""}``).

Rendering is the hot part of forwarding, so rendered ``name: value`` lines are cached by their
(name, value) pair; keep-alive clients repeat most of their headers verbatim.  Credentials
(``Authorization``, ``Cookie``...) and long values are never cached.
"""

from __future__ import annotations

from typing import Final

from traefikpy.proxy.http import Exchange
from traefikpy.proxy.upstream import ServerURL

_HOP_REQUEST: Final = frozenset(
    {
        b"connection", b"keep-alive", b"proxy-connection", b"proxy-authorization",
        b"proxy-authenticate", b"te", b"trailer", b"transfer-encoding", b"upgrade",
    }
)
_BODY_METHODS: Final = frozenset({b"POST", b"PUT", b"PATCH"})

_LINES: dict[tuple[bytes, bytes], bytes | int] = {}
"""Rendered request header lines by (name, value), or the kind of a header forward handles."""
_L_HOP: Final = 1
_L_CONNECTION: Final = 2
_L_HOST: Final = 3
_L_XFF: Final = 4
_L_LENGTH: Final = 5
_NO_CACHE: Final = frozenset({b"authorization", b"cookie", b"proxy-authorization", b"x-api-key"})
OMIT_XFF: Final = "omit_x_forwarded_for"
"""``ex.extras`` key: send no ``X-Forwarded-For`` (unless a value was set again afterwards)."""


def _line(pair: tuple[bytes, bytes]) -> bytes | int:
    name, value = pair
    lname = name.lower()
    if lname in _HOP_REQUEST:
        line: bytes | int = _L_CONNECTION if lname == b"connection" else _L_HOP
    elif lname == b"host":
        line = _L_HOST
    elif lname == b"x-forwarded-for":
        line = _L_XFF
    elif lname == b"content-length":
        line = _L_LENGTH
    else:
        line = name + b": " + value + b"\r\n"
    if lname not in _NO_CACHE and len(value) <= 512:
        if len(_LINES) >= 8192:
            _LINES.clear()  # many distinct values (ids, dates): start over rather than grow
        _LINES[pair] = line
    return line


def request_line(ex: Exchange, prefix: bytes) -> bytes:
    path = ex.raw_path
    if prefix:
        path = join_path(prefix, path)
    query = ex.query
    if query:
        path = path + b"?" + (query.replace(b";", b"&") if 59 in query else query)
    return ex.method + b" " + path + b" HTTP/1.1\r\n"


def build_request_head(
    ex: Exchange, url: ServerURL, pass_host_header: bool, prefix: bytes, line: bytes | None = None
) -> bytes:
    """The upstream request head for ``ex`` (request line, headers, blank line)."""
    parts = [line if line is not None else request_line(ex, prefix)]
    append = parts.append
    xff: bytes | None = None
    host_sent = False
    listed: set[bytes] | None = None
    lines = _LINES
    for pair in ex.headers:
        rendered = lines.get(pair)
        if rendered is None:
            rendered = _line(pair)
        if type(rendered) is bytes:
            append(rendered)
        elif rendered == _L_HOST:
            if not host_sent:
                host_sent = True
                append(b"Host: " + (pair[1] if pass_host_header else url.authority) + b"\r\n")
        elif rendered == _L_XFF:
            xff = pair[1] if xff is None else xff + b", " + pair[1]
        elif rendered == _L_CONNECTION:
            tokens = {t.strip().lower() for t in pair[1].split(b",")}
            listed = tokens if listed is None else listed | tokens
        # _L_HOP and _L_LENGTH: dropped (the length is re-stated from the body below)
    if not host_sent:
        append(b"Host: " + url.authority + b"\r\n")
    if xff is not None or ex.extras is None or OMIT_XFF not in ex.extras:
        client = ex.client_ip.encode("ascii", "replace")
        append(b"X-Forwarded-For: " + (xff + b", " + client if xff else client) + b"\r\n")
    if ex.upgrade:
        append(b"Connection: Upgrade\r\nUpgrade: " + ex.upgrade + b"\r\n")
    length = ex.body.length
    if length is None:
        append(b"Transfer-Encoding: chunked\r\n")
    elif length or ex.method in _BODY_METHODS:
        append(b"Content-Length: %d\r\n" % length)
    if listed:
        listed.discard(b"")
        parts[1:] = [p for p in parts[1:] if p.split(b":", 1)[0].lower() not in listed]
    parts.append(b"\r\n")
    return b"".join(parts)


def join_path(prefix: bytes, path: bytes) -> bytes:
    """Go's ``singleJoiningSlash`` on escaped paths (``preservePath``)."""
    if prefix.endswith(b"/") and path.startswith(b"/"):
        return prefix + path[1:]
    if not prefix.endswith(b"/") and not path.startswith(b"/"):
        return prefix + b"/" + path
    return prefix + path
