"""The ``headers`` middleware (Traefik v3): custom request/response headers, CORS
(:mod:`middlewares.cors`) and security headers (:mod:`middlewares.secure`).

Order of operations, as in Traefik (custom/CORS handler wrapping the secure handler):

1. a CORS preflight is answered at once (:mod:`middlewares.cors`);
2. ``customRequestHeaders`` are applied: a value replaces every header of that name (spelled
   the Go way, ``X-Custom-Header``), an empty value removes it, ``Host`` changes the host sent
   upstream;
3. the security checks run (``allowedHosts`` may answer 500 ``Bad Host``, which still gets the
   custom and CORS response headers but no security header);
4. on the way back, in ONE response hook: the security headers, then ``customResponseHeaders``
   (an empty value removes a header, whoever set it), then the CORS headers.  Informational
   responses (1xx, including a WebSocket's 101) are left alone, as Go's response modifier does.

The response edits are merged once per scheme into a plan (names to drop, headers to add), so a
response costs one filtering pass plus the per-request CORS origin.  Without CORS the hook is a
``traefikpy.proxy.headerplan.PlanHook``, which the forwarder applies to the upstream's raw head
bytes (cached) instead of rebuilding the head.  A middleware with none of
the options is refused (``headers configuration not valid``).  ``sslRedirect``,
``sslTemporaryRedirect``, ``sslHost``, ``sslForceHost`` and ``featurePolicy`` were removed in
Traefik v3: they are accepted and ignored with a warning.  ``X-Forwarded-For: ""`` (that exact
spelling, as Traefik compares it) removes the header and marks the exchange so the forwarder
does not add the client IP either (Go's nil header value); any other edit of that header (another
spelling deleted, a value set) lifts the mark again, as it would in Go.
"""

from __future__ import annotations

import logging
from operator import itemgetter
from typing import Final

from middlewares.cors import Cors, has_cors_options
from middlewares.gocompat import canonical_header_key
from middlewares.paths import go_http_error
from middlewares.secure import REMOVED_OPTIONS, Secure, has_secure_options
from traefikpy.config.middleware_options import Headers as HeadersOptions
from traefikpy.proxy.headerplan import Plan, PlanHook, apply_plan, response_plan, then
from traefikpy.proxy.http import (
    BuildContext,
    Done,
    Exchange,
    Handler,
    MiddlewareFactory,
    ResponseHook,
    fast_of,
    set_fast,
)
from traefikpy.proxy.http import Headers as HeaderList
from traefikpy.proxy.reqhead import OMIT_XFF
from traefikpy.proxy.target import canonical_host

log = logging.getLogger("traefikpy.middlewares.headers")

_HOST: Final = b"host"
_XFF: Final = "X-Forwarded-For"
_name = itemgetter(0)

def _custom(values: dict[str, str]) -> list[tuple[bytes, bytes | None]]:
    return [
        (canonical_header_key(name).encode("latin-1"), value.encode("utf-8") if value else None)
        for name, value in values.items()
    ]


def _hook(plan: Plan, cors: Cors | None, origin: str) -> ResponseHook:
    if cors is None:
        return PlanHook(plan)  # request-independent: the forwarder can edit raw heads with it

    def headers_hook(status: int, headers: HeaderList) -> int:
        if status >= 200:
            apply_plan(plan, headers)
            cors.apply(headers, origin)
        return status

    return headers_hook


class RequestEdits:
    """``customRequestHeaders`` precomputed: names to drop, headers to add, a new Host."""

    __slots__ = ("drop", "add", "host", "omit_xff")

    def __init__(self, values: dict[str, str]) -> None:
        drop: set[bytes] = set()
        add: HeaderList = []
        self.host: bytes | None = None
        self.omit_xff: bool | None = None  # True: mark the exchange, False: lift the mark
        for name, value in values.items():
            canonical = canonical_header_key(name)
            key = canonical.encode("latin-1")
            if key.lower() == _HOST:
                if value:
                    self.host = value.encode("utf-8")
                continue  # Go keeps the Host out of the header map: deleting it does nothing
            if canonical == _XFF:
                # Only the exact spelling sets Go's nil value; Del or Set let the proxy add it.
                self.omit_xff = name == _XFF and not value
            drop.add(key.lower())
            if value:
                add.append((key, value.encode("utf-8")))
        self.drop = frozenset(drop)
        self.add = add

    @classmethod
    def then(cls, first: RequestEdits | None, second: RequestEdits | None) -> RequestEdits | None:
        """The edits of ``first`` followed by those of ``second`` (the inner middleware's)."""
        if first is None or second is None:
            return first or second
        both = cls({})
        both.drop = first.drop | second.drop
        both.add = [(k, v) for k, v in first.add if k.lower() not in second.drop] + second.add
        both.host = second.host if second.host is not None else first.host
        both.omit_xff = second.omit_xff if second.omit_xff is not None else first.omit_xff
        return both

    def apply(self, ex: Exchange) -> None:
        drop = self.drop
        if drop:
            headers = ex.headers
            # map over C callables: no Python frame per header on the usual miss
            if not drop.isdisjoint(map(bytes.lower, map(_name, headers))):
                headers[:] = [(k, v) for k, v in headers if k.lower() not in drop]
            headers.extend(self.add)
        omit = self.omit_xff
        if omit is not None:
            if omit:
                if ex.extras is None:
                    ex.extras = {OMIT_XFF: True}
                else:
                    ex.extras[OMIT_XFF] = True
            elif ex.extras is not None:
                ex.extras.pop(OMIT_XFF, None)
        if self.host is not None:
            ex.set_header(b"Host", self.host)
            ex.host = canonical_host(self.host)


