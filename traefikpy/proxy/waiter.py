"""A future that wakes its waiter in the same callback that resolves it.

An ``asyncio.Future`` always defers its done callbacks to the next loop iteration
(``call_soon``), so a task waiting for bytes from a socket resumes one iteration after the bytes
arrived: two such hops per proxied request (the connection's task waiting for a request head,
the forwarder waiting for the upstream's response head) cost a ready-queue round trip and a
handle each.  :class:`SyncWaiter` is a drop-in for the one-shot, result-less futures of the data
plane: when it is resolved from a protocol callback (no task running), the waiting task's step
runs right there; when it is resolved from inside a task, it falls back to ``call_soon`` (a task
cannot be entered while another one runs).

It speaks the protocol ``asyncio.Task`` uses for foreign futures (``_asyncio_future_blocking``,
``get_loop``, ``add_done_callback(fn, context=)``, ``result``, ``cancel``), so ``await`` it from
any task, or pass it to ``asyncio.wait``.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from asyncio import current_task as _current_task
from collections.abc import Callable, Generator
from typing import Any

log = logging.getLogger("traefikpy.proxy")

_Callback = Callable[[Any], object]


class SyncWaiter:
    """A one-shot future without a value (see the module docstring)."""

    __slots__ = ("_loop", "_done", "_cancelled", "_exc", "_callbacks", "_asyncio_future_blocking")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._done = False
        self._cancelled = False
        self._exc: BaseException | None = None
        self._callbacks: list[tuple[_Callback, contextvars.Context | None]] | None = None
        self._asyncio_future_blocking = False

    # -- the Future protocol asyncio.Task relies on ----------------------------------------
    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def done(self) -> bool:
        return self._done

    def cancelled(self) -> bool:
        return self._cancelled

    def result(self) -> None:
        if self._cancelled:
            raise asyncio.CancelledError()
        if not self._done:
            raise asyncio.InvalidStateError("result is not ready")
        if self._exc is not None:
            raise self._exc

    def exception(self) -> BaseException | None:
        if self._cancelled:
            raise asyncio.CancelledError()
        return self._exc

    def add_done_callback(self, fn: _Callback, *, context: contextvars.Context | None = None) -> None:
        if self._done:
            self._loop.call_soon(fn, self, context=context)
        elif self._callbacks is None:
            self._callbacks = [(fn, context)]
        else:
            self._callbacks.append((fn, context))

    def remove_done_callback(self, fn: _Callback) -> int:
        callbacks = self._callbacks
        if not callbacks:
            return 0
        kept = [(f, c) for f, c in callbacks if f != fn]
        self._callbacks = kept
        return len(callbacks) - len(kept)

    def cancel(self, msg: Any = None) -> bool:
        if self._done:
            return False
        self._done = self._cancelled = True
        self._later()
        return True

    def __await__(self) -> Generator[Any, None, None]:
        if not self._done:
            self._asyncio_future_blocking = True
            yield self
        if not self._done:
            raise RuntimeError("await wasn't used with future")
        self.result()

    __iter__ = __await__

    # -- resolving -------------------------------------------------------------------------
    def set_result(self, _value: None = None) -> None:
        """Resolve (a no-op when already done): waiters resume now if no task is running."""
        if self._done:
            return
        self._done = True
        callbacks = self._callbacks
        if callbacks is None:
            return
        if _current_task(self._loop) is not None:
            self._later()
            return
        self._callbacks = None
        for fn, context in callbacks:
            try:
                if context is None:
                    fn(self)
                else:
                    context.run(fn, self)
            except Exception:  # noqa: BLE001 - like the loop: a failing callback is logged
                log.exception("callback of %r failed", self)

    def set_exception(self, exc: BaseException) -> None:
        if self._done:
            return
        self._exc = exc
        self.set_result()

    def _later(self) -> None:
        callbacks, self._callbacks = self._callbacks, None
        for fn, context in callbacks or ():
            self._loop.call_soon(fn, self, context=context)

    def __repr__(self) -> str:
        state = "cancelled" if self._cancelled else ("done" if self._done else "pending")
        return f"<SyncWaiter {state}>"
