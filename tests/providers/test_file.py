"""File provider: single file and directory, YAML and TOML, hot reload, broken file keeps last good."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from providers.file import FileProvider
from traefikpy.aggregator import Aggregator

ROUTER_YAML = """
http:
  routers:
    {name}:
      rule: "Host(`{name}.test`)"
      service: app
  services:
    app:
      loadBalancer:
        servers:
          - url: "http://127.0.0.1:9"
"""

ROUTER_TOML = """
[http.routers.{name}]
rule = "Host(`{name}.test`)"
service = "app"
[[http.services.app.loadBalancer.servers]]
url = "http://127.0.0.1:9"
"""


def write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)  # like an editor saving atomically


async def wait_for(predicate, timeout: float = 5.0) -> float:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    while not predicate():
        assert time.monotonic() - start < timeout, "condition not reached in time"
        await asyncio.sleep(0.005)
    return time.monotonic() - start


def routers(agg: Aggregator) -> set[str]:
    return set(agg.current.config.http.routers) if agg.current else set()


async def test_single_file_yaml_loads_and_reloads_within_throttle_plus_100ms(tmp_path: Path) -> None:
    path = tmp_path / "dynamic.yml"
    write(path, ROUTER_YAML.format(name="one"))
    throttle = 0.2
    agg = Aggregator([FileProvider(filename=str(path), watch=True)], throttle=throttle)
    await agg.start()
    try:
        await wait_for(lambda: routers(agg) == {"one@file"})
        await asyncio.sleep(throttle + 0.05)  # let the throttle window of the first apply pass
        write(path, ROUTER_YAML.format(name="two"))
        elapsed = await wait_for(lambda: routers(agg) == {"two@file"})
        print(f"reload live after {elapsed * 1000:.1f} ms")
        assert elapsed < throttle + 0.1, f"reload took {elapsed:.3f}s"
        # An edit inside the throttle window of the previous apply waits for the window, no more.
        write(path, ROUTER_YAML.format(name="three"))
        elapsed = await wait_for(lambda: routers(agg) == {"three@file"})
        print(f"reload inside the window live after {elapsed * 1000:.1f} ms")
        assert elapsed < throttle + 0.1, f"reload took {elapsed:.3f}s"
    finally:
        await agg.close()


async def test_directory_merges_yaml_and_toml_files_recursively(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    write(tmp_path / "a.yml", ROUTER_YAML.format(name="a"))
    write(tmp_path / "sub" / "b.toml", ROUTER_TOML.format(name="b"))
    write(tmp_path / "notes.txt", "not config")
    snap = FileProvider(directory=str(tmp_path), watch=False).load()
    assert snap is not None
    assert set(snap.config.http.routers) == {"a", "b"}
    assert snap.errors == {}, "the identical service 'app' in both files merges"


async def test_broken_file_keeps_last_good_and_logs_file_line_and_path(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "dynamic.yml"
    write(path, ROUTER_YAML.format(name="good"))
    agg = Aggregator([FileProvider(filename=str(path))], throttle=0)
    await agg.start()
    try:
        await wait_for(lambda: routers(agg) == {"good@file"})
        caplog.set_level(logging.ERROR, logger="traefikpy.providers.file")
        write(path, ROUTER_YAML.format(name="bad").replace("rule:", "rul:"))
        await wait_for(lambda: any("rul" in r.getMessage() for r in caplog.records))
        message = next(r.getMessage() for r in caplog.records if "rul" in r.getMessage())
        assert str(path) in message and "http.routers.bad.rul" in message
        assert ":5" in message, "the line of the bad key is named"
        write(path, "http: [unclosed")
        await wait_for(lambda: len(caplog.records) >= 2)
        assert f"{path}:" in caplog.records[1].getMessage(), "a syntax error names the file and line"
        await asyncio.sleep(0.2)
        assert routers(agg) == {"good@file"}, "last good configuration stays live"
        write(path, ROUTER_YAML.format(name="fixed"))
        await wait_for(lambda: routers(agg) == {"fixed@file"})
    finally:
        await agg.close()


async def test_unwatched_file_yields_once(tmp_path: Path) -> None:
    path = tmp_path / "d.toml"
    write(path, ROUTER_TOML.format(name="t"))
    provider = FileProvider(filename=str(path), watch=False)
    items = [item async for item in provider.watch()]
    assert len(items) == 1 and set(items[0].config.http.routers) == {"t"}


def test_needs_exactly_one_of_filename_or_directory() -> None:
    with pytest.raises(ValueError):
        FileProvider()
    with pytest.raises(ValueError):
        FileProvider(filename="a", directory="b")
