"""Path rewriting middlewares: ``addPrefix``, ``stripPrefix``, ``stripPrefixRegex``,
``replacePath`` and ``replacePathRegex`` (Traefik v3).

Theory of operation
-------------------
Go keeps a request path twice: ``URL.Path`` (fully decoded) and the escaped form sent upstream.
Here ``Exchange.raw_path`` is the escaped form and ``Exchange.path`` the routing path.  Prefixes
are matched against the fully decoded path (as Traefik does), and the matching length is mapped
back onto the escaped path so that escapes after the prefix (``%2F``...) reach the backend as
they came.  Regexes of ``replacePathRegex`` see the escaped path, those of ``stripPrefixRegex``
the decoded one, both with Go's regexp syntax and ``$1``/``${name}`` templates.

Stripping a whole path leaves Go's *empty* path: the request goes upstream as ``/`` but the
next middlewares see ``""`` (``addPrefix /x`` then gives ``/x``, not ``/x/``).  It is kept as
``path == ""`` with ``raw_path == b"/"`` (what goes on the wire); :func:`current_raw` and
:func:`set_raw` are the only places that know.

After a strip, a path that path cleaning would change (``/api./x`` stripped of ``/api`` is
``/./x``) is refused with 400, like Traefik: the backend must not see a path that means
something else.  ``X-Forwarded-Prefix`` is added with the stripped prefix; ``replacePath*`` add
``X-Replaced-Path`` with the former escaped path (``replacePath`` adds the query too, as Go's
``URL.String()`` does when the path has its default escaping).  A replacement that is not a
valid escaped path answers 500 with Go's error text.
"""

from __future__ import annotations

import logging
from typing import Final
from urllib.parse import unquote_to_bytes

from middlewares.gocompat import (
    Template,
    URLError,
    escape,
    escaped_path,
    group_names,
    has_raw_path,
    replace_all,
)
from traefikpy.config.middleware_options import (
    AddPrefix,
    ReplacePath,
    ReplacePathRegex,
    StripPrefix,
    StripPrefixRegex,
)
from traefikpy.proxy.http import BuildContext, Exchange, Handler, MiddlewareFactory
from traefikpy.proxy.target import clean_path, decode_path
from traefikpy.rules.goregex import GoRegexpError, compile_go_regexp

log = logging.getLogger("traefikpy.middlewares.paths")

X_FORWARDED_PREFIX: Final = b"X-Forwarded-Prefix"
X_REPLACED_PATH: Final = b"X-Replaced-Path"
_HEX: Final = frozenset(bytes((c,)) for c in b"0123456789abcdefABCDEF")
_GO_ERROR_HEADERS: Final = ((b"Content-Type", b"text/plain; charset=utf-8"), (b"X-Content-Type-Options", b"nosniff"))


async def go_http_error(ex: Exchange, status: int, text: str) -> None:
    """Go's ``http.Error``: ``text`` and a newline as a plain-text, no-sniff body."""
    await ex.respond(status, text.encode("utf-8") + b"\n", list(_GO_ERROR_HEADERS), content_type=None)


def current_raw(ex: Exchange) -> bytes:
    """The escaped path as Go's URL holds it (``b""`` after a whole-path strip)."""
    return b"" if ex.path == "" else ex.raw_path


def set_raw(ex: Exchange, raw: bytes) -> None:
    """Make ``raw`` (escaped) the request path; ``b""`` is the empty path, sent as ``/``."""
    if raw:
        ex.raw_path = raw
        ex.path = decode_path(raw)
    else:
        ex.raw_path = b"/"
        ex.path = ""


def decoded(raw: bytes) -> bytes:
    """Go's ``URL.Path`` of ``raw``: every escape decoded."""
    return unquote_to_bytes(raw) if 37 in raw else raw


def raw_index(raw: bytes, length: int) -> int:
    """Where the first ``length`` bytes of the decoded path end in the escaped ``raw``."""
    if 37 not in raw:
        return length
    i = 0
    for _ in range(length):
        i += 3 if raw[i] == 37 and raw[i + 1 : i + 2] in _HEX and raw[i + 2 : i + 3] in _HEX else 1
    return i


def _leading_slash(raw: bytes) -> bytes:
    return raw if not raw or raw[0] == 47 else b"/" + raw


def stripped(raw: bytes, length: int, force_slash: bool = False) -> bytes | None:
    """``raw`` without its first ``length`` decoded bytes, with a leading slash; None when the
    result is not a clean path (Traefik answers 400)."""
    rest = raw[raw_index(raw, length) :]
    new = b"/" + rest.removeprefix(b"/") if force_slash else _leading_slash(rest)
    if new and clean_path(new) != new:
        return None
    return new


