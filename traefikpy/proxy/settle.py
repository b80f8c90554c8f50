"""Settling an exchange: Traefik's answers to forwarding failures, and the task that finishes a
fast-path exchange when something has to wait (see ``http.fast_of``)."""

from __future__ import annotations

from collections.abc import Awaitable

from traefikpy.proxy.errors import STATUS_TEXT, ClientClosed, NoHealthyServer, ProxyError
from traefikpy.proxy.http import Done, Exchange


async def respond_error(ex: Exchange, exc: BaseException) -> None:
    """Answer a forwarding failure like Traefik (502/503/504 with a short text body).

    Does nothing if a response was already started (the connection is then aborted by the
    server); re-raises anything that is not a data-plane error."""
    if ex.status:
        return
    if isinstance(exc, NoHealthyServer):
        await ex.respond(
            503, b"no available server\n", [(b"X-Content-Type-Options", b"nosniff")]
        )
        return
    if isinstance(exc, ClientClosed):
        return
    if isinstance(exc, ProxyError):
        status = exc.status
        await ex.respond(status, STATUS_TEXT.get(status, b"Bad Gateway"), content_type=None)
        return
    raise exc


async def respond_unhandled(ex: Exchange, exc: BaseException) -> None:
    """Map an error that escaped a router's chain to a response, if nothing was sent yet."""
    if ex.status:
        raise exc  # the head is out: only closing the connection is left (the server does it)
    await respond_error(ex, exc)


def continue_async(ex: Exchange, work: Awaitable[None], done: Done | None) -> None:
    """Finish a fast-path exchange (see ``http.fast_of``) in a task: await ``work``, map its
    errors like the root handler does, then call ``done``."""
    writer = ex.writer  # the connection's own H1Writer: fast paths run on HTTP/1.1 only
    writer._conn.run_detached(writer, _continued(ex, work, done))  # type: ignore[attr-defined]


async def _continued(ex: Exchange, work: Awaitable[None], done: Done | None) -> None:
    try:
        await work
    except Exception as exc:  # noqa: BLE001 - per-request errors never escape to the server
        await respond_unhandled(ex, exc)
    finally:
        if done is not None:
            done(ex)


async def raise_later(exc: Exception) -> None:
    """An awaitable that raises ``exc`` (an error to answer through :func:`continue_async`)."""
    raise exc
