"""The shared KV part: pairs → configuration (table), backoff, endpoints, batching, the watch loop."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import trustme

from providers.kv import (
    Backoff,
    batches,
    build_config,
    config_pairs,
    split_endpoint,
    ssl_context,
    watch_store,
)
from traefikpy.config.decode import ConfigError
from traefikpy.config.static_providers import ClientTLS

SVC = "traefik/http/services/s/loadBalancer/servers"

CASES: list[dict[str, Any]] = [
    {"desc": "router and service", "root": "traefik",
     "pairs": {"traefik/http/routers/r/rule": "Host(`a`)", "traefik/http/routers/r/service": "s",
               f"{SVC}/0/url": "http://10.0.0.1", f"{SVC}/1/url": "http://10.0.0.2"},
     "want": {"http": {"routers": {"r": {"rule": "Host(`a`)", "service": "s"}},
                       "services": {"s": {"loadBalancer": {"servers": [{"url": "http://10.0.0.1"},
                                                                       {"url": "http://10.0.0.2"}]}}}}}},
    {"desc": "indexed scalar list and case-insensitive field names", "root": "traefik",
     "pairs": {"traefik/HTTP/Routers/r/EntryPoints/1": "websecure", "traefik/http/routers/r/entrypoints/0": "web",
               "traefik/http/routers/r/rule": "Path(`/`)"},
     "want": {"http": {"routers": {"r": {"entryPoints": ["web", "websecure"], "rule": "Path(`/`)"}}}}},
    {"desc": "keys outside http/tcp/udp/tls and other roots are ignored", "root": "traefik",
     "pairs": {"traefik/notes": "x", "traefik/owner/name": "me", "traefik": "", "traefik2/http/routers/x/rule": "y",
               "traefik/tcp/routers/t/rule": "HostSNI(`*`)"},
     "want": {"tcp": {"routers": {"t": {"rule": "HostSNI(`*`)"}}}}},
    {"desc": "nested root key, slashes normalised", "root": "/a/b/",
     "pairs": {"a/b/http/routers/r/rule": "Host(`x`)", "/a/b/http/routers/r/priority": "7",
               "a/http/routers/z/rule": "Host(`z`)"},
     "want": {"http": {"routers": {"r": {"rule": "Host(`x`)", "priority": 7}}}}},
    {"desc": "Consul folder keys (trailing slash, empty value)", "root": "traefik",
     "pairs": {"traefik/": "", "traefik/http/": "", "traefik/http/routers/": "", "traefik/http/routers/r/rule": "Host(`f`)"},
     "want": {"http": {"routers": {"r": {"rule": "Host(`f`)"}}}}},
    {"desc": "a section enabled with true", "root": "traefik",
     "pairs": {"traefik/http/routers/r/rule": "Host(`t`)", "traefik/http/routers/r/tls": "true"},
     "want": {"http": {"routers": {"r": {"rule": "Host(`t`)", "tls": {}}}}}},
    {"desc": "middleware map keys keep their case", "root": "traefik",
     "pairs": {"traefik/http/middlewares/m/headers/customRequestHeaders/X-Foo": "bar"},
     "want": {"http": {"middlewares": {"m": {"headers": {"customRequestHeaders": {"X-Foo": "bar"}}}}}}},
    {"desc": "tls certificates list and options", "root": "traefik",
     "pairs": {"traefik/tls/certificates/0/certFile": "/c.pem", "traefik/tls/certificates/0/keyFile": "/k.pem",
               "traefik/tls/options/modern/minVersion": "VersionTLS13"},
     "want": {"tls": {"certificates": [{"certFile": "/c.pem", "keyFile": "/k.pem"}],
                      "options": {"modern": {"minVersion": "VersionTLS13"}}}}},
    {"desc": "nothing under the root: empty configuration", "root": "traefik", "pairs": {}, "want": {}},
]


@pytest.mark.parametrize("case", CASES, ids=[c["desc"] for c in CASES])
def test_build_config(case: dict[str, Any]) -> None:
    from traefikpy.config.dynamic import DynamicConfig

    got = build_config(case["pairs"], case["root"], "etcd")
    assert got == DynamicConfig.model_validate(case["want"])


ERRORS: list[dict[str, Any]] = [
    {"desc": "unknown field", "pairs": {"traefik/http/routers/r/rul": "x"}, "path": "http.routers.r.rul",
     "message": "unknown key"},
    {"desc": "value of the wrong type", "pairs": {"traefik/http/routers/r/priority": "high"},
     "path": "http.routers.r.priority", "message": "integer"},
    {"desc": "list of sections without indices", "pairs": {f"{SVC}": "http://x"},
     "path": "http.services.s.loadBalancer.servers", "message": "indexed"},
]


@pytest.mark.parametrize("case", ERRORS, ids=[c["desc"] for c in ERRORS])
def test_build_config_errors_name_the_path_and_the_store(case: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as info:
        build_config(case["pairs"], "traefik", "redis")
    [problem] = info.value.problems
    assert problem.path == case["path"] and case["message"] in problem.message and problem.source == "redis"


def test_config_pairs_rerooting() -> None:
    got = config_pairs({"x/y/http/a": "1", "x/y/TLS": "", "x/yz/http/b": "2", "X/y/http/c": "3"}, "x/y")
    assert got == {"traefik/http/a": "1", "traefik/TLS": ""}, "the root matches exactly, sections in any case"


ENDPOINTS = [
    {"desc": "host:port", "in": "10.0.0.1:2379", "want": ("http", "10.0.0.1", 2379)},
    {"desc": "default port", "in": "etcd.local", "want": ("http", "etcd.local", 2379)},
    {"desc": "scheme wins over tls", "in": "http://h:1", "tls": True, "want": ("http", "h", 1)},
    {"desc": "tls implies https", "in": "h:1", "tls": True, "want": ("https", "h", 1)},
    {"desc": "IPv6", "in": "[::1]:2380", "want": ("http", "::1", 2380)},
    {"desc": "IPv6 without port", "in": "[::1]", "want": ("http", "::1", 2379)},
    {"desc": "path dropped", "in": "https://h:8501/v1", "want": ("https", "h", 8501)},
]


@pytest.mark.parametrize("case", ENDPOINTS, ids=[c["desc"] for c in ENDPOINTS])
def test_split_endpoint(case: dict[str, Any]) -> None:
    assert split_endpoint(case["in"], 2379, case.get("tls", False)) == case["want"]


def test_backoff_grows_to_the_ceiling_and_resets() -> None:
    b = Backoff(0.1, 1.0, 3.0)
    assert [b.next() for _ in range(4)] == [0.1, pytest.approx(0.3), pytest.approx(0.9), 1.0]
    b.reset()
    assert b.next() == 0.1


async def test_batches_groups_what_arrived_together_and_raises_after_it() -> None:
    queue: asyncio.Queue[object] = asyncio.Queue()

    async def source() -> AsyncIterator[int]:
        while True:
            item = await queue.get()
            if isinstance(item, Exception):
                raise item
            assert isinstance(item, int)
            yield item

    got = batches(source())
    for i in (1, 2, 3):
        queue.put_nowait(i)
    assert await anext(got) == [1, 2, 3]
    queue.put_nowait(4)
    assert await anext(got) == [4]
    queue.put_nowait(5)
    queue.put_nowait(ConnectionError("gone"))
    assert await anext(got) == [5]
    with pytest.raises(ConnectionError):
        await anext(got)


async def test_watch_store_skips_bad_and_equal_states_and_reconnects(caplog: pytest.LogCaptureFixture) -> None:
    good = {"traefik/http/routers/r/rule": "Host(`a`)"}
    bad = {**good, "traefik/http/routers/r/priority": "x"}
    script: list[list[Mapping[str, str] | Exception]] = [
        [good, dict(good), bad, bad, ConnectionError("store down")],  # equal state: no new snapshot
        [ConnectionRefusedError("refused")],
        [good, {"traefik/http/routers/b/rule": "Host(`b`)"}],
    ]
    sessions = iter(script)

    async def session() -> AsyncGenerator[Mapping[str, str], None]:
        for item in next(sessions):
            if isinstance(item, Exception):
                raise item
            yield item
        await asyncio.Event().wait()  # then nothing changes

    caplog.set_level(logging.ERROR)
    gen = watch_store("test", "traefik", session, Backoff(0.01, 0.02), logging.getLogger("t"))
    first = await anext(gen)
    second = await asyncio.wait_for(anext(gen), 2)
    await gen.aclose()
    assert set(first.http.routers) == {"r"} and set(second.http.routers) == {"b"}
    messages = [r.getMessage() for r in caplog.records]
    assert sum("traefik/http/routers/r/priority" in m for m in messages) == 1, "a bad state is logged once"
    assert any("store down" in m and "last good configuration kept" in m for m in messages)
    assert any("refused" in m for m in messages)


def test_ssl_context_from_paths_and_contents(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("client")
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "c.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "k.pem"))
    by_path = ssl_context(ClientTLS(ca=str(tmp_path / "ca.pem"), cert=str(tmp_path / "c.pem"), key=str(tmp_path / "k.pem")))
    assert by_path.verify_mode == ssl.CERT_REQUIRED and len(by_path.get_ca_certs()) == 1
    inline = ssl_context(ClientTLS(ca=ca.cert_pem.bytes().decode(), cert=cert.cert_chain_pems[0].bytes().decode(),
                                   key=cert.private_key_pem.bytes().decode()))
    assert len(inline.get_ca_certs()) == 1
    insecure = ssl_context(ClientTLS(insecure_skip_verify=True))
    assert insecure.verify_mode == ssl.CERT_NONE and not insecure.check_hostname
    with pytest.raises(ValueError, match="cert and key"):
        ssl_context(ClientTLS(cert=str(tmp_path / "c.pem")))
    with pytest.raises(ValueError, match="unable to create"):
        ssl_context(ClientTLS(ca=str(tmp_path / "missing.pem")))
