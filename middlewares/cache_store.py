"""Where the ``cache`` middleware keeps its entries: in process memory or in Redis.

Both stores have the same asynchronous interface (:class:`Store`) and the same layout:

* a *primary key* per URL (``scheme://host/path?query``) remembers the ``Vary`` header names of
  its latest stored response (:meth:`Store.vary`);
* each *variant* (the request's values of those names, hashed to a short id) is one entry
  (:meth:`Store.get`), so a response with ``Vary: Accept-Encoding`` keeps one entry per encoding;
* the total size (body, headers and a fixed overhead per entry) is kept under ``max_size`` by
  evicting the least recently used entries; an entry also expires at the time its
  :meth:`~middlewares.cache_entry.Entry.expires_at` gives.

The Redis store keeps every key of one middleware in one hash slot (``{name}`` tag) and does each
write in a Lua script, so several traefikpy instances can share it: ``e:<key>\\0<variant>``
(serialised entry, with a TTL), ``v:<key>`` (the Vary names), ``lru`` (sorted set: last use),
``sizes`` (hash: entry size) and ``total`` (bytes held).  Entries Redis expired on its own are
forgotten by the next write that meets them.  Redis failures raise :class:`StoreError`, which the
middleware treats as a miss.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Final, Protocol

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from middlewares.cache_entry import Entry


class StoreError(Exception):
    """The store could not answer (Redis unreachable, timeout, corrupt entry)."""


class Store(Protocol):
    @property
    def available(self) -> bool:
        """False while the store is known to fail (nothing is copied for it meanwhile)."""
        ...

    async def vary(self, key: str, now: float) -> tuple[bytes, ...] | None:
        """The Vary names of the latest response stored for ``key`` (None: nothing stored)."""
        ...

    async def get(self, key: str, variant: str, now: float) -> Entry | None: ...

    async def put(self, entry: Entry, expires_at: float, now: float) -> None: ...

    async def purge(self, key: str, prefix: bool = False) -> int:
        """Drop every variant of ``key`` (or of every key starting with it); returns how many."""
        ...

    async def keys(self) -> list[str]:
        """The primary keys held (sorted)."""
        ...

    async def close(self) -> None: ...


_SEP: Final = "\x00"
RETRY_AFTER: Final = 2.0
"""Seconds the Redis store is skipped after a failure (requests are misses meanwhile)."""


class MemoryStore:
    """Entries in a dict ordered by last use; ``max_size`` bytes at most."""

    available: Final = True

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self.total = 0
        self._entries: OrderedDict[str, tuple[Entry, float]] = OrderedDict()  # full key -> (entry, expires)
        self._primary: dict[str, tuple[tuple[bytes, ...], set[str]]] = {}  # key -> (vary names, variants)

    async def vary(self, key: str, now: float) -> tuple[bytes, ...] | None:
        known = self._primary.get(key)
        return known[0] if known is not None else None

    async def get(self, key: str, variant: str, now: float) -> Entry | None:
        full = key + _SEP + variant
        found = self._entries.get(full)
        if found is None:
            return None
        entry, expires = found
        if now >= expires:
            self._remove(full)
            return None
        self._entries.move_to_end(full)
        return entry

    async def put(self, entry: Entry, expires_at: float, now: float) -> None:
        if expires_at <= now or entry.size > self.max_size:
            return
        full = entry.key + _SEP + entry.variant
        if full in self._entries:
            self._remove(full)
        self._entries[full] = (entry, expires_at)
        self.total += entry.size
        known = self._primary.get(entry.key)
        variants = known[1] if known is not None else set()
        variants.add(entry.variant)
        self._primary[entry.key] = (entry.vary, variants)
        self.evict()

    def evict(self) -> None:
        """Drop least recently used entries until the total fits ``max_size``."""
        while self.total > self.max_size and self._entries:
            self._remove(next(iter(self._entries)))

    def _remove(self, full: str) -> None:
        entry, _ = self._entries.pop(full)
        self.total -= entry.size
        known = self._primary.get(entry.key)
        if known is not None:
            known[1].discard(entry.variant)
            if not known[1]:
                del self._primary[entry.key]

    async def purge(self, key: str, prefix: bool = False) -> int:
        keys = [k for k in self._primary if k.startswith(key)] if prefix else [key]
        count = 0
        for primary in keys:
            known = self._primary.get(primary)
            if known is None:
                continue
            for variant in list(known[1]):
                self._remove(primary + _SEP + variant)
                count += 1
        return count

    async def keys(self) -> list[str]:
        return sorted(self._primary)

    async def close(self) -> None:
        self._entries.clear()
        self._primary.clear()
        self.total = 0

    def __repr__(self) -> str:
        return f"<MemoryStore entries={len(self._entries)} bytes={self.total}/{self.max_size}>"


# KEYS: entry, vary index, lru, sizes, total.  ARGV: data, vary names, ttl (ms), now (ms), max size.
PUT_SCRIPT: Final = """
local old = redis.call('HGET', KEYS[4], KEYS[1])
if old then redis.call('DECRBY', KEYS[5], old) end
local size = string.len(ARGV[1])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
-- the Vary index lives as long as the longest-lived variant
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[3]) then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
else
  redis.call('SET', KEYS[2], ARGV[2], 'KEEPTTL')
