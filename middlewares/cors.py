"""The CORS half of the ``headers`` middleware (Traefik's ``processCorsHeaders`` and
``PostRequestModifyResponseHeaders``).

* A preflight is an ``OPTIONS`` request with both ``Origin`` and
  ``Access-Control-Request-Method``: the middleware answers it itself with 200 and
  ``Access-Control-Allow-Credentials: true`` (when set), ``-Allow-Headers`` and ``-Allow-Methods``
  (comma-joined, when set), ``-Allow-Origin`` (when the origin is allowed) and ``-Max-Age``
  (always, 0 by default).  Nothing else of the middleware applies to it.
* On other responses: ``Access-Control-Allow-Origin`` when the origin is allowed,
  ``-Allow-Credentials``, ``-Expose-Headers``, and with ``addVaryHeader`` ``Origin`` appended to
  the first ``Vary`` value (unless it is exactly ``Origin``).
* An origin is allowed by the first ``accessControlAllowOriginList`` entry equal to it or ``*``
  (the header then carries that entry, ``*`` included), else by any
  ``accessControlAllowOriginListRegex`` (Go syntax, unanchored; the header carries the origin).
  The request's ``Origin`` may be absent: ``*`` still allows it.
"""

from __future__ import annotations

import re
from typing import Final

from traefikpy.config.middleware_options import Headers as HeadersOptions
from traefikpy.proxy.http import Headers as HeaderList
from traefikpy.rules.goregex import GoRegexpError, compile_go_regexp

ALLOW_ORIGIN: Final = b"Access-Control-Allow-Origin"
_ALLOW_ORIGIN_L: Final = b"access-control-allow-origin"
_VARY_L: Final = b"vary"


def has_cors_options(options: HeadersOptions) -> bool:
    """Traefik's ``HasCorsHeadersDefined``."""
    o = options
    return bool(
        o.access_control_allow_credentials or o.access_control_allow_headers or o.access_control_allow_methods
        or o.access_control_allow_origin_list or o.access_control_allow_origin_list_regex
        or o.access_control_expose_headers or o.access_control_max_age != 0 or o.add_vary_header
    )


class Cors:
    """Precomputed CORS answers of one headers middleware."""

    __slots__ = ("origins", "regexes", "preflight", "static", "vary")

    def __init__(self, options: HeadersOptions) -> None:
        self.origins = tuple(options.access_control_allow_origin_list)
        regexes: list[re.Pattern[str]] = []
        for pattern in options.access_control_allow_origin_list_regex:
            try:
                regexes.append(compile_go_regexp(pattern))
            except GoRegexpError as exc:
                raise ValueError(f"error occurred during origin parsing: {exc}") from None
        self.regexes = tuple(regexes)
        preflight: HeaderList = []
        static: HeaderList = []
        if options.access_control_allow_credentials:
            preflight.append((b"Access-Control-Allow-Credentials", b"true"))
            static.append((b"Access-Control-Allow-Credentials", b"true"))
        if options.access_control_allow_headers:
            preflight.append((b"Access-Control-Allow-Headers", ",".join(options.access_control_allow_headers).encode()))
        if options.access_control_allow_methods:
            preflight.append((b"Access-Control-Allow-Methods", ",".join(options.access_control_allow_methods).encode()))
        preflight.append((b"Access-Control-Max-Age", str(options.access_control_max_age).encode()))
        if options.access_control_expose_headers:
            static.append((b"Access-Control-Expose-Headers", ",".join(options.access_control_expose_headers).encode()))
        self.preflight = preflight
        self.static = static
        self.vary = options.add_vary_header

    def allowed_origin(self, origin: str) -> str | None:
        """The ``Access-Control-Allow-Origin`` value for ``origin``, or None when not allowed."""
        for item in self.origins:
            if item == "*" or item == origin:
                return item
        for regex in self.regexes:
            if regex.search(origin) is not None:
                return origin
        return None

    def preflight_headers(self, origin: str) -> HeaderList:
        headers = list(self.preflight)
        allowed = self.allowed_origin(origin)
        if allowed is not None:
            headers.insert(len(headers) - 1, (ALLOW_ORIGIN, allowed.encode("latin-1", "replace")))
        return headers

    def apply(self, headers: HeaderList, origin: str) -> None:
        """The per-request CORS response headers: ``Access-Control-Allow-Origin`` and ``Vary``
        (the fixed ones, :attr:`static`, are part of the middleware's precomputed plan)."""
        allowed = self.allowed_origin(origin)
        if allowed is not None:
            _set(headers, _ALLOW_ORIGIN_L, ALLOW_ORIGIN, allowed.encode("latin-1", "replace"))
        if self.vary:
            vary = next((v for k, v in headers if k.lower() == _VARY_L), b"")
            if vary != b"Origin":
                _set(headers, _VARY_L, b"Vary", vary + b",Origin" if vary else b"Origin")


def _set(headers: HeaderList, lname: bytes, name: bytes, value: bytes) -> None:
    """Go's ``Header.Set``: every ``lname`` header replaced by one."""
    if any(k.lower() == lname for k, _ in headers):
        headers[:] = [(k, v) for k, v in headers if k.lower() != lname]
    headers.append((name, value))
