"""compress: encoding negotiation, media types and sniffing (tables), then compressed responses
through the real router (gzip, br, zstd; sizes, streaming, content types, existing encodings)."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import AsyncIterator
from typing import Any

import brotli
import pytest
import zstandard

from middlewares.compress import FACTORIES
from middlewares.compress_rules import DEFAULT_ENCODINGS, allowed, choose_encoding, parse_media_type
from middlewares.content import detect_content_type as sniff
from tests.harness import lb, running_app
from tests.middlewares.m3_servers import Reply, ScriptServer
from tests.proxy.backends import Backend
from traefikpy.config.middleware_options import Compress
from traefikpy.proxy.h1body import EmptyBody
from traefikpy.proxy.http import Exchange

CHOOSE_CASES: list[dict[str, Any]] = [
    {"desc": "no header, no default", "values": None, "want": None},
    {"desc": "no header uses the default", "values": None, "default": "gzip", "want": "gzip"},
    {"desc": "empty header means identity", "values": [""], "default": "gzip", "want": None},
    {"desc": "ties go to the encodings order", "values": ["gzip, br"], "want": "br"},
    {"desc": "zstd first by default", "values": ["gzip, br, zstd"], "want": "zstd"},
    {"desc": "configured order", "values": ["gzip, br, zstd"], "encodings": ["gzip", "br"], "want": "gzip"},
    {"desc": "unknown codings ignored", "values": ["compress, gzip"], "want": "gzip"},
    {"desc": "only unknown codings", "values": ["compress, rar"], "want": None},
    {"desc": "wildcard picks the first encoding", "values": ["*"], "want": "zstd"},
    {"desc": "wildcard picks the default", "values": ["*"], "default": "br", "want": "br"},
    {"desc": "wildcard wins a tie", "values": ["gzip, *"], "default": "br", "want": "br"},
    {"desc": "weights", "values": ["br;q=0.8, gzip;q=1.0, *;q=0.1"], "want": "gzip"},
    {"desc": "identity refused, nothing else", "values": ["compress;q=1.0, identity;q=0"], "want": None},
    {"desc": "identity preferred", "values": ["gzip;q=0.5, identity"], "want": None},
    {"desc": "q=0 excludes", "values": ["gzip;q=0, br;q=0.1"], "want": "br"},
    {"desc": "unparseable weight excludes", "values": ["gzip;q=abc, br;q=0.1"], "want": "br"},
    {"desc": "other parameters weigh 1", "values": ["gzip;level=1, br;q=0.9"], "want": "gzip"},
    {"desc": "spaces ignored", "values": ["gzip; q=0.5 , br ; q=0.4"], "want": "gzip"},
    {"desc": "several header lines", "values": ["gzip;q=0.2", "br;q=0.3"], "want": "br"},
    {"desc": "names are case-sensitive", "values": ["GZIP"], "want": None},
    {"desc": "unsupported by configuration", "values": ["zstd"], "encodings": ["gzip"], "want": None},
]


@pytest.mark.parametrize("case", CHOOSE_CASES, ids=[c["desc"] for c in CHOOSE_CASES])
def test_choose_encoding(case: dict[str, Any]) -> None:
    encodings = case.get("encodings", list(DEFAULT_ENCODINGS))
    assert choose_encoding(case["values"], encodings, case.get("default", "")) == case["want"]


MEDIA_CASES: list[dict[str, Any]] = [
    {"desc": "plain", "value": "text/html", "want": ("text/html", {})},
    {"desc": "case and spaces", "value": " Text/HTML ; Charset=UTF-8", "want": ("text/html", {"charset": "UTF-8"})},
    {"desc": "quoted parameter", "value": 'multipart/form-data; boundary="a;b"', "want": ("multipart/form-data", {"boundary": "a;b"})},
    {"desc": "type without subtype", "value": "text", "want": ("text", {})},
    {"desc": "empty", "value": "", "error": True},
    {"desc": "bad type", "value": "text/ html", "error": True},
    {"desc": "parameter without value", "value": "text/html; charset", "error": True},
    {"desc": "duplicate parameter", "value": "text/html; a=1; a=2", "error": True},
]


@pytest.mark.parametrize("case", MEDIA_CASES, ids=[c["desc"] for c in MEDIA_CASES])
def test_parse_media_type(case: dict[str, Any]) -> None:
    if case.get("error"):
        with pytest.raises(ValueError):
            parse_media_type(case["value"])
    else:
        assert parse_media_type(case["value"]) == case["want"]


def test_allowed_lists() -> None:
    html = parse_media_type("text/html; charset=utf-8")
    assert allowed(html, [], [parse_media_type("text/html")]) is False
    assert allowed(html, [], [parse_media_type("text/html; charset=latin1")]) is True
    assert allowed(html, [parse_media_type("text/html")], []) is True
    assert allowed(html, [parse_media_type("application/json")], [parse_media_type("text/html")]) is False


SNIFF_CASES = [
    ("html", b"  <!DOCTYPE html><html>", "text/html; charset=utf-8"),
    ("html tag", b"<p>hi</p>", "text/html; charset=utf-8"),
    ("xml", b"<?xml version='1.0'?>", "text/xml; charset=utf-8"),
    ("pdf", b"%PDF-1.4", "application/pdf"),
    ("png", b"\x89PNG\r\n\x1a\n....", "image/png"),
    ("gzip", b"\x1f\x8b\x08\x00", "application/x-gzip"),
    ("json is text", b'{"a": 1}', "text/plain; charset=utf-8"),
    ("binary", b"\x00\x01\x02", "application/octet-stream"),
]


@pytest.mark.parametrize(("desc", "data", "want"), SNIFF_CASES, ids=[c[0] for c in SNIFF_CASES])
def test_sniff(desc: str, data: bytes, want: str) -> None:
    assert sniff(data) == want


async def _noop(ex: Any) -> None:
    return None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"excludedContentTypes": ["a/b"], "includedContentTypes": ["c/d"]}, "mutually exclusive"),
        ({"encodings": ["gzip", "deflate"]}, "unsupported encoding: deflate"),
        ({"encodings": []}, "at least one encoding"),
        ({"encodings": ["gzip"], "defaultEncoding": "br"}, "unsupported default encoding"),
        ({"excludedContentTypes": ["text/ html"]}, "parsing excluded media type"),
    ],
    ids=["exclusive lists", "unknown encoding", "no encoding", "default not listed", "bad media type"],
)
def test_build_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FACTORIES["compress"](Compress.model_validate(options), _noop, "c@file", None)  # type: ignore[arg-type]


DECODE = {
    "gzip": gzip.decompress,
    "br": brotli.decompress,
    "zstd": lambda data: zstandard.ZstdDecompressor().decompressobj().decompress(data),
}


def _config(url: str, **compress: Any) -> dict[str, Any]:
    return {"http": {
        "routers": {"r": {"rule": "Host(`a.test`)", "service": "s", "middlewares": ["c"]}},
        "middlewares": {"c": {"compress": compress}},
        "services": {"s": lb(url)},
    }}


@pytest.fixture
async def backend() -> AsyncIterator[Backend]:
    server = await Backend.start()
    yield server
    await server.stop()


@pytest.mark.parametrize("encoding", ["gzip", "br", "zstd"])
async def test_compresses_large_bodies(backend: Backend, encoding: str) -> None:
    async with running_app(_config(backend.url), middlewares=FACTORIES) as rt:
        resp = await rt.get("/bytes?size=5000", host="a.test", headers={"Accept-Encoding": encoding})
        assert resp.headers["Content-Encoding"] == encoding
        assert resp.headers["Vary"] == "Accept-Encoding"
        assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"  # sniffed
        assert "Content-Length" not in resp.headers
        body = await resp.read()
        assert len(body) < 500
        assert DECODE[encoding](body) == b"x" * 5000


SIZE_CASES: list[dict[str, Any]] = [
    {"desc": "below the minimum", "path": "/bytes?size=1023", "options": {}, "compressed": False},
    {"desc": "at the minimum", "path": "/bytes?size=1024", "options": {}, "compressed": True},
    {"desc": "custom minimum", "path": "/bytes?size=200", "options": {"minResponseBodyBytes": 100}, "compressed": True},
    {"desc": "chunked bodies are compressed whatever their size", "path": "/chunked?n=2&size=5", "options": {}, "compressed": True},
    {"desc": "small json", "path": "/echo", "options": {}, "compressed": False},
]


@pytest.mark.parametrize("case", SIZE_CASES, ids=[c["desc"] for c in SIZE_CASES])
async def test_sizes(backend: Backend, case: dict[str, Any]) -> None:
    async with running_app(_config(backend.url, **case["options"]), middlewares=FACTORIES) as rt:
        resp = await rt.get(case["path"], host="a.test", headers={"Accept-Encoding": "gzip"})
        body = await resp.read()
        assert resp.headers["Vary"] == "Accept-Encoding"
        if case["compressed"]:
            assert resp.headers["Content-Encoding"] == "gzip"
            gzip.decompress(body)
        else:
            assert "Content-Encoding" not in resp.headers
            assert len(body) == int(resp.headers["Content-Length"])


async def test_left_alone(backend: Backend) -> None:
    async with running_app(_config(backend.url), middlewares=FACTORIES) as rt:
        no_header = await rt.get("/bytes?size=5000", host="a.test", skip_auto_headers=["Accept-Encoding"])
        assert "Content-Encoding" not in no_header.headers and "Vary" not in no_header.headers
        head = await rt.request("HEAD", "/bytes?size=5000", host="a.test", headers={"Accept-Encoding": "gzip"})
        assert "Content-Encoding" not in head.headers
        assert head.headers["Content-Length"] == "5000"
        grpc = await rt.request("POST", "/bytes?size=5000", host="a.test", data=b"x",
                                headers={"Accept-Encoding": "gzip", "Content-Type": "application/grpc"})
        assert "Content-Encoding" not in grpc.headers


async def test_default_encoding_without_header(backend: Backend) -> None:
    async with running_app(_config(backend.url, defaultEncoding="br"), middlewares=FACTORIES) as rt:
        resp = await rt.get("/bytes?size=5000", host="a.test", skip_auto_headers=["Accept-Encoding"])
        assert resp.headers["Content-Encoding"] == "br"
        assert brotli.decompress(await resp.read()) == b"x" * 5000


RESPONSE_CASES: list[dict[str, Any]] = [
    {"desc": "already encoded", "headers": [(b"Content-Encoding", b"br")], "options": {}, "compressed": False},
    {"desc": "excluded type", "headers": [(b"Content-Type", b"image/png")],
     "options": {"excludedContentTypes": ["image/png"]}, "compressed": False},
    {"desc": "grpc responses never", "headers": [(b"Content-Type", b"application/grpc")], "options": {}, "compressed": False},
    {"desc": "not in the included types", "headers": [(b"Content-Type", b"text/plain")],
     "options": {"includedContentTypes": ["text/html"]}, "compressed": False},
    {"desc": "in the included types", "headers": [(b"Content-Type", b"text/html; charset=utf-8")],
     "options": {"includedContentTypes": ["text/html"]}, "compressed": True},
    {"desc": "unparseable content type", "headers": [(b"Content-Type", b"text/ plain")], "options": {}, "compressed": False},
    {"desc": "sniffed type excluded", "headers": [], "options": {"excludedContentTypes": ["text/plain"]}, "compressed": False},
    {"desc": "accept-ranges dropped when compressing", "headers": [(b"Accept-Ranges", b"bytes")], "options": {}, "compressed": True},
]


@pytest.mark.parametrize("case", RESPONSE_CASES, ids=[c["desc"] for c in RESPONSE_CASES])
async def test_response_rules(case: dict[str, Any]) -> None:
    body = b"hello world " * 200
    server = await ScriptServer.start(lambda req: Reply(200, body, list(case["headers"])))
    try:
        async with running_app(_config(server.url, **case["options"]), middlewares=FACTORIES) as rt:
            resp = await rt.get("/", host="a.test", headers={"Accept-Encoding": "gzip"})
            data = await resp.read()
            if case["compressed"]:
                assert resp.headers["Content-Encoding"] == "gzip"
                assert gzip.decompress(data) == body
                assert "Accept-Ranges" not in resp.headers
            else:
                assert resp.headers.get("Content-Encoding") in (None, "br")
                assert data == body
    finally:
        await server.stop()


async def test_streamed_chunks_and_trailers() -> None:
    chunks = [b"event: %d\n\n" % i for i in range(5)]
    server = await ScriptServer.start(lambda req: Reply(200, chunks=chunks, trailers=[(b"X-Sum", b"5")],
                                                        headers=[(b"Content-Type", b"text/event-stream")]))
    try:
        async with running_app(_config(server.url), middlewares=FACTORIES) as rt:
            resp = await rt.get("/", host="a.test", headers={"Accept-Encoding": "zstd"})
            data = await resp.read()
            assert resp.headers["Content-Encoding"] == "zstd"
            assert DECODE["zstd"](data) == b"".join(chunks)
    finally:
        await server.stop()


async def test_empty_streamed_body_is_not_encoded() -> None:
    server = await ScriptServer.start(lambda req: Reply(200, chunks=[]))
    try:
        async with running_app(_config(server.url), middlewares=FACTORIES) as rt:
            resp = await rt.get("/", host="a.test", headers={"Accept-Encoding": "gzip"})
            assert await resp.read() == b""
            assert "Content-Encoding" not in resp.headers
    finally:
        await server.stop()


class _Recorder:
    def __init__(self) -> None:
        self.heads: list[tuple[int, list[tuple[bytes, bytes]]]] = []
        self.body: list[bytes] = []
        self.ended = False

    async def send_head(self, status: int, headers: list[tuple[bytes, bytes]], reason: bytes | None = None) -> None:
        self.heads.append((status, headers))

    async def send_body(self, data: bytes) -> None:
        self.body.append(data)

    async def end(self, trailers: Any = None) -> None:
        self.ended = True


async def test_streamed_chunks_are_flushed_one_by_one() -> None:
    recorder = _Recorder()
    chunks = [b"first event\n", b"second event\n"]

    async def handler(ex: Exchange) -> None:
        await ex.send_head(200, [(b"Content-Type", b"text/event-stream")])
        for chunk in chunks:
            before = len(recorder.body)
            await ex.send_body(chunk)
            assert len(recorder.body) == before + 1  # something went out for this very chunk
        await ex.end()

    compress = FACTORIES["compress"](Compress(encodings=["gzip"]), handler, "c@file", None)  # type: ignore[arg-type]
    ex = Exchange(method=b"GET", raw_path=b"/", query=b"", version=b"1.1", headers=[(b"Accept-Encoding", b"gzip")],
                  host="a.test", scheme="http", client_ip="127.0.0.1", client_port=1, entrypoint="web",
                  body=EmptyBody(), writer=recorder)
    await compress(ex)
    zlib_stream = zlib.decompressobj(31)
    assert zlib_stream.decompress(recorder.body[0]) == chunks[0]  # decodable on its own: sync-flushed
    assert zlib_stream.decompress(b"".join(recorder.body[1:])) == chunks[1]
    assert recorder.ended
    assert (b"Content-Encoding", b"gzip") in recorder.heads[0][1]
