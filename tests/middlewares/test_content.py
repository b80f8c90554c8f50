"""contentType (Go's content sniffing brought back) and encodedCharacters: the sniffing table,
what the writer holds back, and end-to-end runs against a scripted backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from middlewares.content import build_content_type, denied_escapes, detect_content_type, path_denied
from tests.harness import RunningApp, lb, running_app
from tests.middlewares.m1_util import REGISTRY, exchange, get, raw_request, run
from tests.middlewares.m3_servers import Reply, Request, ScriptServer
from traefikpy.config.dynamic import DynamicConfig
from traefikpy.config.flat import parse_labels
from traefikpy.config.middleware_options import ContentType, EncodedCharacters

SNIFF: list[dict[str, Any]] = [
    {"desc": "empty", "data": b"", "want": "text/plain; charset=utf-8"},
    {"desc": "binary", "data": b"\x01\x02\x03", "want": "application/octet-stream"},
    {"desc": "html document", "data": b"<HtMl><bOdY>blah blah blah</body></html>", "want": "text/html; charset=utf-8"},
    {"desc": "html, bare tag", "data": b"<HTML></HTML>", "want": "text/html; charset=utf-8"},
    {"desc": "html, leading whitespace", "data": b"   <!DOCTYPE HTML>...", "want": "text/html; charset=utf-8"},
    {"desc": "html, leading CRLF", "data": b"\r\n<html>...", "want": "text/html; charset=utf-8"},
    {"desc": "html comment", "data": b"<!-- x -->", "want": "text/html; charset=utf-8"},
    {"desc": "tag not terminated", "data": b"<BR/>", "want": "text/plain; charset=utf-8"},
    {"desc": "plain text", "data": "This is not HTML. It has ☃ though.".encode(), "want": "text/plain; charset=utf-8"},
    {"desc": "xml", "data": b"\n<?xml!", "want": "text/xml; charset=utf-8"},
    {"desc": "pdf", "data": b"%PDF-1.4", "want": "application/pdf"},
    {"desc": "postscript", "data": b"%!PS-Adobe-3.0", "want": "application/postscript"},
    {"desc": "utf-16be bom", "data": b"\xfe\xffab", "want": "text/plain; charset=utf-16be"},
    {"desc": "utf-8 bom", "data": b"\xef\xbb\xbfab", "want": "text/plain; charset=utf-8"},
    {"desc": "icon", "data": b"\x00\x00\x01\x00\x01", "want": "image/x-icon"},
    {"desc": "bmp", "data": b"BM...", "want": "image/bmp"},
    {"desc": "gif87a", "data": b"GIF87a", "want": "image/gif"},
    {"desc": "gif89a", "data": b"GIF89a...", "want": "image/gif"},
    {"desc": "webp", "data": b"RIFF\x00\x00\x00\x00WEBPVP", "want": "image/webp"},
    {"desc": "png", "data": b"\x89PNG\x0d\x0a\x1a\x0a", "want": "image/png"},
    {"desc": "jpeg", "data": b"\xff\xd8\xff", "want": "image/jpeg"},
    {"desc": "aiff", "data": b"FORM\x00\x00\x00\x00AIFFCOMM", "want": "audio/aiff"},
    {"desc": "mp3 id3", "data": b"ID3\x03\x00", "want": "audio/mpeg"},
    {"desc": "ogg", "data": b"OggS\x00\x02", "want": "application/ogg"},
    {"desc": "midi", "data": b"MThd\x00\x00\x00\x06\x00\x01", "want": "audio/midi"},
    {"desc": "avi", "data": b"RIFF,O\n\x00AVI LIST\xc0", "want": "video/avi"},
    {"desc": "wave", "data": b"RIFF,\x00\x00\x00WAVEfmt ", "want": "audio/wave"},
    {"desc": "mp4", "data": b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom<\x06t\xbfmdat", "want": "video/mp4"},
    {"desc": "webm", "data": b"\x1a\x45\xdf\xa3\x01", "want": "video/webm"},
    {"desc": "ttf", "data": b"\x00\x01\x00\x00\x00", "want": "font/ttf"},
    {"desc": "woff2", "data": b"wOF2\x00", "want": "font/woff2"},
    {"desc": "eot", "data": b"\x00" * 34 + b"LP" + b"\x00" * 4, "want": "application/vnd.ms-fontobject"},
    {"desc": "gzip", "data": b"\x1f\x8b\x08\x00", "want": "application/x-gzip"},
    {"desc": "zip", "data": b"PK\x03\x04", "want": "application/zip"},
    {"desc": "rar5", "data": b"Rar!\x1a\x07\x01\x00", "want": "application/x-rar-compressed"},
    {"desc": "wasm", "data": b"\x00asm\x01\x00\x00\x00", "want": "application/wasm"},
    {"desc": "only the first 512 bytes", "data": b"a" * 512 + b"\x00", "want": "text/plain; charset=utf-8"},
]


@pytest.mark.parametrize("case", SNIFF, ids=[c["desc"] for c in SNIFF])
def test_detect_content_type(case: dict[str, Any]) -> None:
    assert detect_content_type(case["data"]) == case["want"]


WRITER: list[dict[str, Any]] = [
    {"desc": "untyped body sniffed", "reply": (200, [], b"<html><body>"), "want": "text/html; charset=utf-8"},
    {"desc": "typed body kept", "reply": (200, [(b"Content-Type", b"application/json")], b"<html>"),
     "want": "application/json"},
    {"desc": "empty content type kept", "reply": (200, [(b"content-type", b"")], b"<html>"), "want": ""},
    {"desc": "no body, no type", "reply": (200, [], b""), "want": None},
    {"desc": "encoded body not sniffed", "reply": (200, [(b"Content-Encoding", b"gzip")], b"\x1f\x8b\x08"), "want": None},
    {"desc": "304 not sniffed", "reply": (304, [], b""), "want": None},
    {"desc": "error page sniffed", "reply": (404, [], b"not found"), "want": "text/plain; charset=utf-8"},
]


@pytest.mark.parametrize("case", WRITER, ids=[c["desc"] for c in WRITER])
async def test_content_type_writer(case: dict[str, Any]) -> None:
    out = await run(build_content_type, ContentType(), exchange("/"), case["reply"])
    assert out.status == case["reply"][0]
    assert out.response.header("Content-Type") == case["want"]
    assert out.response.body == case["reply"][2]
    assert out.response.ended


async def test_auto_detect_false_is_a_no_op() -> None:
    out = await run(build_content_type, ContentType(auto_detect=False), exchange("/"), (200, [], b"<html>"))
    assert out.response.header("Content-Type") is None
    out = await run(build_content_type, ContentType(auto_detect=True), exchange("/"), (200, [], b"<html>"))
    assert out.response.header("Content-Type") == "text/html; charset=utf-8"


DENIED: list[dict[str, Any]] = [
    {"desc": "plain path", "options": {}, "raw": b"/a/b", "denied": False},
    {"desc": "encoded slash", "options": {}, "raw": b"/a%2Fb", "denied": True},
    {"desc": "lower-case encoded slash", "options": {}, "raw": b"/a%2fb", "denied": True},
    {"desc": "encoded slash allowed", "options": {"allowEncodedSlash": True}, "raw": b"/a%2Fb", "denied": False},
    {"desc": "backslash", "options": {"allowEncodedSlash": True}, "raw": b"/a%5Cb", "denied": True},
    {"desc": "null", "options": {}, "raw": b"/a%00", "denied": True},
    {"desc": "semicolon", "options": {}, "raw": b"/a%3B", "denied": True},
    {"desc": "percent", "options": {}, "raw": b"/a%25", "denied": True},
    {"desc": "question mark", "options": {}, "raw": b"/a%3F", "denied": True},
    {"desc": "hash", "options": {}, "raw": b"/a%23", "denied": True},
    {"desc": "other escapes pass", "options": {}, "raw": b"/a%20b%C3%A9", "denied": False},
    {"desc": "escaped percent hides nothing", "options": {"allowEncodedPercent": True}, "raw": b"/%252F", "denied": False},
    {"desc": "truncated escape", "options": {}, "raw": b"/a%2", "denied": True},
]


@pytest.mark.parametrize("case", DENIED, ids=[c["desc"] for c in DENIED])
def test_path_denied(case: dict[str, Any]) -> None:
    denied = denied_escapes(EncodedCharacters.model_validate(case["options"]))
    assert path_denied(case["raw"], denied) is case["denied"]


# -- end to end ------------------------------------------------------------------------------

def _script(req: Request) -> Reply:
    if req.target == "/html":
        return Reply(200, b"<!DOCTYPE html><html><body>hi</body></html>")
    if req.target == "/json":
        return Reply(200, b"<html>", [(b"Content-Type", b"application/json")])
    if req.target == "/chunks":
        return Reply(200, chunks=[b"\x89PNG\r\n\x1a\n", b"rest"])
    return Reply(200, b"")


@pytest.fixture
async def app() -> AsyncIterator[tuple[RunningApp, ScriptServer]]:
    backend = await ScriptServer.start(_script)
    routers = {
        "ct": {"rule": "Host(`ct.test`)", "service": "s", "middlewares": ["ct"]},
        "plain": {"rule": "Host(`plain.test`)", "service": "s"},
        "enc": {"rule": "Host(`enc.test`)", "service": "s", "middlewares": ["enc"]},
        "encok": {"rule": "Host(`encok.test`)", "service": "s", "middlewares": ["encok"]},
    }
    middlewares = {
        "ct": {"contentType": {}},
        "enc": {"encodedCharacters": {}},
        "encok": {"encodedCharacters": {"allowEncodedSlash": True}},
    }
    config = {"http": {"routers": routers, "middlewares": middlewares, "services": {"s": lb(backend.url)}}}
    async with running_app(config, middlewares=REGISTRY) as rt:
        yield rt, backend
    await backend.stop()


E2E: list[dict[str, Any]] = [
    {"desc": "html sniffed", "host": "ct.test", "path": "/html", "want": "text/html; charset=utf-8"},
    {"desc": "backend type kept", "host": "ct.test", "path": "/json", "want": "application/json"},
    {"desc": "chunked body sniffed from its first chunk", "host": "ct.test", "path": "/chunks", "want": "image/png"},
    {"desc": "empty body untyped", "host": "ct.test", "path": "/empty", "want": None},
    {"desc": "no sniffing without the middleware (v3)", "host": "plain.test", "path": "/html", "want": None},
]


@pytest.mark.parametrize("case", E2E, ids=[c["desc"] for c in E2E])
async def test_content_type_e2e(app: tuple[RunningApp, ScriptServer], case: dict[str, Any]) -> None:
    rt, _ = app
    resp = await rt.get(case["path"], host=case["host"])
    assert resp.status == 200
    assert resp.headers.get("Content-Type") == case["want"]


async def test_encoded_characters_e2e(app: tuple[RunningApp, ScriptServer]) -> None:
    rt, backend = app
    port = rt.app.port("web")
    status, fields, body = await raw_request(port, get("/a%2Fb", "enc.test"))
    assert (status, fields.get("content-length"), body) == (400, "0", b"")
    assert not backend.requests
    status, _, _ = await raw_request(port, get("/a%2Fb", "encok.test"))
    assert status == 200
    assert backend.requests[-1].target == "/a%2Fb"
    status, _, _ = await raw_request(port, get("/a%3Bb", "encok.test"))
    assert status == 400


async def test_label_enables_content_type() -> None:
    """The documented label form (``contenttype=true``) builds a working middleware."""
    data = parse_labels({"traefik.http.middlewares.autodetect.contenttype": "true"}, DynamicConfig)
    config = DynamicConfig.model_validate(data)
    assert config.http is not None
    options = config.http.middlewares["autodetect"].content_type
    assert options is not None
    out = await run(build_content_type, options, exchange("/"), (200, [], b"%PDF-1.7"))
    assert out.response.header("Content-Type") == "application/pdf"
