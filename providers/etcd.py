"""etcd v3 provider (``providers.etcd``): dynamic configuration from the keys under ``rootKey``.

I/O only, with ``aetcd`` (asyncio gRPC).  A session reads the prefix ``<rootKey>/`` once (one
range read, which also gives the store revision), then watches the prefix from that revision + 1
and applies the events to its copy of the pairs: every batch of events yields a full state, and
:func:`providers.kv.watch_store` turns it into a snapshot.  When the connection is lost the last
good configuration keeps serving; the next session (after a backoff, on the next endpoint) resumes
the watch from the last revision seen, so changes made meanwhile are replayed, and reads the
prefix again if etcd compacted that revision away or was rebuilt (its revision went back).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Any

import aetcd
import grpc
from aetcd import rpc, watcher
from aetcd.exceptions import RevisionCompactedError
from cryptography import x509

from providers.kv import Backoff, batches, check_tls, normalize_root, pem_bytes, split_endpoint, watch_store
from traefikpy.config.dynamic import DynamicConfig
from traefikpy.config.static_providers import ClientTLS
from traefikpy.config.static_providers import EtcdProvider as EtcdSettings

log = logging.getLogger("traefikpy.providers.etcd")

_GRPC_OPTIONS = {
    # detect a silently dead connection (the server allows pings every 5 s by default)
    "grpc.keepalive_time_ms": 10_000,
    "grpc.keepalive_timeout_ms": 5_000,
    "grpc.keepalive_permit_without_calls": 1,
    # reconnect attempts are ours (one session per attempt): keep gRPC's own short
    "grpc.initial_reconnect_backoff_ms": 100,
    "grpc.max_reconnect_backoff_ms": 1_000,
}


class _TLSClient(aetcd.Client):  # type: ignore[misc]
    """``aetcd.Client`` over a TLS channel (aetcd itself only opens plaintext channels)."""

    def __init__(self, credentials: grpc.ChannelCredentials, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._credentials = credentials

    async def connect(self) -> None:
        if self._connected.is_set():
            return
        self.channel = grpc.aio.secure_channel(
            f"{self._host}:{self._port}", self._credentials, options=list(self._options.items()))
        try:
            if self._username is not None and self._password is not None:
                self.auth_stub = rpc.AuthStub(self.channel)
                resp = await self.auth_stub.Authenticate(
                    rpc.AuthenticateRequest(name=self._username, password=self._password), timeout=self._timeout)
                self.metadata = (("token", resp.token),)
        except grpc.aio.AioRpcError as exc:
            await self.channel.close()
            raise ConnectionError(f"etcd authentication failed: {exc.details()}") from None
        self.kvstub = rpc.KVStub(self.channel)
        self.clusterstub = rpc.ClusterStub(self.channel)
        self.leasestub = rpc.LeaseStub(self.channel)
        self.maintenancestub = rpc.MaintenanceStub(self.channel)
        self._watcher = watcher.Watcher(rpc.WatchStub(self.channel), timeout=self._timeout, metadata=self.metadata)
        self._connected.set()


def channel_credentials(tls: ClientTLS, pinned: bytes | None = None) -> grpc.ChannelCredentials:
    """gRPC credentials from Traefik's ``tls`` block (``pinned``: the only certificate trusted)."""
    check_tls(tls)
    roots = pinned if pinned is not None else pem_bytes(tls.ca) if tls.ca else None
    return grpc.ssl_channel_credentials(
        root_certificates=roots,
        private_key=pem_bytes(tls.key) if tls.key else None,
        certificate_chain=pem_bytes(tls.cert) if tls.cert else None,
    )


async def presented_certificate(host: str, port: int, timeout: float) -> tuple[bytes, str]:
    """The certificate the server presents (PEM) and a name it is valid for.

    gRPC cannot skip certificate verification; for ``insecureSkipVerify`` each session trusts
    exactly the certificate the server shows at that moment, under a name the certificate
    holds, which accepts any server certificate as Traefik does.
    """
    def fetch() -> bytes:
        # A blocking handshake in a thread: the certificate is read only once the handshake is
        # complete (an asyncio stream may hand over its SSL object earlier under load).
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["h2"])
        with socket.create_connection((host, port), timeout=timeout) as raw, \
                ctx.wrap_socket(raw, server_hostname=host) as tls:
            der = tls.getpeercert(binary_form=True)
        if not der:
            raise ConnectionError(f"{host}:{port} presented no certificate")
        return der

    der = await asyncio.wait_for(asyncio.to_thread(fetch), timeout + 1)
    cert = x509.load_der_x509_certificate(der)
    names: list[str] = []
    with contextlib.suppress(x509.ExtensionNotFound):
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names += [str(n) for n in san.get_values_for_type(x509.DNSName) if "*" not in n]
        names += [str(a) for a in san.get_values_for_type(x509.IPAddress)]
    names += [str(a.value) for a in cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]
    return ssl.DER_cert_to_PEM_cert(der).encode(), (names[0] if names else host)