end
redis.call('HSET', KEYS[4], KEYS[1], size)
redis.call('ZADD', KEYS[3], ARGV[4], KEYS[1])
local total = redis.call('INCRBY', KEYS[5], size)
-- forget the oldest entries Redis already expired
for _, member in ipairs(redis.call('ZRANGE', KEYS[3], 0, 9)) do
  if redis.call('EXISTS', member) == 0 then
    local s = redis.call('HGET', KEYS[4], member)
    redis.call('HDEL', KEYS[4], member)
    redis.call('ZREM', KEYS[3], member)
    if s then total = redis.call('DECRBY', KEYS[5], s) end
  end
end
local limit = tonumber(ARGV[5])
while total > limit do
  local popped = redis.call('ZPOPMIN', KEYS[3])
  if #popped == 0 then break end
  local s = redis.call('HGET', KEYS[4], popped[1])
  redis.call('HDEL', KEYS[4], popped[1])
  redis.call('DEL', popped[1])
  if s then total = redis.call('DECRBY', KEYS[5], s) else break end
end
return total
"""

# KEYS: entry, lru.  ARGV: now (ms).  The entry, its last use updated.
GET_SCRIPT: Final = """
local value = redis.call('GET', KEYS[1])
if value then redis.call('ZADD', KEYS[2], 'XX', ARGV[1], KEYS[1]) end
return value
"""

# KEYS: lru, sizes, total.  ARGV: entry keys.  Number of entries that still existed.
DROP_SCRIPT: Final = """
local count = 0
for _, member in ipairs(ARGV) do
  local s = redis.call('HGET', KEYS[2], member)
  if s then
    redis.call('HDEL', KEYS[2], member)
    redis.call('DECRBY', KEYS[3], s)
  end
  redis.call('ZREM', KEYS[1], member)
  count = count + redis.call('DEL', member)
