"""``contentType`` and ``encodedCharacters`` (Traefik v3), and :func:`detect_content_type`.

``contentType``: since v3 Traefik no longer guesses a missing ``Content-Type``; this middleware
brings the guess back.  When a response (status 200-599 but 204/304) has no ``Content-Type``
and no ``Content-Encoding``, its head is held until the first body bytes arrive, and the type
is Go's ``http.DetectContentType`` of those bytes (the WHATWG sniffing table: HTML tags, XML,
PDF, images, audio/video, fonts, archives, wasm, text vs binary).  A response without a body
goes out untyped.  Any ``Content-Type`` set on the way (backend, another middleware) wins.
The deprecated ``autoDetect: false`` makes the middleware a no-op, as in Traefik.

``encodedCharacters``: rejects with an empty 400 a request whose escaped path holds a
percent-encoded character that is not allowed: ``%2F`` (slash), ``%5C`` (backslash), ``%00``,
``%3B`` (semicolon), ``%25`` (percent), ``%3F`` (question mark), ``%23`` (hash), each allowed
by its ``allowEncoded*`` option; a ``%`` too close to the end is refused as well.
"""

from __future__ import annotations

import logging
from typing import Final

from middlewares.interceptor import Interceptor, header_value
from traefikpy.config.middleware_options import ContentType, EncodedCharacters
from traefikpy.proxy.http import BuildContext, Exchange, Handler, Headers, MiddlewareFactory, ResponseWriter

log = logging.getLogger("traefikpy.middlewares.content")

_WS: Final = b"\t\n\x0c\r "
_HTML_TAGS: Final = (
    b"<!DOCTYPE HTML", b"<HTML", b"<HEAD", b"<SCRIPT", b"<IFRAME", b"<H1", b"<DIV", b"<FONT", b"<TABLE",
    b"<A", b"<STYLE", b"<TITLE", b"<B", b"<BODY", b"<BR", b"<P", b"<!--",
)
# (mask, pattern, skip leading whitespace, type); an exact signature has an all-0xFF mask.
_MASKED: Final = (
    (b"\xff" * 5, b"<?xml", True, "text/xml; charset=utf-8"),
    (b"\xff" * 5, b"%PDF-", False, "application/pdf"),
    (b"\xff" * 11, b"%!PS-Adobe-", False, "application/postscript"),
    (b"\xff\xff\x00\x00", b"\xfe\xff\x00\x00", False, "text/plain; charset=utf-16be"),
    (b"\xff\xff\x00\x00", b"\xff\xfe\x00\x00", False, "text/plain; charset=utf-16le"),
    (b"\xff\xff\xff\x00", b"\xef\xbb\xbf\x00", False, "text/plain; charset=utf-8"),
    (b"\xff" * 4, b"\x00\x00\x01\x00", False, "image/x-icon"),
    (b"\xff" * 4, b"\x00\x00\x02\x00", False, "image/x-icon"),
    (b"\xff" * 2, b"BM", False, "image/bmp"),
    (b"\xff" * 6, b"GIF87a", False, "image/gif"),
    (b"\xff" * 6, b"GIF89a", False, "image/gif"),
    (b"\xff\xff\xff\xff\x00\x00\x00\x00\xff\xff\xff\xff\xff\xff", b"RIFF\x00\x00\x00\x00WEBPVP", False, "image/webp"),
    (b"\xff" * 8, b"\x89PNG\r\n\x1a\n", False, "image/png"),
    (b"\xff" * 3, b"\xff\xd8\xff", False, "image/jpeg"),
    (b"\xff" * 4, b".snd", False, "audio/basic"),
    (b"\xff\xff\xff\xff\x00\x00\x00\x00\xff\xff\xff\xff", b"FORM\x00\x00\x00\x00AIFF", False, "audio/aiff"),
    (b"\xff" * 3, b"ID3", False, "audio/mpeg"),
    (b"\xff" * 5, b"OggS\x00", False, "application/ogg"),
    (b"\xff" * 8, b"MThd\x00\x00\x00\x06", False, "audio/midi"),
    (b"\xff\xff\xff\xff\x00\x00\x00\x00\xff\xff\xff\xff", b"RIFF\x00\x00\x00\x00AVI ", False, "video/avi"),
    (b"\xff\xff\xff\xff\x00\x00\x00\x00\xff\xff\xff\xff", b"RIFF\x00\x00\x00\x00WAVE", False, "audio/wave"),
)
_AFTER_MP4: Final = (
    (b"\xff" * 4, b"\x1a\x45\xdf\xa3", False, "video/webm"),
    (b"\x00" * 34 + b"\xff\xff", b"\x00" * 34 + b"LP", False, "application/vnd.ms-fontobject"),
    (b"\xff" * 4, b"\x00\x01\x00\x00", False, "font/ttf"),
    (b"\xff" * 4, b"OTTO", False, "font/otf"),
    (b"\xff" * 4, b"ttcf", False, "font/collection"),
    (b"\xff" * 4, b"wOFF", False, "font/woff"),
    (b"\xff" * 4, b"wOF2", False, "font/woff2"),
    (b"\xff" * 3, b"\x1f\x8b\x08", False, "application/x-gzip"),
    (b"\xff" * 4, b"PK\x03\x04", False, "application/zip"),
    (b"\xff" * 7, b"Rar!\x1a\x07\x00", False, "application/x-rar-compressed"),
    (b"\xff" * 8, b"Rar!\x1a\x07\x01\x00", False, "application/x-rar-compressed"),
    (b"\xff" * 4, b"\x00asm", False, "application/wasm"),
)
_BINARY: Final = frozenset([*range(0x00, 0x09), 0x0B, *range(0x0E, 0x1B), *range(0x1C, 0x20)])


