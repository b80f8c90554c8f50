"""HTTP provider (``providers.http``): the dynamic configuration polled from an endpoint.

Like Traefik, every ``pollInterval`` the provider GETs ``endpoint`` (with the configured
``headers``; the whole exchange bounded by ``pollTimeout``) and expects ``200`` with the dynamic
configuration as JSON (YAML is read too, as Traefik's decoder does).  A body equal to the
previous one is not decoded again, and a configuration equal to the last one is not yielded.
Beyond Traefik, an ``ETag`` of the answer is sent back as ``If-None-Match``, and ``304 Not
Modified`` means "unchanged".

Any other status, a connection error, a timeout or a body that does not decode is logged and
the last good configuration keeps serving; after an error the next attempt comes after an
exponential backoff (at most ``max(pollInterval, 5s)``) instead of the interval.

:func:`decode_configuration` is the pure part (body → :class:`DynamicConfig`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import ssl
from collections.abc import AsyncIterator, Mapping

import aiohttp

from providers.kv import Backoff, ssl_context
from traefikpy.config.decode import ConfigError, Problem, load_text, validate
from traefikpy.config.dynamic import DynamicConfig
from traefikpy.config.static_providers import ClientTLS
from traefikpy.config.static_providers import HTTPProvider as HTTPSettings

log = logging.getLogger("traefikpy.providers.http")


def decode_configuration(body: bytes, source: str = "http") -> DynamicConfig:
    """The configuration in ``body`` (JSON, or YAML); :class:`ConfigError` names every problem."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem("", f"the body is not UTF-8 text: {exc}", source)]) from None
    try:
        data, locator = load_text(text, "yaml", source)
    except ConfigError as yaml_error:
        # JSON that the YAML reader rejects (rare: e.g. an implicit key over 1024 characters)
        try:
            loaded = json.loads(text)
        except ValueError:
            raise yaml_error from None
        if not isinstance(loaded, dict):
            raise ConfigError([Problem("", "the document must be a mapping of keys", source)]) from None
        return validate(DynamicConfig, loaded, source=source)
    return validate(DynamicConfig, data, source=source, locator=locator)


class HTTPStatusError(Exception):
    """The endpoint answered something else than 200 (or 304 to a conditional request)."""


class HTTPProvider:
    """``providers.http``: polls ``endpoint`` every ``poll_interval`` seconds."""

    def __init__(
        self,
        endpoint: str,
        poll_interval: float = 5.0,
        poll_timeout: float = 5.0,
        headers: Mapping[str, str] | None = None,
        tls: ClientTLS | None = None,
        name: str = "http",
        throttle: float | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        if not endpoint:
            raise ValueError("providers.http: a non-empty endpoint is required")
        if poll_interval <= 0:
            raise ValueError("providers.http: pollInterval must be greater than 0")
        self.name = name
        self.throttle = throttle
        self.endpoint = endpoint
        self.poll_interval = poll_interval
        self.poll_timeout = poll_timeout
        self.headers = dict(headers or {})
        self.ssl: ssl.SSLContext | bool = ssl_context(tls) if tls is not None else True
        self.backoff = backoff or Backoff(min(0.5, poll_interval), max(poll_interval, 5.0))
        self._etag: str | None = None
        self._digest: bytes | None = None  # of the last body decoded (good or bad)

    async def fetch(self, session: aiohttp.ClientSession) -> bytes | None:
        """The body of a 200 answer, or None for 304 (unchanged); raises on anything else."""
        headers = dict(self.headers)
        if self._etag is not None:
            headers["If-None-Match"] = self._etag
        timeout = aiohttp.ClientTimeout(total=self.poll_timeout if self.poll_timeout > 0 else None)
        async with session.get(self.endpoint, headers=headers, timeout=timeout, ssl=self.ssl) as resp:
            if resp.status == 304 and self._etag is not None:
                return None
            if resp.status != 200:
                raise HTTPStatusError(f"received non-ok response code: {resp.status}")
            body = await resp.read()
            self._etag = resp.headers.get("ETag")
            return body

    async def watch(self) -> AsyncIterator[DynamicConfig]:
        last: DynamicConfig | None = None
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    body = await self.fetch(session)
                except asyncio.CancelledError:
                    raise
                except (aiohttp.ClientError, TimeoutError, HTTPStatusError) as exc:
                    delay = self.backoff.next()
                    log.error("%s: cannot fetch %s (%s: %s); last good configuration kept, retrying in %.1fs",
                              self.name, self.endpoint, type(exc).__name__, exc or "timeout", delay)
                    await asyncio.sleep(delay)
                    continue
                self.backoff.reset()
                digest = hashlib.sha256(body).digest() if body is not None else self._digest
                if digest != self._digest:
                    self._digest = digest
                    assert body is not None
                    try:
                        config = decode_configuration(body, self.endpoint)
                    except ConfigError as exc:
                        for problem in exc.problems:
                            log.error("%s: %s (last good configuration kept)", self.name, problem)
                    else:
                        if config != last:
                            last = config
                            yield config
                await asyncio.sleep(self.poll_interval)

    def __repr__(self) -> str:
        return f"<HTTPProvider {self.endpoint} every {self.poll_interval}s>"


def from_static(cfg: HTTPSettings) -> HTTPProvider:
    """The provider for the static section ``providers.http``."""
    return HTTPProvider(endpoint=cfg.endpoint, poll_interval=cfg.poll_interval, poll_timeout=cfg.poll_timeout,
                        headers=cfg.headers, tls=cfg.tls)


__all__ = ["HTTPProvider", "HTTPStatusError", "decode_configuration", "from_static"]
