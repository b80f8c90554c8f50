"""Fixtures of the API tests: a running rig loaded with the sample configuration."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.api.rig import Rig, closed_port, rig, sample


@pytest.fixture
async def loaded() -> AsyncIterator[Rig]:
    """The rig with ``sample()`` applied (both providers live)."""
    async with rig() as r:
        file, docker = sample(r.backend.url, f"http://127.0.0.1:{closed_port()}")
        await r.push(file, docker)
        yield r
