"""Redis provider (``providers.redis``): dynamic configuration from the keys under ``rootKey``.

Traefik's layout: one string key per value, named like a KV path
(``traefik/http/routers/r/rule`` = ``Host(`a.test`)``).  I/O only, with redis-py's asyncio client.

Changes arrive through keyspace notifications: a session makes sure ``notify-keyspace-events``
covers keyspace events of every command (``K`` plus ``A``; missing flags are added to the
server's, others kept, with ``CONFIG SET``), subscribes to ``__keyspace@<db>__:<rootKey>/*``
*before* listing the keys (``SCAN`` + ``MGET``), then re-reads only the keys named by each batch
of notifications.  Where ``CONFIG`` is not allowed (managed services, ACLs) and the flags are
not already set, the session polls the whole prefix every ``poll_interval`` instead (1 s).

Redis keeps no history: a new session (after a lost connection and a backoff) lists everything
again.  redis-py's own silent reconnection is disabled so that a reconnection can never hide
notifications sent while the connection was down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import ResponseError

from providers.kv import Backoff, check_tls, normalize_root, split_endpoint, tls_files, watch_store
from traefikpy.config.dynamic import DynamicConfig
from traefikpy.config.static_providers import ClientTLS, RedisSentinel
from traefikpy.config.static_providers import RedisProvider as RedisSettings

log = logging.getLogger("traefikpy.providers.redis")

_IDLE = 1.0  # seconds a notification read waits before checking again (and health-checking)
_MGET_CHUNK = 500


def glob_escape(text: str) -> str:
    """``text`` as a literal in a Redis glob pattern (SCAN MATCH, PSUBSCRIBE)."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def notification_flags(current: str) -> str | None:
    """The ``notify-keyspace-events`` value to set so that keyspace events of every command are
    published, keeping the flags already there; ``None`` when ``current`` already covers them."""
    has_all = "A" in current or all(c in current for c in "g$lshzxetd")
    if "K" in current and (has_all or all(c in current for c in "g$x")):
        return None
    return "".join(dict.fromkeys(current + "KA"))


