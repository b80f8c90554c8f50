"""htpasswd/htdigest user lists and password hashes for ``basicAuth`` and ``digestAuth`` (pure).

User lists: ``users`` entries and the lines of ``usersFile`` (trimmed; blank lines and ``#``
comments skipped), file entries first so that an inline user overrides a file user of the same
name, as in Traefik.  A basic entry is ``name:hash``, a digest entry ``name:realm:HA1``; any other
shape is a build error.

Hashes (what Traefik's ``go-http-auth`` accepts):

* ``$2a$``, ``$2b$``, ``$2x$``, ``$2y$``: bcrypt (the ``bcrypt`` package; slow by design);
* ``{SHA}``: base64 of the SHA-1 of the password;
* anything else of the form ``$magic$salt$hash``: MD5-crypt with that magic, i.e. ``$apr1$``
  (Apache) and ``$1$`` (FreeBSD/glibc); a plain-text secret never matches.

Comparisons are constant-time.  :func:`is_slow` tells the middleware which checks to run off the
event loop.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Iterable

import bcrypt

_BCRYPT_PREFIXES = (b"$2a$", b"$2b$", b"$2x$", b"$2y$")
_ITOA64 = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def load_users(users_file: str, users: Iterable[str]) -> list[str]:
    """The entries of ``users_file`` (if set) followed by ``users``."""
    entries: list[str] = []
    if users_file:
        try:
            with open(users_file, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            raise ValueError(f"cannot read usersFile {users_file!r}: {exc.strerror or exc}") from None
        for raw in text.split("\n"):
            line = raw.strip()
            if line and not line.startswith("#"):
                entries.append(line)
    entries.extend(users)
    return entries


def parse_users(entries: Iterable[str], fields: int, kind: str) -> dict[str, str]:
    """Map of ``name`` (basic, ``fields=2``) or ``name:realm`` (digest, ``fields=3``) to the
    secret; later entries win."""
    out: dict[str, str] = {}
    for entry in entries:
        parts = entry.split(":")
        if len(parts) != fields:
            raise ValueError(f"error parsing {kind} user {entry!r}: expected {fields} fields separated by ':'")
        out[":".join(parts[:-1])] = parts[-1]
    return out


def md5_crypt(password: bytes, salt: bytes, magic: bytes) -> bytes:
    """The MD5-crypt hash ``magic + salt + "$" + hash`` (``$1$`` or ``$apr1$`` magic)."""
    outer = hashlib.md5(password + magic + salt)
    alternate = hashlib.md5(password + salt + password).digest()
    remaining = len(password)
    while remaining > 0:
        outer.update(alternate[: min(16, remaining)])
        remaining -= 16
    length = len(password)
    while length:
        outer.update(b"\x00" if length & 1 else password[:1])
        length >>= 1
    final = outer.digest()
    for i in range(1000):
        step = hashlib.md5(password if i & 1 else final)
        if i % 3:
            step.update(salt)
        if i % 7:
            step.update(password)
        step.update(final if i & 1 else password)
        final = step.digest()
    encoded = bytearray()
    for a, b, c in ((0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)):
        _b64_from_24bit(encoded, final[a], final[b], final[c], 4)
    _b64_from_24bit(encoded, 0, 0, final[11], 2)
    return magic + salt + b"$" + bytes(encoded)


def _b64_from_24bit(out: bytearray, b2: int, b1: int, b0: int, count: int) -> None:
    value = (b2 << 16) | (b1 << 8) | b0
    for _ in range(count):
        out.append(_ITOA64[value & 0x3F])
        value >>= 6


def _check_bcrypt(password: bytes, secret: bytes) -> bool:
    try:
        return bcrypt.checkpw(password, secret)
    except ValueError:  # malformed hash, or a password over bcrypt's 72-byte limit
        return False


def _check_sha(password: bytes, secret: bytes) -> bool:
    expected = base64.b64encode(hashlib.sha1(password).digest())
    return hmac.compare_digest(secret[5:], expected)


def _check_md5(password: bytes, secret: bytes) -> bool:
    parts = secret.split(b"$", 3)
    if len(parts) != 4:
        return False
    return hmac.compare_digest(secret, md5_crypt(password, parts[2], b"$" + parts[1] + b"$"))


def checker_for(secret: str) -> Callable[[bytes, bytes], bool]:
    """The comparison function for a stored secret, chosen by its prefix like go-http-auth."""
    raw = secret.encode()
    if raw.startswith(b"{SHA}"):
        return _check_sha
    if raw.startswith(_BCRYPT_PREFIXES):
        return _check_bcrypt
    return _check_md5


def check_password(password: str, secret: str) -> bool:
    """True when ``password`` matches the stored ``secret`` (any supported hash)."""
    if not secret:
        return False
    return checker_for(secret)(password.encode(), secret.encode())


def is_slow(secret: str) -> bool:
    """Whether checking this secret costs more than a few microseconds (bcrypt, MD5-crypt)."""
    return not secret.startswith("{SHA}")
