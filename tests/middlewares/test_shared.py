"""Shared middleware clients: one per settings key, counted per holder, closed by the last one
(handler dropped, keeper cancelled before it ever ran, or application shutdown)."""

from __future__ import annotations

import asyncio
import gc

import pytest

from middlewares import shared
from tests.middlewares.access_util import BuildCtx


class Client:
    def __init__(self) -> None:
        self.closed = 0


async def _close(client: Client) -> None:
    client.closed += 1


async def test_one_client_per_key_closed_by_the_last_holder() -> None:
    ctx = BuildCtx()
    first, bind_first = shared.acquire(ctx, "k1", Client, _close)
    second, bind_second = shared.acquire(ctx, "k1", Client, _close)
    other, _ = shared.acquire(ctx, "k2", Client, _close)
    assert first is second and first is not other
    assert shared.users("k1") == 2

    def handler_a() -> None: ...

    def handler_b() -> None: ...

    bind_first(handler_a)
    bind_second(handler_b)
    await asyncio.sleep(0)  # keepers start
    del handler_a
    gc.collect()
    await asyncio.sleep(0.01)
    assert shared.users("k1") == 1 and first.closed == 0
    del handler_b
    gc.collect()
    await asyncio.sleep(0.01)
    assert shared.users("k1") == 0 and first.closed == 1
    third, _ = shared.acquire(ctx, "k1", Client, _close)
    assert third is not first  # a new client after the old one was closed


async def test_keeper_cancelled_before_it_ran_still_releases() -> None:
    client, bind = shared.acquire(BuildCtx(), "k3", Client, _close)

    def handler() -> None: ...

    bind(handler)
    del handler
    gc.collect()  # the keeper is cancelled before its first step
    await asyncio.sleep(0.01)
    assert shared.users("k3") == 0 and client.closed == 1


def test_outside_the_loop_is_a_build_error() -> None:
    with pytest.raises(ValueError, match="running application"):
        shared.acquire(BuildCtx(), "k4", Client, _close)
