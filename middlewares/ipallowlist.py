"""``ipAllowList`` and its deprecated name ``ipWhiteList``: only clients whose IP is in
``sourceRange`` get through.

The client IP comes from ``ipStrategy`` (see :mod:`middlewares.sourcecriterion`); an entry such as
``1.2.3.4:5678`` is checked by its host part, and an empty or unparsable IP is rejected.  A rejected
request gets ``rejectStatusCode`` (default 403; ``ipWhiteList`` always 403) with the status text as
body, like Traefik.  An empty ``sourceRange``, an invalid range or an unknown status code disables
the middleware at build time.
"""

from __future__ import annotations

from http import HTTPStatus

from middlewares.sourcecriterion import ip_strategy, split_host_port
from traefikpy.config.middleware_options import IPAllowList, IPStrategy, IPWhiteList
from traefikpy.proxy.http import BuildContext, Exchange, Handler, MiddlewareFactory
from traefikpy.proxy.ipcheck import IPChecker


def status_text(status: int) -> bytes:
    """The reason phrase of a known status code (Go's ``http.StatusText``), else b""."""
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""


def build_ip_allow_list(options: IPAllowList, next: Handler, name: str, ctx: BuildContext) -> Handler:
    return _build(options.source_range, options.ip_strategy, options.reject_status_code or 403, next)


def build_ip_white_list(options: IPWhiteList, next: Handler, name: str, ctx: BuildContext) -> Handler:
    return _build(options.source_range, options.ip_strategy, 403, next)


def _build(source_range: list[str], strategy: IPStrategy | None, status: int, next: Handler) -> Handler:
    if not source_range:
        raise ValueError("sourceRange is empty, the IP allow list would reject everything")
    body = status_text(status)
    if not body:
        raise ValueError(f"invalid HTTP status code {status}")
    try:
        checker = IPChecker(source_range)
    except ValueError as exc:
        raise ValueError(f"cannot parse sourceRange {source_range}: {str(exc).replace('trusted ', '')}") from None
    client_ip = ip_strategy(strategy)
    contains = checker.contains

    async def ip_allow_list(ex: Exchange) -> None:
        ip = client_ip(ex)
        if ip and contains(split_host_port(ip)):
            await next(ex)
            return
        await ex.respond(status, body)

    return ip_allow_list


FACTORIES: dict[str, MiddlewareFactory] = {"ipAllowList": build_ip_allow_list, "ipWhiteList": build_ip_white_list}
