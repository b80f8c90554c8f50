"""``forwardAuth``: ask an external server whether a request may pass (Traefik v3 semantics).

For every request an auth request goes to ``address`` (``GET``, or the request's method with
``preserveRequestMethod``) carrying:

* the request's headers (only ``authRequestHeaders`` when that list is set), minus hop-by-hop
  ones, ``Host`` (the auth server's) and ``Content-Length`` (re-stated for the body sent);
* ``X-Forwarded-Method``, ``-Proto`` (``https`` on TLS connections, else ``http``), ``-Host`` (the
  Host header as received), ``-Uri`` (the current request target) and ``X-Forwarded-For`` (the
  client IP).  With ``trustForwardHeader`` values the request already had win, and the client IP
  is appended to an existing ``X-Forwarded-For``;
* with ``forwardBody`` the request body (read once, then replayed to the next handler; above
  ``maxBodySize`` bytes, -1 meaning no limit, the answer is ``401``).

A ``2xx`` answer lets the request through: ``authResponseHeaders`` (and headers matching
``authResponseHeadersRegex``, a Go regexp) replace the request's headers of the same name, and
auth cookies named in ``addAuthCookiesToResponse`` replace the server's cookies of those names on
the response.  Any other answer is returned to the client as is (status, headers minus hop-by-hop
ones, body), ``Location`` made absolute against ``address`` unless ``preserveLocationHeader``.
Redirects are not followed; the whole call has 30 seconds.  An unreachable auth server gives
``500``.  ``headerField`` names an auth response header whose value is recorded as the user name
for the access log (``ex.extras["ClientUsername"]``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any, Final
from urllib.parse import urljoin, urlsplit

import aiohttp
from multidict import CIMultiDict

from middlewares import shared
from middlewares.auth_basic import set_username
from middlewares.content import detect_content_type
from traefikpy.config.middleware_options import ForwardAuth
from traefikpy.proxy.h1body import EmptyBody
from traefikpy.proxy.http import BuildContext, Exchange, Handler, Headers, MiddlewareFactory
from traefikpy.rules.goregex import GoRegexpError, compile_go_regexp
from traefikpy.services.replay import ReplayBody, read_limited

log = logging.getLogger("traefikpy.middlewares.forwardauth")

TIMEOUT: Final = 30.0
_HOP: Final = frozenset(
    {b"connection", b"keep-alive", b"te", b"trailer", b"trailers", b"transfer-encoding", b"upgrade"}
)
_NOT_COPIED: Final = _HOP | {b"host", b"content-length"}
_FORWARDED: Final = frozenset(
    {b"x-forwarded-for", b"x-forwarded-method", b"x-forwarded-proto", b"x-forwarded-host", b"x-forwarded-uri"}
)
_SKIP_AUTO: Final = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")


def canonical_key(name: str) -> str:
    """Go's ``http.CanonicalHeaderKey``: ``x-auth-user`` -> ``X-Auth-User`` (names with characters
    outside the token set are left alone)."""
    if not name or any(not (c.isascii() and (c.isalnum() or c in "!#$%&'*+-.^_`|~")) for c in name):
        return name
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def auth_request_headers(
    ex: Exchange, trust: bool, allowed: Iterable[str] = ()
) -> list[tuple[str, str]]:
    """The headers of the auth request for ``ex`` (see the module docstring)."""
    listed: set[bytes] = set()
    for key, value in ex.headers:
        if key.lower() == b"connection":
            listed.update(t.strip().lower() for t in value.split(b","))
    copied = [
        (k, v) for k, v in ex.headers if (lk := k.lower()) not in _NOT_COPIED and lk not in listed
    ]
    wanted = [a.lower().encode("latin-1") for a in allowed]
    if wanted:
        copied = [(canonical_key(k.decode("latin-1")).encode("latin-1"), v)
                  for name in wanted for k, v in copied if k.lower() == name]
    out = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in copied if k.lower() not in _FORWARDED]

    def incoming(name: bytes) -> str:
        value = ex.header(name)
        return value.decode("latin-1") if value is not None else ""

    client_ip = ex.client_ip
    if trust:
        prior = ex.header_values(b"x-forwarded-for")
        if prior:
            client_ip = ", ".join(v.decode("latin-1") for v in prior) + ", " + client_ip
    out.append(("X-Forwarded-For", client_ip))
    method = incoming(b"x-forwarded-method")
    out.append(("X-Forwarded-Method", method if method and trust else ex.method.decode("latin-1")))
    proto = incoming(b"x-forwarded-proto")
    out.append(("X-Forwarded-Proto", proto if proto and trust else ("https" if ex.tls is not None else "http")))
    forwarded_host = incoming(b"x-forwarded-host")
    host = forwarded_host if forwarded_host and trust else (incoming(b"host") or ex.host)
    if host:
        out.append(("X-Forwarded-Host", host))
    uri = incoming(b"x-forwarded-uri")
    out.append(("X-Forwarded-Uri", uri if uri and trust else ex.target.decode("latin-1")))
    return out


def apply_auth_response_headers(
    ex: Exchange, response: Headers, names: Iterable[str], regex: re.Pattern[str] | None
) -> None:
    """Copy the configured auth response headers onto the request (replacing same-name ones)."""
    for configured in names:
        key = canonical_key(configured)
        lkey = key.lower().encode("latin-1")
        ex.del_header(lkey)
        encoded = key.encode("latin-1")
        ex.headers.extend((encoded, v) for k, v in response if k.lower() == lkey)
    if regex is None:
        return
    ex.headers[:] = [(k, v) for k, v in ex.headers if not regex.search(canonical_key(k.decode("latin-1")))]
    for k, v in response:
        key = canonical_key(k.decode("latin-1"))
        if regex.search(key):
            ex.headers.append((key.encode("latin-1"), v))


def cookie_name(set_cookie: bytes) -> bytes:
    return set_cookie.split(b";", 1)[0].split(b"=", 1)[0].strip()


def cookie_hook(auth_cookies: list[bytes], names: frozenset[bytes]) -> Any:
    """A response hook: the server's cookies named in ``names`` are replaced by the auth's."""
    added = [(b"Set-Cookie", c) for c in auth_cookies if cookie_name(c) in names]

    def replace_cookies(status: int, headers: Headers) -> int:
        headers[:] = [
            (k, v) for k, v in headers if k.lower() != b"set-cookie" or cookie_name(v) not in names
        ] + added
        return status

    return replace_cookies


def failure_headers(response: Headers, address: str, preserve_location: bool) -> Headers:
    """The auth server's headers as returned to the client (hop-by-hop and framing removed,
    ``Location`` resolved against ``address``); raises ValueError for an unusable Location."""
    out: Headers = []
    for k, v in response:
        lk = k.lower()
        if lk in _HOP or lk == b"content-length":
            continue
        if lk == b"location":
            if not v:
                continue
            location = v.decode("latin-1")
            if not preserve_location:
                location = urljoin(address, location)
            out.append((b"Location", location.encode("latin-1")))
            continue
        out.append((k, v))
    return out


def _session_key(options: ForwardAuth) -> tuple[Any, ...]:
    tls = options.tls
    return ("forwardAuth", tls.ca, tls.cert, tls.key, tls.insecure_skip_verify) if tls else ("forwardAuth",)


def build_forward_auth(options: ForwardAuth, next: Handler, name: str, ctx: BuildContext) -> Handler:
    address = options.address.strip()
    parts = urlsplit(address)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"invalid forwardAuth address {options.address!r}: an http(s) URL is required")
    ssl_context = shared.client_ssl_context(name, options.tls) if options.tls is not None else None
    try:
        regex = compile_go_regexp(options.auth_response_headers_regex) if options.auth_response_headers_regex else None
    except GoRegexpError as exc:
        raise ValueError(f"error compiling regular expression {options.auth_response_headers_regex}: {exc}") from None

    def create() -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(ssl=ssl_context if ssl_context is not None else True)
        return aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=TIMEOUT), auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(), skip_auto_headers=_SKIP_AUTO,
        )

    async def close(session: aiohttp.ClientSession) -> None:
        await session.close()

    session, bind = shared.acquire(ctx, _session_key(options), create, close)
    trust = options.trust_forward_header
    allowed = list(options.auth_request_headers)
    response_names = list(options.auth_response_headers)
    cookie_names = frozenset(c.encode("latin-1") for c in options.add_auth_cookies_to_response)
    user_header = options.header_field.lower().encode("latin-1") if options.header_field else b""
    preserve_method = options.preserve_request_method
    preserve_location = options.preserve_location_header
    forward_body = options.forward_body
    max_body = options.max_body_size

    async def forward_auth(ex: Exchange) -> None:
        data: bytes | None = None
        if forward_body and type(ex.body) is not EmptyBody:
            original = ex.body
            try:
                data, complete = await read_limited(original, max_body)
            except Exception:
                log.debug("forwardAuth %s: reading the request body failed", name, exc_info=True)
                await ex.respond(500, b"", content_type=None)
                return
            if not complete:
                await ex.respond(401, b"", content_type=None)
                return
            ex.body = ReplayBody(data, length=original.length, trailers=original.trailers)
        headers = CIMultiDict(auth_request_headers(ex, trust, allowed))
        method = ex.method.decode("latin-1") if preserve_method else "GET"
        try:
            async with session.request(method, address, headers=headers, data=data or None,
                                       allow_redirects=False) as resp:
                status = resp.status
                body = await resp.read()
                raw = [(bytes(k), bytes(v)) for k, v in resp.raw_headers]
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            log.debug("forwardAuth %s: calling %s failed: %r", name, address, exc)
            await ex.respond(500, b"", content_type=None)
            return
        if user_header:
            for k, v in raw:
                if k.lower() == user_header:
                    set_username(ex, v.decode("latin-1"))
                    break
        if not 200 <= status < 300:
            try:
                out = failure_headers(raw, address, preserve_location)
            except ValueError:
                await ex.respond(500, b"", content_type=None)
                return
            has_type = any(k.lower() == b"content-type" for k, _ in out)
            await ex.respond(status, body, out, content_type=None if has_type or not body else detect_content_type(body).encode())
            return
        apply_auth_response_headers(ex, raw, response_names, regex)
        if cookie_names:
            auth_cookies = [v for k, v in raw if k.lower() == b"set-cookie"]
            if auth_cookies:
                ex.on_response(cookie_hook(auth_cookies, cookie_names))
        await next(ex)

    bind(forward_auth)
    return forward_auth


FACTORIES: dict[str, MiddlewareFactory] = {"forwardAuth": build_forward_auth}
