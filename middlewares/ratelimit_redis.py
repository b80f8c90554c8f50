"""``rateLimit.redis``: token buckets kept in Redis so several instances share one limit.

One Lua script does the whole reservation atomically on the server (read the bucket, refill it
for the time elapsed, take a token or give it back when the wait would exceed the maximum delay,
store it with a TTL).  A bucket is the hash ``rate:<middleware>:<source>`` with fields ``last``
(µs since the epoch) and ``tokens``, the layout Traefik uses, so traefikpy and Traefik instances
can share a Redis.  Clocks: the reserving instance's wall clock, so instances should run NTP.

Connection options map onto redis-py (asyncio): one endpoint is a plain client, several are a
Redis Cluster; ``username``, ``password``, ``db``, ``dialTimeout`` (connect), ``readTimeout``
(socket timeout; 0 or less waits forever), ``maxActiveConns`` (pool cap; 0 = none), ``tls``
(``ca``/``cert``/``key`` as paths or PEM, ``insecureSkipVerify``).  ``poolSize``,
``minIdleConns`` and ``writeTimeout`` are accepted; redis-py opens connections on demand and has
one socket timeout, so they have no effect.  A failed command is retried 3 times with a backoff
from 8 to 512 ms (go-redis' defaults).  Clients are shared between middleware instances
with the same settings and survive reloads (:mod:`middlewares.shared`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from typing import Any, Final

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from middlewares import shared
from middlewares.ratelimit import SECOND, Limits
from traefikpy.config.middleware_options import Redis as RedisOptions
from traefikpy.proxy.http import BuildContext

KEY_PREFIX: Final = "rate:"

RESERVE_SCRIPT: Final = """
-- KEYS[1]: the bucket.  ARGV: refill rate (tokens per microsecond), burst, ttl (seconds),
-- now (microseconds), maximum delay (microseconds).  Returns {wait in microseconds, tokens}.
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[4])
local max_delay = tonumber(ARGV[5])
local state = redis.call('HMGET', KEYS[1], 'last', 'tokens')
local last = tonumber(state[1])
local tokens = tonumber(state[2])
if last == nil or tokens == nil then
  -- a new bucket: as if it had been filling forever
  last = 0
  tokens = burst
end
if now < last then
  last = now
end
tokens = math.min(tokens + rate * (now - last), burst) - 1
local wait = 0
if tokens < 0 then
  wait = -tokens / rate
  if wait > max_delay then
    -- too long to wait: the request is refused and its token given back
    tokens = math.min(tokens + 1, burst)
  end
end
redis.call('HSET', KEYS[1], 'last', now, 'tokens', tokens)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return {tostring(wait), tostring(tokens)}
"""


class _Client:
    """A redis-py client plus the temporary files holding PEM material it loads at connect."""

    def __init__(self, options: RedisOptions) -> None:
        self.tmpdir: str | None = None
        kwargs: dict[str, Any] = {
            "username": options.username or None,
            "password": options.password or None,
            "socket_connect_timeout": options.dial_timeout if options.dial_timeout > 0 else None,
            "socket_timeout": options.read_timeout if options.read_timeout > 0 else None,
            "max_connections": options.max_active_conns if options.max_active_conns > 0 else None,
            "decode_responses": False,
            # go-redis' defaults: 3 retries, backoff from 8 ms up to 512 ms (redis-py waits seconds).
            "retry": Retry(ExponentialBackoff(cap=0.512, base=0.008), 3),
        }
        if options.tls is not None:
            kwargs.update(self._tls(options))
        endpoints = [e.strip() for e in options.endpoints if e.strip()] or ["localhost:6379"]
        nodes = [_host_port(e) for e in endpoints]
        if len(nodes) == 1:
            self.redis: Redis | RedisCluster = Redis(host=nodes[0][0], port=nodes[0][1], db=options.db, **kwargs)
        else:
            if kwargs["max_connections"] is None:
                del kwargs["max_connections"]
            self.redis = RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in nodes], **kwargs)

    def _tls(self, options: RedisOptions) -> dict[str, Any]:
        tls = options.tls
        assert tls is not None
        if bool(tls.cert) != bool(tls.key):
            raise ValueError("redis tls: cert and key must be set together")
        out: dict[str, Any] = {"ssl": True}
        if tls.insecure_skip_verify:
            out.update(ssl_cert_reqs="none", ssl_check_hostname=False)
        if tls.ca:
            if "-----BEGIN" in tls.ca:
                out["ssl_ca_data"] = tls.ca
            else:
                out["ssl_ca_certs"] = tls.ca
        if tls.cert:
            out["ssl_certfile"] = self._file(tls.cert, "cert.pem")
            out["ssl_keyfile"] = self._file(tls.key, "key.pem")
        return out

    def _file(self, value: str, name: str) -> str:
        if "-----BEGIN" not in value:
            return value
        # redis-py loads certificates from files when it connects: keep private copies around.
        if self.tmpdir is None:
            self.tmpdir = tempfile.mkdtemp(prefix="traefikpy-redis-")
        path = os.path.join(self.tmpdir, name)
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as fh:
            fh.write(value)
        return path

    async def close(self) -> None:
        try:
            await self.redis.aclose()
        finally:
            if self.tmpdir is not None:
                shutil.rmtree(self.tmpdir, ignore_errors=True)


def _host_port(endpoint: str) -> tuple[str, int]:
    host, sep, port = endpoint.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"invalid redis endpoint {endpoint!r}: host:port expected")
    return host.strip("[]") or "localhost", int(port)


class RedisLimiter:
    """Reserves tokens in Redis for one rateLimit middleware."""

    __slots__ = ("client", "limits", "bind", "_script", "_args")

    def __init__(self, client: _Client, limits: Limits, bind: Any) -> None:
        self.client = client
        self.limits = limits
        self.bind = bind
        self._script = client.redis.register_script(RESERVE_SCRIPT)
        # rate per microsecond, burst, ttl, (now), max delay in microseconds
        self._args = (repr(limits.rate / 1_000_000), limits.burst, limits.ttl, limits.max_delay // 1000)

    async def reserve(self, key: str, now_us: int | None = None) -> int:
        """Take a token for ``key``; returns the wait in ns (see TokenBuckets.reserve).  ``now_us``
        (µs since the epoch) defaults to the wall clock."""
        if self.limits.rate == float("inf"):
            return 0
        rate, burst, ttl, max_delay = self._args
        now = time.time_ns() // 1000 if now_us is None else now_us
        result = await self._script(keys=[KEY_PREFIX + key], args=[rate, burst, ttl, now, max_delay])
        return int(float(result[0]) * 1000)

    def __repr__(self) -> str:
        return f"<RedisLimiter {self.limits!r} {self.client.redis!r}>"


def build_redis_limiter(options: RedisOptions, limits: Limits, ctx: BuildContext) -> RedisLimiter:
    key = ("rateLimit.redis", options.model_dump_json())

    async def close(client: _Client) -> None:
        await client.close()

    client, bind = shared.acquire(ctx, key, lambda: _Client(options), close)
    return RedisLimiter(client, limits, bind)


__all__ = ["KEY_PREFIX", "RESERVE_SCRIPT", "RedisLimiter", "SECOND", "build_redis_limiter"]