def build_headers(options: HeadersOptions, next: Handler, name: str, ctx: BuildContext) -> Handler:
    removed = [key for key in REMOVED_OPTIONS if getattr(options, key)]
    if removed:
        aliases = [type(options).model_fields[key].alias or key for key in removed]
        log.warning("headers %s: %s removed in Traefik v3 and ignored", name, ", ".join(aliases))
    has_secure = has_secure_options(options)
    has_custom = bool(options.custom_request_headers or options.custom_response_headers)
    has_cors = has_cors_options(options)
    if not (has_secure or has_custom or has_cors):
        raise ValueError("headers configuration not valid")
    cors = Cors(options) if has_cors else None
    secure = Secure(options) if has_secure else None
    requests = RequestEdits(options.custom_request_headers) if options.custom_request_headers else None
    custom = _custom(options.custom_response_headers)
    static_cors = cors.static if cors is not None else []
    outer = response_plan(custom, static_cors)
    plain = response_plan(secure.plain if secure else [], custom, static_cors)
    tls = response_plan(secure.tls if secure else [], custom, static_cors)
    # Without CORS nothing depends on the request: the hooks are built once.
    fixed: dict[bool, ResponseHook] | None = None
    if cors is None and (secure is None or not secure.nonce):
        fixed = {False: _hook(plain, None, ""), True: _hook(tls, None, "")}

    if fixed is not None and secure is None:
        # Custom headers only (the usual case): nothing to decide per request.
        return _custom_headers(requests, plain, next)

    async def headers(ex: Exchange) -> None:
        if cors is not None and ex.method == b"OPTIONS":
            origin = ex.header(b"origin")
            if origin and ex.header(b"access-control-request-method"):
                await ex.respond(200, b"", cors.preflight_headers(origin.decode("latin-1")), content_type=None)
                return
        if requests is not None:
            requests.apply(ex)
        origin_text = ""
        if cors is not None:
            origin_text = (ex.header(b"origin") or b"").decode("latin-1")
        ssl = False
        if secure is not None:
            if not secure.host_allowed(ex):
                if has_custom or cors is not None:
                    ex.on_response(_hook(outer, cors, origin_text))
                await go_http_error(ex, 500, "Bad Host")
                return
            ssl = secure.is_ssl(ex)
        if fixed is not None:
            ex.on_response(fixed[ssl])
        elif secure is not None and secure.nonce:
            ex.on_response(_hook(response_plan(secure.headers_for(ssl), custom, static_cors), cors, origin_text))
        else:
            ex.on_response(_hook(tls if ssl else plain, cors, origin_text))
        await next(ex)

    return headers


def _custom_headers(requests: RequestEdits | None, plan: Plan, next: Handler) -> Handler:
    """A Headers middleware with only custom headers.  Directly wrapping another one, the two
    fold into one (request edits in chain order, response plans innermost first as hooks run),
    so a chain of them costs about what one costs."""
    inner: tuple[RequestEdits | None, Plan, Handler] | None = getattr(next, "custom_headers", None)
    if inner is not None:
        requests = RequestEdits.then(requests, inner[0])
        plan = then(inner[1], plan)
        next = inner[2]
    hook = PlanHook(plan)
    apply = requests.apply if requests is not None else None

    async def custom_headers(ex: Exchange) -> None:
        if apply is not None:
            apply(ex)
        ex.on_response(hook)
        await next(ex)

    custom_headers.custom_headers = (requests, plan, next)  # type: ignore[attr-defined]
    next_fast = fast_of(next)
    if next_fast is None:
        return custom_headers

    def fast(ex: Exchange, done: Done | None) -> None:
        if apply is not None:
            apply(ex)
        ex.on_response(hook)
        next_fast(ex, done)

    return set_fast(custom_headers, fast)


FACTORIES: dict[str, MiddlewareFactory] = {"headers": build_headers}