def _masked(data: bytes, mask: bytes, pattern: bytes) -> bool:
    if len(data) < len(pattern):
        return False
    if mask.count(0xFF) == len(mask):
        return data.startswith(pattern)
    return all(data[i] & m == p for i, (m, p) in enumerate(zip(mask, pattern, strict=True)))


def _mp4(data: bytes) -> bool:
    if len(data) < 12:
        return False
    size = int.from_bytes(data[:4], "big")
    if len(data) < size or size % 4 != 0 or data[4:8] != b"ftyp":
        return False
    return any(st != 12 and data[st : st + 3] == b"mp4" for st in range(8, size, 4))


def detect_content_type(data: bytes) -> str:
    """Go's ``http.DetectContentType``: a MIME type for the first 512 bytes of ``data``."""
    data = data[:512]
    text = data.lstrip(_WS)
    for tag in _HTML_TAGS:
        if len(text) > len(tag) and text[len(tag)] in b" >":
            head = text[: len(tag)]
            if bytes(b & 0xDF if 0x41 <= t <= 0x5A else b for b, t in zip(head, tag, strict=True)) == tag:
                return "text/html; charset=utf-8"
    for table in (_MASKED, None, _AFTER_MP4):
        if table is None:
            if _mp4(data):
                return "video/mp4"
            continue
        for mask, pattern, skip_ws, kind in table:
            if _masked(text if skip_ws else data, mask, pattern):
                return kind
    if any(b in _BINARY for b in text):
        return "application/octet-stream"
    return "text/plain; charset=utf-8"


class _SniffingWriter(Interceptor):
    """Holds an untyped head until the first body bytes, then types it from them."""

    __slots__ = ("head",)

    def __init__(self, inner: ResponseWriter, ex: Exchange) -> None:
        super().__init__(inner, ex, None)
        self.head: tuple[int, Headers, bytes | None] | None = None

    async def send_head(self, status: int, headers: Headers, reason: bytes | None = None) -> None:
        if (
            status < 200 or status in (204, 304)
            or header_value(headers, b"content-type") is not None
            or header_value(headers, b"content-encoding")
        ):
            await self.inner.send_head(status, headers, reason)
            return
        self.head = (status, headers, reason)

    async def send_body(self, data: bytes) -> None:
        head = self.head
        if head is not None:
            if not data:
                return
            self.head = None
            status, headers, reason = head
            headers.append((b"Content-Type", detect_content_type(data).encode("latin-1")))
            await self.inner.send_head(status, headers, reason)
        await self.inner.send_body(data)

    async def end(self, trailers: Headers | None = None) -> None:
        head = self.head
        if head is not None:
            self.head = None
            await self.inner.send_head(*head)
        await self.inner.end(trailers)


def build_content_type(options: ContentType, next: Handler, name: str, ctx: BuildContext) -> Handler:
    if options.auto_detect is not None:
        log.warning("contentType %s: autoDetect is deprecated, please remove any usage of this option", name)
        if not options.auto_detect:
            return next

    async def content_type(ex: Exchange) -> None:
        writer = ex.writer
        sniffing = _SniffingWriter(writer, ex)
        ex.writer = sniffing
        try:
            await next(ex)
        finally:
            ex.writer = writer
        if sniffing.head is not None:
            await sniffing.end(None)  # the handler returned without ending the response

    return content_type


_DENIABLE: Final = (
    ("allow_encoded_slash", (b"%2F", b"%2f")),
    ("allow_encoded_back_slash", (b"%5C", b"%5c")),
    ("allow_encoded_null_character", (b"%00",)),
    ("allow_encoded_semicolon", (b"%3B", b"%3b")),
    ("allow_encoded_percent", (b"%25",)),
    ("allow_encoded_question_mark", (b"%3F", b"%3f")),
    ("allow_encoded_hash", (b"%23",)),
)


def denied_escapes(options: EncodedCharacters) -> frozenset[bytes]:
    return frozenset(code for key, codes in _DENIABLE if not getattr(options, key) for code in codes)


def path_denied(raw: bytes, denied: frozenset[bytes]) -> bool:
    """True when the escaped path ``raw`` holds a denied escape (or a truncated one)."""
    i = raw.find(b"%")
    n = len(raw)
    while i >= 0:
        if i + 2 >= n or raw[i : i + 3] in denied:
            return True
        i = raw.find(b"%", i + 3)
    return False


def build_encoded_characters(options: EncodedCharacters, next: Handler, name: str, ctx: BuildContext) -> Handler:
    denied = denied_escapes(options)
    if not denied:
        return next

    async def encoded_characters(ex: Exchange) -> None:
        raw = ex.raw_path
        if 37 in raw and path_denied(raw, denied):
            await ex.respond(400, b"")
            return
        await next(ex)

    return encoded_characters


FACTORIES: dict[str, MiddlewareFactory] = {
    "contentType": build_content_type,
    "encodedCharacters": build_encoded_characters,
}
