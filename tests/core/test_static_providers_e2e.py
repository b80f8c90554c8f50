"""Providers enabled from a Traefik static file (no injection): file + etcd side by side, with a
router in etcd using a service of the file provider (cross-provider reference)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from tests.providers.kv_helpers import EtcdServer
from tests.providers.test_etcd import put_all
from tests.proxy.backends import Backend
from traefikpy.app import App
from traefikpy.config.sources import load_static


async def test_file_and_etcd_from_static_config(tmp_path: Path) -> None:
    etcd = EtcdServer(tmp_path / "etcd")
    await etcd.start()
    backend = await Backend.start()
    dynamic = tmp_path / "dynamic.toml"
    dynamic.write_text(f'[[http.services.shared.loadBalancer.servers]]\nurl = "{backend.url}"\n')
    static = tmp_path / "traefik.yml"
    static.write_text(
        "entryPoints:\n  web:\n    address: 127.0.0.1:0\n"
        "providers:\n  providersThrottleDuration: 0s\n"
        f"  file:\n    filename: {dynamic}\n"
        f"  etcd:\n    endpoints: ['127.0.0.1:{etcd.port}']\n")
    app = App(load_static([f"--configFile={static}"], {}, search=False))
    assert sorted(p.name for p in app.providers) == ["etcd", "file"]
    await app.start()
    try:
        await put_all(etcd, {"traefik/http/routers/kv/rule": "Host(`kv.test`)",
                             "traefik/http/routers/kv/service": "shared@file"})
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{app.port('web')}/echo"
            for _ in range(500):
                async with session.get(url, headers={"Host": "kv.test"}) as resp:
                    if resp.status == 200:
                        break
                await asyncio.sleep(0.01)
            assert resp.status == 200
        assert app.graph.state.get("http", "service", "shared@file").used_by == ["kv@etcd"]
    finally:
        await app.stop()
        await backend.stop()
        etcd.kill()
