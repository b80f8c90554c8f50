"""Pure decisions of the ``compress`` middleware, table-tested: which encoding an
``Accept-Encoding`` asks for (Traefik's ``acceptencoding.go``), media types as Go's
``mime.ParseMediaType`` reads them, and content-type lists.  Content sniffing is
:func:`middlewares.content.detect_content_type` (Go's ``http.DetectContentType``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

SUPPORTED: Final = ("gzip", "br", "zstd")
DEFAULT_ENCODINGS: Final = ("zstd", "br", "gzip")  # Traefik's Compress.SetDefaults
WILDCARD: Final = "*"
IDENTITY: Final = "identity"

MediaType = tuple[str, dict[str, str]]


def priorities(encodings: Sequence[str]) -> dict[str, int]:
    """Tie-break order: the wildcard first, then ``encodings`` in order, identity last."""
    order = {WILDCARD: -1, IDENTITY: len(encodings)}
    for index, name in enumerate(encodings):
        order[name] = index
    return order


def parse_accept_encoding(values: Sequence[str], supported: dict[str, int]) -> list[tuple[str, float]]:
    """The acceptable encodings of the header lines, in order, with their weights (q=0 and
    unknown codings left out).  Like Traefik: spaces are ignored, a ``q=`` that does not parse
    counts as 0, other parameters as weight 1."""
    out: list[tuple[str, float]] = []
    for line in values:
        for item in line.replace(" ", "").replace("\t", "").split(","):
            name, sep, param = item.partition(";")
            if name not in supported:
                continue
            weight = 1.0
            if sep and param.startswith("q="):
                try:
                    weight = float(param[2:])
                except ValueError:
                    weight = 0.0
                if weight == 0:
                    continue
            out.append((name, weight))
    return out


def choose_encoding(
    values: Sequence[str] | None, encodings: Sequence[str], default: str, order: dict[str, int] | None = None
) -> str | None:
    """The encoding to compress with, or None to leave the response alone.

    ``values`` are the Accept-Encoding header lines (None: no such header).  Without the header
    the ``default`` encoding is used if configured; an empty header means identity; the highest
    weight wins, ties going to the earlier of ``encodings``; a wildcard picks ``default`` or the
    first encoding."""
    if values is None:
        return default or None
    if len(values) == 1 and values[0].strip() == "":
        return None
    order = order if order is not None else priorities(encodings)
    acceptable = parse_accept_encoding(values, order)
    if not acceptable:
        return None
    acceptable.sort(key=lambda item: (-item[1], order[item[0]]))
    best = acceptable[0][0]
    if best == WILDCARD:
        return default or encodings[0]
    if best == IDENTITY:
        return None
    return best


_TSPECIALS: Final = frozenset('()<>@,;:\\"/[]?=')


def _is_token(text: str) -> bool:
    return bool(text) and all(33 <= ord(c) < 127 and c not in _TSPECIALS for c in text)


def parse_media_type(value: str) -> MediaType:
    """Go's ``mime.ParseMediaType``: the lower-cased type and its parameters (lower-cased names).
    Raises ValueError on a malformed value."""
    main, _, rest = value.partition(";")
    media = main.strip().lower()
    kind, slash, sub = media.partition("/")
    if not _is_token(kind) or (slash and not _is_token(sub)):
        raise ValueError(f"invalid media type {value!r}")
    params: dict[str, str] = {}
    while rest.strip():
        piece, rest = _next_param(rest)
        key, eq, val = piece.partition("=")
        key = key.strip().lower()
        val = val.strip()
        if not eq or not _is_token(key):
            raise ValueError(f"invalid media parameter in {value!r}")
        if val.startswith('"'):
            if len(val) < 2 or not val.endswith('"'):
                raise ValueError(f"invalid quoted parameter in {value!r}")
            val = val[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        elif not _is_token(val):
            raise ValueError(f"invalid media parameter value in {value!r}")
        if key in params:
            raise ValueError(f"duplicate media parameter {key!r} in {value!r}")
        params[key] = val
    return media, params


def _next_param(rest: str) -> tuple[str, str]:
    """The next ``;``-separated parameter, honouring quoted strings."""
    quoted = False
    escaped = False
    for index, char in enumerate(rest):
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == ";" and not quoted:
            return rest[:index], rest[index + 1 :]
    return rest, ""


def matches(pattern: MediaType, actual: MediaType) -> bool:
    """A configured content type matches when the types are equal and, if it has parameters,
    the parameters are exactly the same (klauspost's ``parsedContentType.equals``)."""
    if pattern[0] != actual[0]:
        return False
    return not pattern[1] or pattern[1] == actual[1]


def allowed(actual: MediaType, includes: Sequence[MediaType], excludes: Sequence[MediaType]) -> bool:
    if includes:
        return any(matches(p, actual) for p in includes)
    return not any(matches(p, actual) for p in excludes)


