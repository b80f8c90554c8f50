"""The web dashboard: static assets shipped in ``traefikpy/api/static`` (no build step, no CDN).

Like Traefik's ``pkg/api/dashboard``: the page lives under ``{basePath}dashboard/``; its
``index.html`` is served with the API's URL written in (``{basePath}api/``), and the assets next
to it with a content type guessed from their extension.  Only the files of the package are ever
served (a fixed table loaded once), so a request path cannot reach anything else.

:class:`DashboardHandler` is ``dashboard@internal``: what Traefik's insecure ``dashboard`` router
does with its two internal middlewares, in one handler: ``{basePath}`` (and ``{basePath}dashboard``,
whose relative links would break) redirects permanently to ``{basePath}dashboard/``, and
``{basePath}dashboard/...`` serves the page.
"""

from __future__ import annotations

import html
import mimetypes
from importlib import resources

from traefikpy.proxy.http import Exchange, Headers

NOT_FOUND = b"404 page not found\n"
# The page only talks to its own origin; nothing may frame it.
SECURITY_HEADERS: Headers = [
    (b"Content-Security-Policy", b"default-src 'self'; img-src 'self' data:; frame-ancestors 'self'"),
    (b"X-Content-Type-Options", b"nosniff"),
]
_API_URL_MARK = b"{{API_URL}}"


def base_path(value: str) -> str:
    """``api.basePath`` normalised to start and end with ``/`` (``/`` stays ``/``)."""
    value = "/" + value.strip("/")
    return value if value == "/" else value + "/"


def _load_assets() -> dict[str, bytes]:
    root = resources.files("traefikpy.api") / "static"
    return {entry.name: entry.read_bytes() for entry in root.iterdir() if entry.is_file()}


class DashboardAssets:
    """The dashboard's files, with ``index.html`` pointing at the API under ``base``."""

    def __init__(self, base: str, assets: dict[str, bytes] | None = None) -> None:
        self.base = base_path(base)
        self.prefix = self.base + "dashboard/"
        files = dict(assets if assets is not None else _load_assets())
        index = files.get("index.html", b"")
        files["index.html"] = index.replace(_API_URL_MARK, html.escape(self.base + "api/").encode())
        self._files = {name: (data, _content_type(name)) for name, data in files.items()}

    def get(self, relative: str) -> tuple[bytes, bytes] | None:
        """``(body, content type)`` of a path relative to ``{base}dashboard/``, or None."""
        return self._files.get(relative or "index.html")

    async def serve(self, ex: Exchange, relative: str) -> None:
        found = self.get(relative)
        if found is None:
            await ex.respond(404, NOT_FOUND)
            return
        body, content_type = found
        headers = [*SECURITY_HEADERS, (b"Cache-Control", b"no-cache")]
        await ex.respond(200, body, headers, content_type=content_type)


def _content_type(name: str) -> bytes:
    guessed = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if guessed.startswith("text/") or guessed in ("application/javascript", "image/svg+xml"):
        guessed += "; charset=utf-8"
    return guessed.encode()


async def redirect(ex: Exchange, location: str, status: int) -> None:
    await ex.respond(status, b"", [(b"Location", location.encode("latin-1"))], content_type=None)


class DashboardHandler:
    """``dashboard@internal``: ``{base}`` → 301 ``{base}dashboard/``; the page below it."""

    def __init__(self, assets: DashboardAssets) -> None:
        self.assets = assets

    async def __call__(self, ex: Exchange) -> None:
        if ex.method not in (b"GET", b"HEAD"):
            await ex.respond(405, b"Method Not Allowed\n")
            return
        path = ex.raw_path.decode("latin-1")
        if path in (self.assets.base, self.assets.prefix[:-1]):
            await redirect(ex, self.assets.prefix, 301)
        elif path.startswith(self.assets.prefix):
            await self.assets.serve(ex, path[len(self.assets.prefix):])
        else:
            await ex.respond(404, NOT_FOUND)
