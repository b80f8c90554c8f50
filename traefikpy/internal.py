"""Handlers of the ``@internal`` provider: ping, entrypoint redirections, noop.

These are what Traefik's internal provider generates (``ping@internal``, ``web-to-websecure@internal``
redirection routers, ``noop@internal``); the compiler attaches them like user routers.
"""

from __future__ import annotations

from traefikpy.proxy.http import Exchange, Handler


class Ping:
    """``/ping``: 200 ``OK`` while running, ``terminatingStatusCode`` (503) while shutting down."""

    def __init__(self, terminating_status: int = 503) -> None:
        self.terminating = False
        self.terminating_status = terminating_status

    async def __call__(self, ex: Exchange) -> None:
        if ex.method not in (b"GET", b"HEAD"):
            await ex.respond(405, b"Method Not Allowed\n")
            return
        if self.terminating:
            await ex.respond(self.terminating_status, b"Service Unavailable")
        else:
            await ex.respond(200, b"OK")


async def noop(ex: Exchange) -> None:
    """``noop@internal``: a service that answers nothing useful (used by redirection routers)."""
    await ex.respond(418, b"I'm a teapot\n")


def redirect_handler(scheme: str, port: int, permanent: bool) -> Handler:
    """Traefik's entrypoint redirection: to ``scheme://host[:port]/path?query``.

    The port is left out when it is the scheme's default.  Status: 301/302 for GET (and HEAD),
    308/307 for other methods, like Traefik's redirect middlewares.
    """
    default_port = {"https": 443, "http": 80}.get(scheme)
    suffix = b"" if port in (0, default_port) else b":%d" % port
    prefix = scheme.encode() + b"://"

    async def redirect(ex: Exchange) -> None:
        if permanent:
            status = 301 if ex.method in (b"GET", b"HEAD") else 308
        else:
            status = 302 if ex.method in (b"GET", b"HEAD") else 307
        host = ex.host.encode("idna") if not ex.host.isascii() else ex.host.encode()
        if ":" in ex.host:  # IPv6 literal
            host = b"[" + host + b"]"
        location = prefix + host + suffix + ex.target
        await ex.respond(status, b"", [(b"Location", location)], content_type=None)

    return redirect
