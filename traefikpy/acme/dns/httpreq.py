"""The ``httpreq`` DNS-01 provider: a web service publishes and removes the record.

``HTTPREQ_ENDPOINT`` is the service's base URL (required); the provider POSTs JSON to
``<endpoint>/present`` and ``<endpoint>/cleanup`` (lego's conventions):

* default mode: ``{"fqdn": "_acme-challenge.example.com.", "value": "<base64url digest>"}``
* ``HTTPREQ_MODE=RAW``: ``{"domain": "example.com", "token": "...", "keyAuth": "..."}``

``HTTPREQ_USERNAME`` and ``HTTPREQ_PASSWORD`` (both) add HTTP basic authentication.  A status of
400 or more fails the challenge with the response body in the error.  ``HTTPREQ_HTTP_TIMEOUT``
(30s), ``HTTPREQ_PROPAGATION_TIMEOUT`` (60s), ``HTTPREQ_POLLING_INTERVAL`` (2s).
"""

from __future__ import annotations

import base64
import logging
import posixpath
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from traefikpy.acme.dns import (
    DEFAULT_POLLING_INTERVAL,
    DEFAULT_PROPAGATION_TIMEOUT,
    DEFAULT_TTL,
    DNSChallengeError,
    Env,
    describe,
)

log = logging.getLogger("traefikpy.acme.dns.httpreq")


def join_endpoint(endpoint: str, action: str) -> str:
    """``endpoint`` with ``/<action>`` appended to its path (``http://h/api`` → ``http://h/api/present``)."""
    parts = urlsplit(endpoint)
    path = posixpath.join(parts.path or "/", action)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


class HTTPReqProvider:
    """POSTs the challenge record to a user's web service."""

    def __init__(
        self,
        endpoint: str,
        *,
        mode: str = "",
        username: str | None = None,
        password: str | None = None,
        http_timeout: float = 30.0,
        propagation_timeout: float = DEFAULT_PROPAGATION_TIMEOUT,
        polling_interval: float = DEFAULT_POLLING_INTERVAL,
    ) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"httpreq: HTTPREQ_ENDPOINT must be an http(s) URL, got {endpoint!r}")
        self.endpoint = endpoint
        self.mode = mode
        # lego: basic authentication only when both values are set.
        self.headers: dict[str, str] = {}
        if username and password:
            token = base64.b64encode(f"{username}:{password}".encode()).decode()
            self.headers["Authorization"] = f"Basic {token}"
        self.http_timeout = http_timeout
        self.propagation_timeout = propagation_timeout
        self.polling_interval = polling_interval
        self.ttl = DEFAULT_TTL  # the service decides the TTL; kept for the DNSProvider interface

    @property
    def wants_key_authorization(self) -> bool:
        """RAW mode sends the domain, token and key authorization instead of fqdn and value."""
        return self.mode == "RAW"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> HTTPReqProvider:
        env = Env(environ, "httpreq")
        (endpoint,) = env.require("HTTPREQ_ENDPOINT")
        return cls(
            endpoint,
            mode=env.get("HTTPREQ_MODE") or "",
            username=env.get("HTTPREQ_USERNAME"),
            password=env.get("HTTPREQ_PASSWORD"),
            http_timeout=env.seconds("HTTPREQ_HTTP_TIMEOUT", 30.0),
            propagation_timeout=env.seconds("HTTPREQ_PROPAGATION_TIMEOUT", DEFAULT_PROPAGATION_TIMEOUT),
            polling_interval=env.seconds("HTTPREQ_POLLING_INTERVAL", DEFAULT_POLLING_INTERVAL),
        )

    def __repr__(self) -> str:
        return f"HTTPReqProvider(endpoint={self.endpoint!r}, mode={self.mode!r})"

    async def present(self, domain: str, fqdn: str, value: str, *, token: str | None = None, key_auth: str | None = None) -> None:
        await self._post("present", self._body(domain, fqdn, value, token, key_auth))

    async def cleanup(self, domain: str, fqdn: str, value: str, *, token: str | None = None, key_auth: str | None = None) -> None:
        await self._post("cleanup", self._body(domain, fqdn, value, token, key_auth))

    def _body(self, domain: str, fqdn: str, value: str, token: str | None, key_auth: str | None) -> dict[str, str]:
        if self.mode != "RAW":
            return {"fqdn": fqdn, "value": value}
        if token is None or key_auth is None:
            raise DNSChallengeError("httpreq: HTTPREQ_MODE=RAW needs the challenge token and key authorization, which the caller did not pass")
        return {"domain": domain, "token": token, "keyAuth": key_auth}

    async def _post(self, action: str, body: dict[str, str]) -> None:
        url = join_endpoint(self.endpoint, action)
        timeout = aiohttp.ClientTimeout(total=self.http_timeout)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(url, json=body, headers=self.headers) as response,
            ):
                text = await response.text(errors="replace")
                status = response.status
        except TimeoutError:
            raise DNSChallengeError(f"httpreq: POST {url}: no response within {self.http_timeout:g}s") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise DNSChallengeError(f"httpreq: POST {url}: {describe(exc)}") from None
        if status >= 400:
            raise DNSChallengeError(f"httpreq: POST {url}: {status}: request failed: {text.strip()[:500]}")
        log.debug("httpreq: %s %s -> %d", action, url, status)