def build_add_prefix(options: AddPrefix, next: Handler, name: str, ctx: BuildContext) -> Handler:
    if not options.prefix:
        raise ValueError("prefix cannot be empty")
    text = options.prefix.encode("utf-8")
    # Go adds the prefix to the decoded path, so special characters in it get escaped.
    prefix = text if 37 in text else escape(text)

    async def add_prefix(ex: Exchange) -> None:
        set_raw(ex, _leading_slash(prefix + current_raw(ex)))
        await next(ex)

    return add_prefix


def build_strip_prefix(options: StripPrefix, next: Handler, name: str, ctx: BuildContext) -> Handler:
    if options.force_slash is not None:
        log.warning("stripPrefix %s: forceSlash is deprecated, please remove any usage of this option", name)
    force = bool(options.force_slash)
    prefixes = [(p.encode("utf-8"), p.strip().encode("utf-8")) for p in options.prefixes]

    async def strip_prefix(ex: Exchange) -> None:
        raw = current_raw(ex)
        path = decoded(raw)
        for prefix, header in prefixes:
            if path.startswith(prefix):
                new = stripped(raw, len(prefix), force)
                if new is None:
                    await go_http_error(ex, 400, "Bad Request")
                    return
                ex.headers.append((X_FORWARDED_PREFIX, header))
                set_raw(ex, new)
                break
        await next(ex)

    return strip_prefix


def build_strip_prefix_regex(options: StripPrefixRegex, next: Handler, name: str, ctx: BuildContext) -> Handler:
    expressions = []
    for pattern in options.regex:
        try:
            expressions.append(compile_go_regexp(pattern.strip()).search)
        except GoRegexpError as exc:
            raise ValueError(f"error parsing regexp: {exc}") from None

    async def strip_prefix_regex(ex: Exchange) -> None:
        raw = current_raw(ex)
        text = ex.path if 37 not in raw else decoded(raw).decode("utf-8", "surrogateescape")
        for search in expressions:
            match = search(text)
            if match is None:
                continue
            prefix = match.group(0)
            if not prefix or not text.startswith(prefix):
                continue
            header = prefix.encode("utf-8", "surrogateescape")
            new = stripped(raw, len(header))
            if new is None:
                await go_http_error(ex, 400, "Bad Request")
                return
            ex.headers.append((X_FORWARDED_PREFIX, header))
            set_raw(ex, new)
            break
        await next(ex)

    return strip_prefix_regex


def build_replace_path(options: ReplacePath, next: Handler, name: str, ctx: BuildContext) -> Handler:
    replacement = options.path.encode("utf-8")
    try:
        wire = escaped_path(replacement)
        error = ""
    except URLError as exc:
        wire, error = b"", str(exc)

    async def replace_path(ex: Exchange) -> None:
        raw = current_raw(ex)
        query = ex.query
        ex.headers.append((X_REPLACED_PATH, raw if not query or has_raw_path(raw) else raw + b"?" + query))
        if error:
            await go_http_error(ex, 500, error)
            return
        set_raw(ex, wire)
        await next(ex)

    return replace_path


def build_replace_path_regex(options: ReplacePathRegex, next: Handler, name: str, ctx: BuildContext) -> Handler:
    pattern = options.regex.strip()
    try:
        search = compile_go_regexp(pattern)
    except GoRegexpError as exc:
        raise ValueError(f"error compiling regular expression {options.regex}: {exc}") from None
    replacement = options.replacement.strip()
    if not replacement:
        return next  # Traefik never rewrites with an empty replacement
    template = Template(replacement, group_names(pattern))

    async def replace_path_regex(ex: Exchange) -> None:
        raw = current_raw(ex)
        current = raw.decode("utf-8", "surrogateescape")
        if search.search(current) is not None:
            ex.headers.append((X_REPLACED_PATH, raw))
            new = replace_all(search, current, template).encode("utf-8", "surrogateescape")
            try:
                wire = escaped_path(new)
            except URLError as exc:
                await go_http_error(ex, 500, str(exc))
                return
            set_raw(ex, wire)
        await next(ex)

    return replace_path_regex


FACTORIES: dict[str, MiddlewareFactory] = {
    "addPrefix": build_add_prefix,
    "stripPrefix": build_strip_prefix,
    "stripPrefixRegex": build_strip_prefix_regex,
    "replacePath": build_replace_path,
    "replacePathRegex": build_replace_path_regex,
}
