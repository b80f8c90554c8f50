"""``basicAuth``: HTTP Basic authentication against htpasswd-style users (RFC 7617).

A request passes when its ``Authorization: Basic <base64(user:password)>`` header (scheme
case-insensitive, strict base64) names a known user whose password matches the stored hash (see
:mod:`middlewares.htpasswd`).  Otherwise the answer is Traefik's: ``401`` with
``WWW-Authenticate: Basic realm="<realm>"``, ``Content-Type: text/plain`` and the body
``401 Unauthorized\\n``.  On success ``headerField`` (if set) carries the user name to the
server, ``removeHeader`` drops ``Authorization``, and the user name is recorded in
``ex.extras["ClientUsername"]`` for the access log.

Slow hashes (bcrypt, MD5-crypt) are checked in a worker thread so the event loop keeps serving;
identical checks running at the same time share one computation (Traefik's singleflight).
"""

from __future__ import annotations

import asyncio
import binascii
from base64 import b64decode
from collections.abc import Callable

from middlewares.htpasswd import checker_for, is_slow, load_users, parse_users
from traefikpy.config.middleware_options import BasicAuth
from traefikpy.proxy.http import BuildContext, Exchange, Handler, MiddlewareFactory

AUTHORIZATION = b"authorization"
USERNAME_KEY = "ClientUsername"
"""``ex.extras`` key holding the authenticated (or attempted) user name, as Traefik's access log."""

UNAUTHORIZED_BODY = b"401 Unauthorized\n"


def parse_basic(value: bytes | None) -> tuple[str, str] | None:
    """``(user, password)`` from an ``Authorization`` value, or None (Go's ``Request.BasicAuth``)."""
    if value is None or len(value) < 6 or value[:6].lower() != b"basic ":
        return None
    try:
        decoded = b64decode(value[6:], validate=True)
    except (binascii.Error, ValueError):
        return None
    user, sep, password = decoded.partition(b":")
    if not sep:
        return None
    return user.decode("utf-8", "surrogateescape"), password.decode("utf-8", "surrogateescape")


def set_username(ex: Exchange, user: str) -> None:
    if ex.extras is None:
        ex.extras = {USERNAME_KEY: user}
    else:
        ex.extras[USERNAME_KEY] = user


class PasswordChecker:
    """Checks passwords against one user table; slow hashes off the loop, deduplicated."""

    __slots__ = ("users", "_inflight")

    def __init__(self, users: dict[str, str]) -> None:
        # name -> (secret, compare function, slow?)
        self.users: dict[str, tuple[bytes, Callable[[bytes, bytes], bool], bool]] = {
            name: (secret.encode(), checker_for(secret), is_slow(secret)) for name, secret in users.items() if secret
        }
        self._inflight: dict[tuple[bytes, bytes], asyncio.Future[bool]] = {}

    async def check(self, user: str, password: str) -> bool:
        entry = self.users.get(user)
        if entry is None:
            return False
        secret, compare, slow = entry
        raw = password.encode("utf-8", "surrogateescape")
        if not slow:
            return compare(raw, secret)
        key = (raw, secret)
        task = self._inflight.get(key)
        if task is None:
            # The computation is its own task: a waiter that goes away does not cancel it for others.
            task = asyncio.ensure_future(asyncio.to_thread(compare, raw, secret))
            self._inflight[key] = task
            task.add_done_callback(lambda _: self._inflight.pop(key, None))
        return await asyncio.shield(task)


def build_basic_auth(options: BasicAuth, next: Handler, name: str, ctx: BuildContext) -> Handler:
    users = parse_users(load_users(options.users_file, options.users), 2, "basic")
    checker = PasswordChecker(users)
    realm = options.realm or "traefik"
    challenge = [
        (b"Content-Type", b"text/plain"),
        (b"WWW-Authenticate", b'Basic realm="' + realm.encode("utf-8") + b'"'),
    ]
    header_field = options.header_field.encode("latin-1") if options.header_field else b""
    remove_header = options.remove_header
    check = checker.check

    async def basic_auth(ex: Exchange) -> None:
        credentials = parse_basic(ex.header(AUTHORIZATION))
        if credentials is None:
            await ex.respond(401, UNAUTHORIZED_BODY, challenge, content_type=None)
            return
        user, password = credentials
        set_username(ex, user)
        if not await check(user, password):
            await ex.respond(401, UNAUTHORIZED_BODY, challenge, content_type=None)
            return
        if header_field:
            ex.set_header(header_field, user.encode("utf-8", "surrogateescape"))
        if remove_header:
            ex.del_header(AUTHORIZATION)
        await next(ex)

    basic_auth.checker = checker  # type: ignore[attr-defined]  # for tests and debugging
    return basic_auth


FACTORIES: dict[str, MiddlewareFactory] = {"basicAuth": build_basic_auth}
