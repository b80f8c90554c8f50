"""``digestAuth``: HTTP Digest authentication (RFC 2617 / RFC 7616, MD5, ``qop=auth``) as Traefik
does it with ``go-http-auth``.

Users are ``name:realm:HA1`` entries (``htdigest``; ``HA1 = MD5(name:realm:password)``); only
those of the configured ``realm`` (default ``traefik``) can log in.  A challenge is
``401`` with ``WWW-Authenticate: Digest realm="…", nonce="…", opaque="…", algorithm="MD5",
qop="auth"`` and the body ``401 Unauthorized\\n``.  The answer is accepted when:

* the scheme is ``Digest``, ``opaque`` is this middleware's, ``algorithm`` is ``MD5`` (or absent)
  and ``qop`` is ``auth``;
* ``uri`` equals the request target, or its path is a prefix of the request path (go-http-auth's
  historical leniency, kept for compatibility);
* ``response == MD5(HA1:nonce:nc:cnonce:qop:MD5(method:uri))`` for a known user;
* the nonce was issued here and ``nc`` grows (replays are refused).

A correct answer with an unknown (expired, or issued before a reload) nonce or a repeated ``nc``
gets a fresh challenge with ``stale=true``, so browsers retry without asking the user again.
Nonces live in memory: at most 1,100 are tracked, the 200 least recently used are dropped when
that is exceeded (go-http-auth's cache sizes).  Unlike go-http-auth, an unknown user never
authenticates, whatever HA1 the client assumes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from base64 import b64encode
from urllib.parse import unquote, urlsplit

from middlewares.auth_basic import AUTHORIZATION, UNAUTHORIZED_BODY, set_username
from middlewares.htpasswd import load_users, parse_users
from traefikpy.config.middleware_options import DigestAuth
from traefikpy.proxy.http import BuildContext, Exchange, Handler, MiddlewareFactory

CACHE_SIZE = 1000
CACHE_TOLERANCE = 100
_HEX = "0123456789abcdefABCDEF"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8", "surrogateescape")).hexdigest()


def random_key() -> str:
    """go-http-auth's ``RandomKey``: 12 random bytes, base64."""
    return b64encode(secrets.token_bytes(12)).decode()


def parse_list(value: str) -> list[str]:
    """Comma-separated items, commas inside quoted strings kept (net/http's ``parseList``)."""
    items: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for ch in value:
        if escaped:
            current.append(ch)
            escaped = False
        elif quoted and ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
            current.append(ch)
        elif ch == "," and not quoted:
            items.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    items.append("".join(current).strip())
    return [item for item in items if item]


def parse_digest(authorization: str) -> dict[str, str] | None:
    """The parameters of a ``Digest`` authorization value, or None (go-http-auth's
    ``DigestAuthParams``: the scheme must be exactly ``Digest``)."""
    scheme, sep, rest = authorization.partition(" ")
    if not sep or scheme != "Digest":
        return None
    params: dict[str, str] = {}
    for pair in parse_list(rest.strip()):
        key, eq, val = pair.partition("=")
        if eq and len(val) >= 2 and val[0] == '"' and val[-1] == '"':
            val = val[1:-1]
        params[key.strip()] = val if eq else ""
    return params


class NonceStore:
    """Issued nonces and the last nonce count seen for each (in memory, bounded)."""

    __slots__ = ("counts", "size", "tolerance")

    def __init__(self, size: int = CACHE_SIZE, tolerance: int = CACHE_TOLERANCE) -> None:
        self.counts: dict[str, int] = {}  # insertion order = least recently used first
        self.size = size
        self.tolerance = tolerance

    def issue(self) -> str:
        if len(self.counts) > self.size + self.tolerance:
            for nonce in list(self.counts)[: self.tolerance * 2]:
                del self.counts[nonce]
        nonce = random_key()
        self.counts[nonce] = 0
        return nonce

    def use(self, nonce: str, nc: int) -> bool:
        """Record count ``nc`` for ``nonce``; False when unknown or not greater than the last."""
        last = self.counts.pop(nonce, None)
        if last is None:
            return False
        if last != 0 and last >= nc:
            self.counts[nonce] = last
            return False
        self.counts[nonce] = nc
        return True


class DigestVerifier:
    """The pure part of digest authentication: checks one ``Authorization`` value."""

    __slots__ = ("realm", "opaque", "secrets", "nonces")

    def __init__(self, realm: str, users: dict[str, str], opaque: str | None = None) -> None:
        self.realm = realm
        self.opaque = opaque if opaque is not None else random_key()
        self.secrets = users  # "name:realm" -> HA1
        self.nonces = NonceStore()

    def verify(self, params: dict[str, str], method: str, target: str, path: str) -> tuple[str, bool]:
        """``(user, stale)``: the authenticated user (``""`` on failure) and whether the failure
        is only an unknown nonce or a replayed count."""
        get = params.get
        if get("opaque", "") != self.opaque or get("algorithm", "MD5") != "MD5" or get("qop", "") != "auth":
            return "", False
        uri = get("uri", "")
        if uri != target:
            try:
                wanted = unquote(urlsplit(uri).path)
            except ValueError:
                return "", False
            if len(wanted) > len(path) or not path.startswith(wanted):
                return "", False
        user = get("username", "")
        ha1 = self.secrets.get(f"{user}:{self.realm}", "")
        if not ha1:
            return "", False
        nonce, nc, cnonce, qop = get("nonce", ""), get("nc", ""), get("cnonce", ""), get("qop", "")
        ha2 = _md5(f"{method}:{uri}")
        expected = _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
        if not hmac.compare_digest(expected.encode(), get("response", "").encode("utf-8", "surrogateescape")):
            return "", False
        if not nc or len(nc) > 16 or nc.strip(_HEX):
            return "", False
        count = int(nc, 16)
        if not self.nonces.use(nonce, count):
            return "", True
        return user, False

    def challenge(self, stale: bool = False) -> bytes:
        value = (
            f'Digest realm="{self.realm}", nonce="{self.nonces.issue()}", opaque="{self.opaque}", '
            f'algorithm="MD5", qop="auth"'
        )
        if stale:
            value += ", stale=true"
        return value.encode("utf-8")


def build_digest_auth(options: DigestAuth, next: Handler, name: str, ctx: BuildContext) -> Handler:
    users = parse_users(load_users(options.users_file, options.users), 3, "digest")
    verifier = DigestVerifier(options.realm or "traefik", users)
    header_field = options.header_field.encode("latin-1") if options.header_field else b""
    remove_header = options.remove_header

    async def digest_auth(ex: Exchange) -> None:
        raw = ex.header(AUTHORIZATION)
        params = parse_digest(raw.decode("latin-1")) if raw is not None else None
        user, stale = "", False
        if params is not None:
            user, stale = verifier.verify(
                params, ex.method.decode("latin-1"), ex.target.decode("latin-1"), ex.path
            )
            set_username(ex, user or params.get("username", ""))
        if not user:
            headers = [(b"Content-Type", b"text/plain"), (b"WWW-Authenticate", verifier.challenge(stale))]
            await ex.respond(401, UNAUTHORIZED_BODY, headers, content_type=None)
            return
        if header_field:
            ex.set_header(header_field, user.encode("utf-8", "surrogateescape"))
        if remove_header:
            ex.del_header(AUTHORIZATION)
        await next(ex)

    digest_auth.verifier = verifier  # type: ignore[attr-defined]  # for tests and debugging
    return digest_auth


FACTORIES: dict[str, MiddlewareFactory] = {"digestAuth": build_digest_auth}
