"""``acme.json``: Traefik's storage layout for ACME accounts and certificates.

One file may hold several resolvers, each under its name::

    {"<resolver>": {
        "Account": {"Email": "...", "Registration": {"body": {...}, "uri": "..."},
                    "PrivateKey": "<base64 DER, PKCS#1>", "KeyType": "4096"},
        "Certificates": [{"domain": {"main": "a.example", "sans": ["b.example"]},
                          "certificate": "<base64 PEM chain>", "key": "<base64 PEM>",
                          "Store": "default"}]}}

(Go's ``encoding/json`` writes ``[]byte`` as standard base64, hence the encoded PEM.)  A file
written by Traefik loads here and the other way round.  Writes replace the file atomically
(temporary file in the same directory, ``fsync``, ``rename``) with mode 0600; a file that group
or others may read is refused, as Traefik does.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import stat
import tempfile
import threading
from dataclasses import dataclass, field
from typing import Any

KEY_TYPES = {"RSA2048": "2048", "RSA4096": "4096", "RSA8192": "8192", "EC256": "P256", "EC384": "P384"}
"""Traefik's ``keyType`` option → lego's ``KeyType`` string stored in the file."""


class StorageError(ValueError):
    """An unusable storage file (too open, unreadable, not Traefik's layout)."""


@dataclass
class Account:
    email: str
    private_key: bytes  # DER (PKCS#1 for RSA, as Traefik writes it)
    key_type: str = "4096"
    registration: dict[str, Any] | None = None  # {"body": {...}, "uri": "..."}

    def to_json(self) -> dict[str, Any]:
        return {
            "Email": self.email,
            "Registration": self.registration,
            "PrivateKey": base64.b64encode(self.private_key).decode(),
            "KeyType": self.key_type,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Account:
        return cls(
            email=str(data.get("Email") or ""),
            private_key=_b64(data.get("PrivateKey")),
            key_type=str(data.get("KeyType") or "4096"),
            registration=data.get("Registration") or None,
        )


@dataclass(frozen=True)
class CertRecord:
    main: str
    sans: tuple[str, ...]
    certificate: bytes  # PEM chain
    key: bytes  # PEM private key
    store: str = "default"

    @property
    def domains(self) -> tuple[str, ...]:
        return (self.main, *self.sans)

    def to_json(self) -> dict[str, Any]:
        domain: dict[str, Any] = {"main": self.main}
        if self.sans:
            domain["sans"] = list(self.sans)
        return {
            "domain": domain,
            "certificate": base64.b64encode(self.certificate).decode(),
            "key": base64.b64encode(self.key).decode(),
            "Store": self.store,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CertRecord:
        domain = data.get("domain") or {}
        return cls(
            main=str(domain.get("main") or ""),
            sans=tuple(str(s) for s in domain.get("sans") or ()),
            certificate=_b64(data.get("certificate")),
            key=_b64(data.get("key")),
            store=str(data.get("Store") or "default"),
        )


@dataclass
class ResolverData:
    account: Account | None = None
    certificates: list[CertRecord] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "Account": self.account.to_json() if self.account is not None else None,
            "Certificates": [c.to_json() for c in self.certificates],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ResolverData:
        account = data.get("Account")
        certs = data.get("Certificates") or []
        return cls(
            account=Account.from_json(account) if isinstance(account, dict) else None,
            certificates=[CertRecord.from_json(c) for c in certs if isinstance(c, dict)],
        )


def _b64(value: Any) -> bytes:
    if not value:
        return b""
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise StorageError(f"invalid base64 value in storage: {exc}") from None


def check_mode(path: str) -> None:
    """Traefik refuses a storage file that group or others may access."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc}") from None
    perm = stat.S_IMODE(mode)
    if perm & 0o077:
        raise StorageError(f"permissions {perm:o} for {path} are too open, please use 600")


class Storage:
    """One ``acme.json`` file, shared by the resolvers that name it (one section each)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()  # resolvers of one file save from their own tasks

    def _read_all(self) -> dict[str, Any]:
        check_mode(self.path)
        try:
            with open(self.path, "rb") as handle:
                raw = handle.read()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise StorageError(f"cannot read {self.path}: {exc}") from None
        if not raw.strip():
            return {}
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise StorageError(f"{self.path} is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise StorageError(f"{self.path}: expected an object of resolvers")
        return data

    def load(self, resolver: str) -> ResolverData:
        """The section of ``resolver`` (empty when the file or the section does not exist)."""
        with self._lock:
            data = self._read_all()
        section = data.get(resolver)
        if not isinstance(section, dict):
            return ResolverData()
        try:
            return ResolverData.from_json(section)
        except (TypeError, AttributeError) as exc:
            raise StorageError(f"{self.path}: section {resolver!r} is not Traefik's layout: {exc}") from None

    def save(self, resolver: str, section: ResolverData) -> None:
        """Replace the section of ``resolver``, keeping the others, atomically and with mode 0600."""
        with self._lock:
            data = self._read_all()
            data[resolver] = section.to_json()
            directory = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(directory, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".acme-", suffix=".tmp", dir=directory)
            try:
                os.fchmod(fd, 0o600)
                with os.fdopen(fd, "w") as handle:
                    json.dump(data, handle, indent=2)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