end
return count
"""


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


class RedisStore:
    """Entries in Redis under ``traefikpy:cache:{<middleware>}:``; ``max_size`` bytes at most."""

    def __init__(self, client: Redis, name: str, max_size: int) -> None:
        self.client = client
        self.max_size = max_size
        self.ns = f"traefikpy:cache:{{{name}}}:"
        self._lru = self.ns + "lru"
        self._sizes = self.ns + "sizes"
        self._total = self.ns + "total"
        self._put = client.register_script(PUT_SCRIPT)
        self._get = client.register_script(GET_SCRIPT)
        self._drop = client.register_script(DROP_SCRIPT)
        self._down_until = 0.0

    @property
    def available(self) -> bool:
        return not self._down_until or time.monotonic() >= self._down_until

    def _check(self) -> None:
        if self._down_until and time.monotonic() < self._down_until:
            raise StoreError("redis: unavailable (failed recently)")

    def _failed(self, exc: Exception) -> StoreError:
        # Calls skip Redis for a while after a failure, so that a dead or black-holed Redis
        # costs one timeout every RETRY_AFTER seconds rather than one per request.
        self._down_until = time.monotonic() + RETRY_AFTER
        return StoreError(f"redis: {exc}")

    async def vary(self, key: str, now: float) -> tuple[bytes, ...] | None:
        self._check()
        try:
            value = await self.client.get(self.ns + "v:" + key)
        except (RedisError, OSError) as exc:
            raise self._failed(exc) from exc
        if not isinstance(value, bytes):
            return None
        return tuple(value.split(b",")) if value else ()

    async def get(self, key: str, variant: str, now: float) -> Entry | None:
        self._check()
        try:
            data = await self._get(keys=[self.ns + "e:" + key + _SEP + variant, self._lru], args=[int(now * 1000)])
        except (RedisError, OSError) as exc:
            raise self._failed(exc) from exc
        if data is None:
            return None
        try:
            return Entry.from_bytes(data)
        except ValueError as exc:
            raise StoreError(str(exc)) from None

    async def put(self, entry: Entry, expires_at: float, now: float) -> None:
        ttl_ms = int((expires_at - now) * 1000)
        if ttl_ms <= 0:
            return
        data = entry.to_bytes()
        if len(data) > self.max_size:
            return
        keys = [self.ns + "e:" + entry.key + _SEP + entry.variant, self.ns + "v:" + entry.key,
                self._lru, self._sizes, self._total]
        self._check()
        try:
            await self._put(keys=keys, args=[data, b",".join(entry.vary), ttl_ms, int(now * 1000), self.max_size])
        except (RedisError, OSError) as exc:
            raise self._failed(exc) from exc

    async def purge(self, key: str, prefix: bool = False) -> int:
        entries = self.ns + "e:"
        pattern = _glob_escape(entries + key) + ("*" if prefix else _SEP + "*")
        count = 0
        self._check()
        try:
            batch: list[bytes] = []
            async for member, _ in self.client.zscan_iter(self._lru, match=pattern, count=500):
                batch.append(member)
                if len(batch) >= 500:
                    count += int(await self._drop(keys=[self._lru, self._sizes, self._total], args=batch))
                    batch = []
            if batch:
                count += int(await self._drop(keys=[self._lru, self._sizes, self._total], args=batch))
            if prefix:
                index = [k async for k in self.client.scan_iter(match=_glob_escape(self.ns + "v:" + key) + "*")]
                if index:
                    await self.client.delete(*index)
            else:
                await self.client.delete(self.ns + "v:" + key)
        except (RedisError, OSError) as exc:
            raise self._failed(exc) from exc
        return count

    async def keys(self) -> list[str]:
        start = len(self.ns) + 2
        out: set[str] = set()
        self._check()
        try:
            async for member, _ in self.client.zscan_iter(self._lru, count=500):
                if await self.client.exists(member):
                    out.add(member.decode()[start:].split(_SEP, 1)[0])
        except (RedisError, OSError) as exc:
            raise self._failed(exc) from exc
        return sorted(out)

    async def close(self) -> None:
        await self.client.aclose()

    def __repr__(self) -> str:
        return f"<RedisStore {self.ns} max={self.max_size} {self.client!r}>"


def redis_client(endpoint: str, *, db: int, username: str, password: str, dial_timeout: float,
                 read_timeout: float) -> Redis:
    """A redis-py asyncio client for ``host:port`` (connects on first use)."""
    host, sep, port = endpoint.strip().rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"invalid redis endpoint {endpoint!r}: host:port expected")
    return Redis(
        host=host.strip("[]") or "localhost", port=int(port), db=db, username=username or None,
        password=password or None, socket_connect_timeout=dial_timeout if dial_timeout > 0 else None,
        socket_timeout=read_timeout if read_timeout > 0 else None, decode_responses=False,
        retry=Retry(NoBackoff(), 0),  # a cache fails fast: a miss is cheaper than waiting
    )

