"""Access log: pure table tests (filters, field modes, formats) and lines written by the real App
(common and JSON formats, filters, fields, SIGUSR1 reopening)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.harness import lb, running_app
from tests.proxy.backends import Backend
from traefikpy.accesslog import FieldPolicy, Filters, format_common
from traefikpy.config.static import AccessLogFields, AccessLogFilters

FILTER_CASES: list[dict[str, Any]] = [
    {"desc": "no filter keeps all", "cfg": {}, "status": 200, "retries": 0, "duration": 0.0, "keep": True},
    {"desc": "status in range", "cfg": {"statusCodes": ["200", "300-302"]}, "status": 301, "retries": 0,
     "duration": 0.0, "keep": True},
    {"desc": "status outside ranges", "cfg": {"statusCodes": ["200", "300-302"]}, "status": 404, "retries": 0,
     "duration": 0.0, "keep": False},
    {"desc": "retried kept", "cfg": {"retryAttempts": True}, "status": 502, "retries": 1, "duration": 0.0,
     "keep": True},
    {"desc": "not retried dropped", "cfg": {"retryAttempts": True}, "status": 200, "retries": 0, "duration": 0.0,
     "keep": False},
    {"desc": "slower than minDuration", "cfg": {"minDuration": "10ms"}, "status": 200, "retries": 0,
     "duration": 0.02, "keep": True},
    {"desc": "faster than minDuration", "cfg": {"minDuration": "10ms"}, "status": 200, "retries": 0,
     "duration": 0.001, "keep": False},
    {"desc": "any filter matching keeps", "cfg": {"statusCodes": ["500"], "minDuration": "1s"}, "status": 500,
     "retries": 0, "duration": 0.0, "keep": True},
]


@pytest.mark.parametrize("case", FILTER_CASES, ids=[c["desc"] for c in FILTER_CASES])
def test_filters(case: dict[str, Any]) -> None:
    filters = Filters(AccessLogFilters.model_validate(case["cfg"]))
    assert filters.keep(case["status"], case["retries"], case["duration"]) is case["keep"]


FIELD_CASES: list[dict[str, Any]] = [
    {"desc": "defaults keep fields, drop headers", "cfg": {},
     "want": {"ClientHost": "1.2.3.4", "RouterName": "r@file"}},
    {"desc": "drop one field", "cfg": {"names": {"ClientHost": "drop"}}, "want": {"RouterName": "r@file"}},
    {"desc": "default drop, keep one", "cfg": {"defaultMode": "drop", "names": {"RouterName": "keep"}},
     "want": {"RouterName": "r@file"}},
    {"desc": "redact a field", "cfg": {"names": {"ClientHost": "redact"}},
     "want": {"ClientHost": "REDACTED", "RouterName": "r@file"}},
    {"desc": "headers kept, one redacted (name case-insensitive)",
     "cfg": {"defaultMode": "drop", "headers": {"defaultMode": "keep", "names": {"authorization": "redact"}}},
     "want": {"request_User-Agent": "curl", "request_Authorization": "REDACTED"}},
]


@pytest.mark.parametrize("case", FIELD_CASES, ids=[c["desc"] for c in FIELD_CASES])
def test_field_policy(case: dict[str, Any]) -> None:
    fields = {"ClientHost": "1.2.3.4", "RouterName": "r@file", "request_User-Agent": "curl",
              "request_Authorization": "Basic eA=="}
    assert FieldPolicy(AccessLogFields.model_validate(case["cfg"])).apply(fields) == case["want"]


COMMON_CASES: list[dict[str, Any]] = [
    {"desc": "full line", "fields": {
        "ClientHost": "10.0.0.1", "ClientUsername": "bob", "RequestMethod": "GET", "RequestPath": "/a?b=1",
        "RequestProtocol": "HTTP/1.1", "DownstreamStatus": 200, "DownstreamContentSize": 12,
        "request_Referer": "http://x/", "request_User-Agent": "curl/8", "RequestCount": 7,
        "RouterName": "r@file", "ServiceURL": "http://127.0.0.1:81", "Duration": 1},
     "generic": False,
     "want": '10.0.0.1 - bob [14/Nov/2023:22:13:20 +0000] "GET /a?b=1 HTTP/1.1" 200 12 "http://x/" "curl/8" 7 '
             '"r@file" "http://127.0.0.1:81" 25ms\n'},
    {"desc": "missing values are dashes", "fields": {"ClientHost": "10.0.0.1", "RequestMethod": "GET",
                                                     "RequestPath": "/", "RequestProtocol": "HTTP/1.1",
                                                     "DownstreamStatus": 404, "DownstreamContentSize": 0,
                                                     "RequestCount": 1, "Duration": 1},
     "generic": False,
     "want": '10.0.0.1 - - [14/Nov/2023:22:13:20 +0000] "GET / HTTP/1.1" 404 0 "-" "-" 1 - - 25ms\n'},
    {"desc": "genericCLF stops after the user agent", "fields": {
        "ClientHost": "10.0.0.1", "RequestMethod": "GET", "RequestPath": "/", "RequestProtocol": "HTTP/1.1",
        "DownstreamStatus": 200, "DownstreamContentSize": 3, "request_User-Agent": "ua"},
     "generic": True, "want": '10.0.0.1 - - [14/Nov/2023:22:13:20 +0000] "GET / HTTP/1.1" 200 3 "-" "ua"\n'},
]


@pytest.mark.parametrize("case", COMMON_CASES, ids=[c["desc"] for c in COMMON_CASES])
def test_format_common(case: dict[str, Any]) -> None:
    assert format_common(case["fields"], 1700000000.0, 0.025, generic=case["generic"]) == case["want"]


CLF = re.compile(r'^127\.0\.0\.1 - (\S+) \[[^]]+\] "(\w+) (\S+) HTTP/1\.1" (\d+) (\d+) "-" "(.*?)" (\d+) '
                 r'(\S+) (\S+) (\d+)ms$')


async def wait_lines(path: Path, count: int) -> list[str]:
    for _ in range(200):
        if path.exists():
            lines = path.read_text().splitlines()
            if len(lines) >= count:
                return lines
        await asyncio.sleep(0.01)
    return path.read_text().splitlines() if path.exists() else []


def routes(url: str) -> dict[str, Any]:
    return {"http": {"routers": {"r": {"rule": "PathPrefix(`/`)", "service": "s", "middlewares": ["auth"]}},
                     "middlewares": {"auth": {"basicAuth": {
                         "users": ["bob:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/"]}}},
                     "services": {"s": lb(url)}}}


async def test_common_lines_from_the_app(tmp_path: Path) -> None:
    from middlewares import REGISTRY

    log_file = tmp_path / "access.log"
    backend = await Backend.start()
    try:
        flags = [f"--accessLog.filePath={log_file}", "--accessLog.fields.headers.names.User-Agent=keep"]
        async with running_app(routes(backend.url), flags=flags, middlewares=REGISTRY) as rt:
            await rt.get("/echo?x=1", headers={"Authorization": "Basic Ym9iOnRlc3Q=", "User-Agent": "t/1"})
            await rt.get("/nothing", host="other.test", headers={"User-Agent": "t/2"})
            lines = await wait_lines(log_file, 2)
        first, second = (CLF.match(line) for line in lines)
        assert first is not None and second is not None, lines
        assert first.groups()[:6] == ("bob", "GET", "/echo?x=1", "200", first.group(5), "t/1")
        assert first.group(7) == "1" and first.group(8) == '"r@file"'
        assert second.group(1) == "-" and second.group(4) == "401" and second.group(7) == "2"
    finally:
        await backend.stop()


async def test_json_lines_with_filters_and_fields(tmp_path: Path) -> None:
    log_file = tmp_path / "access.json"
    backend = await Backend.start()
    try:
        flags = [f"--accessLog.filePath={log_file}", "--accessLog.format=json",
                 "--accessLog.filters.statusCodes=200,500-599", "--accessLog.fields.names.ClientPort=drop",
                 "--accessLog.fields.names.ClientHost=redact", "--accessLog.fields.headers.defaultMode=keep",
                 "--accessLog.fields.headers.names.X-Secret=drop"]
        config = {"http": {"routers": {"r": {"rule": "PathPrefix(`/`)", "service": "s"}},
                           "services": {"s": lb(backend.url)}}}
        async with running_app(config, flags=flags) as rt:
            await rt.get("/status/404")  # filtered out
            await rt.get("/echo", headers={"X-Secret": "s", "X-Trace": "t"})
            await rt.get("/status/503")
            lines = await wait_lines(log_file, 2)
        records = [json.loads(line) for line in lines]
        assert [r["DownstreamStatus"] for r in records] == [200, 503]
        rec = records[0]
        assert rec["RequestMethod"] == "GET" and rec["RequestPath"] == "/echo"
        assert rec["RouterName"] == "r@file" and rec["ServiceName"] == "s@file"
        assert rec["entryPointName"] == "web" and rec["RequestProtocol"] == "HTTP/1.1"
        assert rec["ClientHost"] == "REDACTED" and "ClientPort" not in rec
        assert rec["request_X-Trace"] == "t" and "request_X-Secret" not in rec
        assert isinstance(rec["Duration"], int) and rec["Duration"] > 0
        assert rec["RequestCount"] == 2  # counted before filtering, as Traefik does
    finally:
        await backend.stop()


async def test_sigusr1_reopens_the_file(tmp_path: Path) -> None:
    log_file = tmp_path / "access.log"
    rotated = tmp_path / "access.log.1"
    config = {"http": {"routers": {"r": {"rule": "PathPrefix(`/`)", "service": "noop@internal"}}}}
    flags = [f"--accessLog.filePath={log_file}", "--accessLog.addInternals=true"]
    async with running_app(config, flags=flags) as rt:
        await rt.get("/one")
        assert len(await wait_lines(log_file, 1)) == 1
        log_file.rename(rotated)
        os.kill(os.getpid(), signal.SIGUSR1)
        await asyncio.sleep(0.05)
        await rt.get("/two")
        lines = await wait_lines(log_file, 1)
    assert len(lines) == 1 and '"GET /two HTTP/1.1" 418' in lines[0]
    assert '"GET /one HTTP/1.1" 418' in rotated.read_text()


async def test_buffered_lines_are_written_in_a_batch_or_after_a_second(tmp_path: Path) -> None:
    log_file = tmp_path / "buffered.log"
    config = {"http": {"routers": {"r": {"rule": "PathPrefix(`/`)", "service": "noop@internal"}}}}
    flags = [f"--accessLog.filePath={log_file}", "--accessLog.bufferingSize=3", "--accessLog.addInternals=true"]
    async with running_app(config, flags=flags) as rt:
        for i in range(3):
            await rt.get(f"/{i}")
        await asyncio.sleep(0.05)
        assert log_file.read_text() == ""  # three lines held, the fourth writes them all
        await rt.get("/3")
        assert len(log_file.read_text().splitlines()) == 4
        await rt.get("/4")
        assert len(log_file.read_text().splitlines()) == 4
        assert len(await wait_lines(log_file, 5)) == 5  # the held line follows within a second
