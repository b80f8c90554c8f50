"""Network clients owned by middlewares (forwardAuth's HTTP client, rateLimit's Redis client).

Middleware handlers are rebuilt on every configuration reload and once per router that uses
them, while a client should keep its connections across reloads and be closed exactly once.
:func:`acquire` hands out one client per ``(event loop, key)`` (the key describes the client's
settings) and counts its users:

* each acquisition spawns a small *keeper* task through ``ctx.spawn`` (so application shutdown
  cancels it) and ties it to the handler with ``weakref.finalize`` (so dropping the handler, when
  its graph is replaced, cancels it too);
* a keeper gives its reference back when it ends; the last one closes the client.

A reload therefore keeps the client (the new graph acquires before the old one is dropped), and
an application that stops closes what it alone used.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

from traefikpy.config.middleware_options import ClientTLS
from traefikpy.proxy.http import BuildContext
from traefikpy.proxy.upstream import ClientCertificate, Transport, build_ssl_context

log = logging.getLogger("traefikpy.middlewares")

T = TypeVar("T")


class _Entry:
    __slots__ = ("client", "users", "close")

    def __init__(self, client: Any, close: Callable[[Any], Awaitable[None]]) -> None:
        self.client = client
        self.users = 0
        self.close = close


_registry: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, _Entry]] = (
    weakref.WeakKeyDictionary()
)


def acquire(
    ctx: BuildContext,
    key: Hashable,
    create: Callable[[], T],
    close: Callable[[T], Awaitable[None]],
) -> tuple[T, Callable[[object], None]]:
    """The shared client for ``key`` (created with ``create`` when absent) and a function that
    binds this reference to the lifetime of an object (the handler being built)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        raise ValueError("this middleware can only be built inside the running application") from None
    entries = _registry.setdefault(loop, {})
    entry = entries.get(key)
    if entry is None:
        entry = _Entry(create(), close)
        entries[key] = entry
    entry.users += 1
    ref = _Ref()
    task = ctx.spawn(_keep(entries, key, entry, ref), "client")
    # A keeper cancelled before its first step never runs its body: release from the callback.
    task.add_done_callback(lambda _: _released_late(entries, key, entry, ref))

    def bind(owner: object) -> None:
        weakref.finalize(owner, _cancel, task)

    client: T = entry.client
    return client, bind


def users(key: Hashable) -> int:
    """How many live references the client of ``key`` has on the running loop (0: none)."""
    entry = _registry.get(asyncio.get_running_loop(), {}).get(key)
    return entry.users if entry is not None else 0


class _Ref:
    __slots__ = ("released",)

    def __init__(self) -> None:
        self.released = False


_late: set[asyncio.Task[None]] = set()


def _cancel(task: asyncio.Task[Any]) -> None:
    with contextlib.suppress(RuntimeError):  # the loop is already closed
        task.cancel()


async def _keep(entries: dict[Hashable, _Entry], key: Hashable, entry: _Entry, ref: _Ref) -> None:
    try:
        await asyncio.Future()
    finally:
        await _release(entries, key, entry, ref)


def _released_late(entries: dict[Hashable, _Entry], key: Hashable, entry: _Entry, ref: _Ref) -> None:
    if not ref.released:
        task = asyncio.get_running_loop().create_task(_release(entries, key, entry, ref))
        _late.add(task)
        task.add_done_callback(_late.discard)


async def _release(entries: dict[Hashable, _Entry], key: Hashable, entry: _Entry, ref: _Ref) -> None:
    if ref.released:
        return
    ref.released = True
    entry.users -= 1
    if entry.users:
        return
    if entries.get(key) is entry:
        del entries[key]
    try:
        await entry.close(entry.client)
    except Exception:  # closing is best effort
        log.debug("closing %r failed", entry.client, exc_info=True)


def client_ssl_context(name: str, tls: ClientTLS) -> Any:
    """An ``ssl.SSLContext`` for a middleware's client from Traefik's ``tls`` block (``ca``,
    ``cert``, ``key``: file paths or PEM contents; ``insecureSkipVerify``)."""
    if bool(tls.cert) != bool(tls.key):
        raise ValueError("tls: cert and key must be set together")
    transport = Transport(
        name=name,
        insecure_skip_verify=tls.insecure_skip_verify,
        root_cas=(tls.ca,) if tls.ca else (),
        certificates=(ClientCertificate(tls.cert, tls.key),) if tls.cert else (),
    )
    try:
        return build_ssl_context(transport)
    except (OSError, ValueError) as exc:
        raise ValueError(f"unable to create client TLS configuration: {exc}") from None