class RedisProvider:
    """``providers.redis``: keyspace notifications (or polling) on ``<rootKey>/*``."""

    def __init__(
        self,
        endpoints: Sequence[str] = ("127.0.0.1:6379",),
        root_key: str = "traefik",
        username: str = "",
        password: str = "",
        db: int = 0,
        tls: ClientTLS | None = None,
        sentinel: RedisSentinel | None = None,
        name: str = "redis",
        throttle: float | None = None,
        timeout: float = 3.0,
        poll_interval: float = 1.0,
        backoff: Backoff | None = None,
    ) -> None:
        if not endpoints:
            raise ValueError("providers.redis: at least one endpoint is needed")
        if sentinel is not None and not sentinel.master_name:
            raise ValueError("providers.redis: sentinel.masterName is required")
        if sentinel is not None and (sentinel.latency_strategy or sentinel.random_strategy):
            log.warning("providers.redis: sentinel latencyStrategy/randomStrategy route reads in a Redis Cluster; "
                        "not supported, the master is read")
        if tls is not None:
            check_tls(tls)
        self.name = name
        self.throttle = throttle
        self.endpoints = [split_endpoint(e, 6379)[1:] for e in endpoints]
        self.root_key = normalize_root(root_key)
        self.username = username
        self.password = password
        self.db = db
        self.tls = tls
        self.sentinel = sentinel
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.backoff = backoff or Backoff()
        self.polling = False  # whether the current session polls (no keyspace notifications)
        self._attempt = 0

    def _connection_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "db": self.db, "username": self.username or None, "password": self.password or None,
            "decode_responses": True, "socket_connect_timeout": self.timeout, "socket_keepalive": True,
            "health_check_interval": 10,
            # no silent reconnection: it would lose the notifications sent while disconnected
            "retry": Retry(NoBackoff(), 0),
        }
        if self.tls is not None:
            kwargs["ssl"] = True
            if self.tls.insecure_skip_verify:
                kwargs.update(ssl_cert_reqs="none", ssl_check_hostname=False)
        return kwargs

    def client(self, files: tuple[str | None, str | None, str | None] = (None, None, None)) -> aioredis.Redis:
        """A client of the next endpoint, or of the master the sentinels name."""
        kwargs = self._connection_kwargs()
        ca, cert, key = files
        if self.tls is not None:
            kwargs.update(ssl_ca_certs=ca, ssl_certfile=cert, ssl_keyfile=key)
        if self.sentinel is not None:
            s = self.sentinel
            sentinel_kwargs = {"username": s.username or None, "password": s.password or None,
                               "socket_connect_timeout": self.timeout}
            if self.tls is not None:  # the sentinels are reached like the servers
                sentinel_kwargs.update({k: v for k, v in kwargs.items() if k.startswith("ssl")})
            sentinels = Sentinel(self.endpoints, sentinel_kwargs=sentinel_kwargs, **kwargs)  # type: ignore[no-untyped-call]
            pick = sentinels.slave_for if s.replica_strategy else sentinels.master_for
            server: aioredis.Redis = pick(s.master_name, **kwargs)
            return server
        host, port = self.endpoints[self._attempt % len(self.endpoints)]
        self._attempt += 1
        return aioredis.Redis(host=host, port=port, **kwargs)

    async def watch(self) -> AsyncIterator[DynamicConfig]:
        async for config in watch_store(self.name, self.root_key, self._session, self.backoff, log):
            yield config

    async def _session(self) -> AsyncGenerator[dict[str, str], None]:
        with contextlib.ExitStack() as stack:
            # redis-py reads the TLS files on every connect: they live as long as the session
            files = stack.enter_context(tls_files(self.tls)) if self.tls is not None else (None, None, None)
            client = self.client(files)
            pubsub = None
            try:
                self.polling = not await self._notifications(client)
                if self.polling:
                    while True:
                        yield await self._read_all(client)
                        await asyncio.sleep(self.poll_interval)
                pubsub = client.pubsub()
                channel_prefix = f"__keyspace@{self.db}__:"
                await pubsub.psubscribe(f"{channel_prefix}{glob_escape(self.root_key)}/*")
                pairs = await self._read_all(client)  # after subscribing: no change can slip between
                yield pairs
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=_IDLE)
                    if message is None:
                        continue
                    changed = {message["channel"]}
                    while (more := await pubsub.get_message(ignore_subscribe_messages=True, timeout=0)) is not None:
                        changed.add(more["channel"])
                    keys = sorted(c[len(channel_prefix):] for c in changed if c.startswith(channel_prefix))
                    for key, value in zip(keys, await client.mget(keys), strict=True):
                        if not value:  # deleted, expired, not a string, or empty (skipped, as Traefik does)
                            pairs.pop(key, None)
                        else:
                            pairs[key] = _text(value)
                    yield pairs
            finally:
                with contextlib.suppress(Exception):
                    if pubsub is not None:
                        await pubsub.aclose()  # type: ignore[no-untyped-call]
                with contextlib.suppress(Exception):
                    await client.aclose()

    async def _notifications(self, client: aioredis.Redis) -> bool:
        """Make sure keyspace notifications are published; False when they cannot be."""
        try:
            current = str((await client.config_get("notify-keyspace-events")).get("notify-keyspace-events") or "")
            wanted = notification_flags(current)
            if wanted is not None:
                await client.config_set("notify-keyspace-events", wanted)
                log.info("%s: notify-keyspace-events set to %r (was %r)", self.name, wanted, current)
            return True
        except ResponseError as exc:
            log.warning("%s: cannot enable keyspace notifications (%s); polling every %.1fs instead",
                        self.name, exc, self.poll_interval)
            return False

    async def _read_all(self, client: aioredis.Redis) -> dict[str, str]:
        keys = sorted({k async for k in client.scan_iter(match=f"{glob_escape(self.root_key)}/*", count=1000)})
        pairs: dict[str, str] = {}
        for start in range(0, len(keys), _MGET_CHUNK):
            chunk = keys[start:start + _MGET_CHUNK]
            for key, value in zip(chunk, await client.mget(chunk), strict=True):
                if value:  # Traefik skips empty values
                    pairs[key] = _text(value)
        return pairs

    def __repr__(self) -> str:
        mode = "polling" if self.polling else "notifications"
        return f"<RedisProvider {self.endpoints} db={self.db} root={self.root_key!r} {mode}>"


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


def from_static(cfg: RedisSettings) -> RedisProvider:
    """The provider for the static section ``providers.redis``."""
    return RedisProvider(endpoints=cfg.endpoints, root_key=cfg.root_key, username=cfg.username,
                         password=cfg.password, db=cfg.db, tls=cfg.tls, sentinel=cfg.sentinel)


__all__ = ["RedisProvider", "from_static", "glob_escape", "notification_flags"]