class EtcdProvider:
    """``providers.etcd``: watches ``<rootKey>/`` on the first reachable endpoint."""

    def __init__(
        self,
        endpoints: Sequence[str] = ("127.0.0.1:2379",),
        root_key: str = "traefik",
        username: str = "",
        password: str = "",
        tls: ClientTLS | None = None,
        name: str = "etcd",
        throttle: float | None = None,
        timeout: float = 3.0,
        backoff: Backoff | None = None,
    ) -> None:
        if not endpoints:
            raise ValueError("providers.etcd: at least one endpoint is needed")
        if bool(username) != bool(password):
            raise ValueError("providers.etcd: username and password must be set together")
        self.name = name
        self.throttle = throttle
        self.endpoints = [split_endpoint(e, 2379, tls is not None)[1:] for e in endpoints]
        self.root_key = normalize_root(root_key)
        self.username = username
        self.password = password
        self.tls = tls
        self.credentials = channel_credentials(tls) if tls is not None else None
        self.timeout = timeout
        self.backoff = backoff or Backoff()
        self._attempt = 0
        self._pairs: dict[str, str] = {}  # the state a resumed watch continues from
        self._revision = 0  # the store revision ``_pairs`` reflects (0: never read)

    @property
    def prefix(self) -> bytes:
        return (self.root_key + "/").encode()

    def next_endpoint(self) -> tuple[str, int]:
        """Endpoints are tried in turn, one per session."""
        endpoint = self.endpoints[self._attempt % len(self.endpoints)]
        self._attempt += 1
        return endpoint

    def client(self, endpoint: tuple[str, int] | None = None, pinned: tuple[bytes, str] | None = None) -> aetcd.Client:
        """A client of ``endpoint`` (default: the next one); ``pinned``: see :func:`presented_certificate`."""
        host, port = endpoint or self.next_endpoint()
        options: dict[str, Any] = dict(_GRPC_OPTIONS)
        kwargs: dict[str, Any] = {
            "host": host, "port": port, "timeout": self.timeout, "options": options,
            "username": self.username or None, "password": self.password or None,
        }
        if self.tls is not None and pinned is not None:
            options["grpc.ssl_target_name_override"] = pinned[1]
            return _TLSClient(channel_credentials(self.tls, pinned[0]), **kwargs)
        if self.credentials is not None:
            return _TLSClient(self.credentials, **kwargs)
        return aetcd.Client(**kwargs)

    async def connect(self) -> aetcd.Client:
        """A client of the next endpoint, ready for ``insecureSkipVerify`` when asked."""
        endpoint = self.next_endpoint()
        if self.tls is not None and self.tls.insecure_skip_verify:
            return self.client(endpoint, await presented_certificate(*endpoint, self.timeout))
        return self.client(endpoint)

    async def watch(self) -> AsyncIterator[DynamicConfig]:
        async for config in watch_store(self.name, self.root_key, self._session, self.backoff, log):
            yield config

    async def _session(self) -> AsyncGenerator[dict[str, str], None]:
        client = await self.connect()
        try:
            stream = None
            # an empty range read gives the store's current revision cheaply
            current = (await client.get_range(self.prefix, self.prefix)).header.revision if self._revision else 0
            if self._revision and current < self._revision:
                log.warning("%s: the store revision went back (%d < %d): etcd was rebuilt; reading %s/ again",
                            self.name, current, self._revision, self.root_key)
            elif self._revision:
                try:
                    stream = await client.watch_prefix(self.prefix, start_revision=self._revision + 1)
                except RevisionCompactedError:
                    log.warning("%s: revision %d was compacted; reading %s/ again", self.name,
                                self._revision + 1, self.root_key)
                else:
                    log.info("%s: watching %s/ again from revision %d", self.name, self.root_key, self._revision + 1)
                    yield self._pairs  # unchanged so far: marks the session as healthy
            while True:
                if stream is None:
                    stream = await self._read(client)
                    yield self._pairs
                try:
                    async for events in batches(aiter(stream)):
                        self._apply(events)
                        yield self._pairs
                except RevisionCompactedError:
                    stream = None  # fell behind a compaction: read everything again
                    continue
                raise ConnectionError("the watch stream ended")
        finally:
            with contextlib.suppress(Exception):
                await client.close()

    async def _read(self, client: aetcd.Client) -> Any:
        """Read the prefix and start watching right after the revision read."""
        result = await client.get_prefix(self.prefix)
        self._pairs = {_text(kv.key): _text(kv.value) for kv in result}
        self._revision = result.header.revision
        log.debug("%s: read %d keys at revision %d", self.name, len(self._pairs), self._revision)
        return await client.watch_prefix(self.prefix, start_revision=self._revision + 1)

    def _apply(self, events: list[Any]) -> None:
        for event in events:
            key = _text(event.kv.key)
            if event.kind == "DELETE":
                self._pairs.pop(key, None)
            else:
                self._pairs[key] = _text(event.kv.value)
            self._revision = max(self._revision, event.kv.mod_revision)

    def __repr__(self) -> str:
        return f"<EtcdProvider {self.endpoints} root={self.root_key!r} revision={self._revision}>"


def _text(value: bytes) -> str:
    return value.decode("utf-8", errors="replace")


def from_static(cfg: EtcdSettings) -> EtcdProvider:
    """The provider for the static section ``providers.etcd``."""
    return EtcdProvider(
        endpoints=cfg.endpoints, root_key=cfg.root_key, username=cfg.username, password=cfg.password, tls=cfg.tls)


__all__ = ["EtcdProvider", "channel_credentials", "from_static"]
