"""Precomputed response-header edits that the forwarder can apply to raw head bytes.

A :class:`PlanHook` is a response hook (``Exchange.on_response``) whose whole effect is a fixed
:data:`Plan`: drop some header names, then append fixed header lines, for final (>= 200)
responses.  Because nothing in it depends on the request, the forwarder's fast path does not
have to give up the upstream's raw head when only such hooks are registered: it edits the raw
bytes instead (:func:`edit_raw_head`), and the edited head is cached by (raw head, hooks), so a
keep-alive stream of identical upstream heads costs one dict lookup per response.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

from traefikpy.proxy.http import Headers

Plan = tuple[frozenset[bytes], Headers]
"""Response edits: lower-cased names removed first, then headers appended."""

_CACHE_LIMIT: Final = 1024
_FRAMING: Final = frozenset(
    {b"content-length", b"transfer-encoding", b"connection", b"keep-alive", b"proxy-connection", b"te",
     b"trailer", b"upgrade", b"date"}
)
"""Names the writer manages itself: a plan touching one is applied the slow way (parsed headers)."""
_EDITED: dict[tuple[bytes, tuple[PlanHook, ...]], bytes] = {}


def response_plan(*layers: Iterable[tuple[bytes, bytes | None]]) -> Plan:
    """Merge ``Header.Set``/``Del`` layers (later ones win) into one plan; None deletes."""
    ops: dict[bytes, tuple[bytes, bytes | None]] = {}
    for layer in layers:
        for name, value in layer:
            ops[name.lower()] = (name, value)
    return frozenset(ops), [(name, value) for name, value in ops.values() if value is not None]


def then(first: Plan, second: Plan) -> Plan:
    """One plan with the effect of applying ``first``, then ``second``."""
    drop = second[0]
    kept = [(name, value) for name, value in first[1] if name.lower() not in drop] if drop else list(first[1])
    return first[0] | drop, kept + second[1]


def apply_plan(plan: Plan, headers: Headers) -> None:
    drop, add = plan
    if drop and any(k.lower() in drop for k, _ in headers):
        headers[:] = [(k, v) for k, v in headers if k.lower() not in drop]
    headers.extend(add)


class PlanHook:
    """A response hook applying one fixed :data:`Plan` to final responses."""

    __slots__ = ("plan", "raw_safe", "_lines")

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.raw_safe = not (plan[0] & _FRAMING)  # every added name is also in the drop set
        self._lines = b"".join(
            name + b": " + value.replace(b"\r", b" ").replace(b"\n", b" ") + b"\r\n" for name, value in plan[1]
        )

    def __call__(self, status: int, headers: Headers) -> int:
        if status >= 200:
            apply_plan(self.plan, headers)
        return status

    def edit(self, raw: bytes) -> bytes:
        """The same edit on a raw head (status line + header lines, each ending in CRLF)."""
        drop = self.plan[0]
        if drop:
            lines = raw.split(b"\r\n")
            kept = [lines[0]]
            kept.extend(line for line in lines[1:] if line and line.split(b":", 1)[0].strip().lower() not in drop)
            raw = b"\r\n".join(kept) + b"\r\n"
        return raw + self._lines


def plan_hooks_only(hooks: Sequence[object]) -> tuple[PlanHook, ...] | None:
    """The hooks as a tuple when every one is a :class:`PlanHook`, else None."""
    for hook in hooks:
        if type(hook) is not PlanHook or not hook.raw_safe:
            return None
    return tuple(hooks)  # type: ignore[arg-type]


def edit_raw_head(raw: bytes, status: int, hooks: tuple[PlanHook, ...]) -> bytes:
    """Apply ``hooks`` (in registration order, innermost middleware's first, as
    ``Exchange.apply_hooks`` runs them) to a raw head, cached by content."""
    if status < 200:
        return raw
    key = (raw, hooks)
    edited = _EDITED.get(key)
    if edited is None:
        edited = raw
        for hook in reversed(hooks):
            edited = hook.edit(edited)
        if len(_EDITED) >= _CACHE_LIMIT:
            _EDITED.clear()  # heads carry a Date: old entries are useless after a second
        _EDITED[key] = edited
    return edited
