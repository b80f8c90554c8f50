"""Redirecting middlewares: ``redirectRegex`` and ``redirectScheme`` (Traefik v3).

Both rebuild the URL the client used, rewrite it with a Go regexp and a ``${1}`` template, and
redirect when the result differs (an equal URL lets the request through):

* ``redirectRegex`` sees ``scheme://Host-header/request-target``; the scheme is ``https`` on a
  TLS connection, else ``http`` (``X-Forwarded-Proto`` is not consulted).
* ``redirectScheme`` rewrites to ``scheme://host[:port]/target``: the client's scheme comes from
  ``X-Forwarded-Proto`` (``ws``/``wss`` count as ``http``/``https``; an unknown value is
  ignored), then TLS; default ports (80 for http, 443 for https) are dropped on both sides, and
  the client's port is always replaced by ``port`` (or dropped when ``port`` is unset).

The status is 302 for GET and 307 for other methods, 301/308 with ``permanent``; the body is
the status text.  ``Location`` is the rewritten URL as Go's ``url.URL`` prints it (spaces in the
path escaped...); a result Go cannot parse answers 502 ``Bad Gateway``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from http import HTTPStatus
from typing import Final

from middlewares.gocompat import Template, URLError, group_names, replace_all, split_host_port, url_string
from traefikpy.config.middleware_options import RedirectRegex, RedirectScheme
from traefikpy.proxy.http import BuildContext, Exchange, Handler, MiddlewareFactory
from traefikpy.rules.goregex import GoRegexpError, compile_go_regexp

_SCHEME_PATTERN: Final = r"^(https?:\/\/)?(\[[\w:.]+\]|[\w\._-]+)?(:\d+)?(.*)$"
_STATUS: Final = {
    (False, True): 302, (False, False): 307, (True, True): 301, (True, False): 308,
}
_BODIES: Final = {code: HTTPStatus(code).phrase.encode() for code in _STATUS.values()}
_PLAIN: Final = b"text/plain; charset=utf-8"


def _host(ex: Exchange) -> str:
    """Go's ``Request.Host``: the Host header as sent (port included)."""
    value = ex.header(b"host")
    return value.decode("latin-1") if value is not None else ex.host


def regex_url(ex: Exchange) -> str:
    """The URL ``redirectRegex`` matches: ``scheme://host[:port]/path?query``."""
    scheme = "https" if ex.tls is not None or ex.scheme == "https" else "http"
    return scheme + "://" + _host(ex) + ex.target.decode("utf-8", "surrogateescape")


def client_url(ex: Exchange) -> str:
    """The URL ``redirectScheme`` rewrites: the client's scheme (``X-Forwarded-Proto`` first),
    host and port, without the scheme's default port."""
    scheme = "https" if ex.tls is not None or ex.scheme == "https" else "http"
    proto = ex.header(b"x-forwarded-proto")
    if proto:
        lowered = proto.lower()
        if lowered in (b"http", b"ws"):
            scheme = "http"
        elif lowered in (b"https", b"wss"):
            scheme = "https"
    hostport = _host(ex)
    split = split_host_port(hostport)
    if split is None:
        host, port = hostport, ""
    else:
        host, port = split[0], ":" + split[1]
        if ":" in host:
            host = "[" + host + "]"  # keep an IPv6 literal a literal
    if (scheme == "http" and port == ":80") or (scheme == "https" and port == ":443"):
        port = ""
    return scheme + "://" + host + port + ex.target.decode("utf-8", "surrogateescape")


class Redirect:
    """Match, rewrite and redirect; shared by both middlewares."""

    __slots__ = ("next", "pattern", "template", "permanent", "url_of")

    def __init__(
        self, next: Handler, pattern: re.Pattern[str], template: Template, permanent: bool,
        url_of: Callable[[Exchange], str],
    ) -> None:
        self.next = next
        self.pattern = pattern
        self.template = template
        self.permanent = permanent
        self.url_of = url_of

    async def __call__(self, ex: Exchange) -> None:
        old = self.url_of(ex)
        if self.pattern.search(old) is None:
            await self.next(ex)
            return
        new = replace_all(self.pattern, old, self.template)
        try:
            location = url_string(new)
        except URLError:
            await ex.respond(502, b"Bad Gateway", content_type=_PLAIN)
            return
        if new == old:
            await self.next(ex)
            return
        status = _STATUS[(self.permanent, ex.method == b"GET")]
        headers = [(b"Location", location.encode("utf-8", "surrogateescape"))]
        await ex.respond(status, _BODIES[status], headers, content_type=_PLAIN)

    def __repr__(self) -> str:
        return f"<Redirect {self.pattern.pattern!r} permanent={self.permanent}>"


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return compile_go_regexp(pattern)
    except GoRegexpError as exc:
        raise ValueError(f"error parsing regexp: {exc}") from None


def build_redirect_regex(options: RedirectRegex, next: Handler, name: str, ctx: BuildContext) -> Handler:
    pattern = _compile(options.regex)
    template = Template(options.replacement, group_names(options.regex))
    return Redirect(next, pattern, template, options.permanent, regex_url)


def build_redirect_scheme(options: RedirectScheme, next: Handler, name: str, ctx: BuildContext) -> Handler:
    scheme = options.scheme
    if not scheme:
        raise ValueError("you must provide a target scheme")
    port = options.port
    default = (scheme == "http" and port == "80") or (scheme == "https" and port == "443")
    suffix = ":" + port if port and not default else ""
    template = Template(scheme + "://${2}" + suffix + "${4}", group_names(_SCHEME_PATTERN))
    return Redirect(next, _compile(_SCHEME_PATTERN), template, options.permanent, client_url)


FACTORIES: dict[str, MiddlewareFactory] = {
    "redirectRegex": build_redirect_regex,
    "redirectScheme": build_redirect_scheme,
}
