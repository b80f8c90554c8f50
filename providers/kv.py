"""What the key-value store providers (etcd, Consul KV, Redis) share.

* :func:`build_config`: pure translation of the pairs under ``rootKey`` into a
  :class:`DynamicConfig` through the one decoder (:func:`traefikpy.config.decode.parse_kv` and
  :func:`~traefikpy.config.decode.validate`).  Like Traefik, only keys under
  ``<rootKey>/http``, ``/tcp``, ``/udp`` and ``/tls`` are read (other keys under the root are
  ignored), numeric segments are list indices and field names match case-insensitively.
* :func:`watch_store`: the loop every store provider runs.  A store module supplies *sessions*:
  an async iterator that connects, yields the full pairs after the initial read and after every
  change, and raises when the connection is lost.  The loop decodes each state, yields only
  valid configurations that differ from the last one, logs problems (the last good configuration
  keeps serving), and opens a new session after an exponential :class:`Backoff`.
* :func:`batches`: groups what an event stream delivers at once, so a transaction or a burst of
  writes gives one snapshot rather than one per key.
* TLS helpers for Traefik's client ``tls`` block (``ca``/``cert``/``key`` are file paths or
  PEM contents), used by the store clients and the HTTP provider.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
import tempfile
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TypeVar

from traefikpy.config.decode import ConfigError, Problem, parse_kv, validate
from traefikpy.config.dynamic import DynamicConfig
from traefikpy.config.static_providers import ClientTLS

T = TypeVar("T")

SECTIONS = frozenset({"http", "tcp", "udp", "tls"})
"""The first segments under the root key that hold configuration (Traefik filters on these)."""

_REROOT = "traefik"  # parse_kv reads one root segment; a nested rootKey is re-rooted to this


def normalize_root(root_key: str) -> str:
    """``/traefik/`` → ``traefik``; ``a//b`` → ``a/b`` (stores compare keys as plain strings)."""
    return "/".join(s for s in root_key.split("/") if s)


def config_pairs(pairs: Mapping[str, str], root_key: str) -> dict[str, str]:
    """The pairs that carry configuration, re-rooted for :func:`parse_kv`.

    A key counts when it starts with ``<root_key>/`` (exact case, as in Traefik) followed by
    ``http``, ``tcp``, ``udp`` or ``tls`` (any case).  Empty segments (``a//b``, a trailing
    ``/`` of Consul folders) are ignored.
    """
    root = normalize_root(root_key)
    prefix = root + "/"
    out: dict[str, str] = {}
    for key, value in pairs.items():
        bare = key.lstrip("/")
        if not bare.startswith(prefix):
            continue
        rest = [s for s in bare[len(prefix):].split("/") if s]
        if rest and rest[0].lower() in SECTIONS:
            out["/".join([_REROOT, *rest])] = value
    return out


def build_config(pairs: Mapping[str, str], root_key: str = "traefik", source: str = "kv") -> DynamicConfig:
    """The dynamic configuration held by ``pairs`` (full key → text value).

    Raises :class:`ConfigError` listing every problem, with dotted paths relative to the root
    key (``http.routers.r.rul: unknown key``) and ``source`` naming the store.
    """
    data = parse_kv(config_pairs(pairs, root_key), DynamicConfig, root=_REROOT, source=source)
    return validate(DynamicConfig, data, source=source)


def describe(problem: Problem, root_key: str) -> str:
    """A problem as a KV user reads it: with the key path (``traefik/http/routers/r/rul``)."""
    key = "/".join([normalize_root(root_key), *problem.path.replace("[", ".").replace("]", "").split(".")])
    return f"{problem.source}: {key}: {problem.message}" if problem.path else str(problem)


@dataclass
class Backoff:
    """Exponential delays between reconnection attempts: ``initial``, ×``factor``, ≤ ``maximum``.

    The default ceiling is short (5 s) because a configuration store coming back should be
    picked up quickly; attempts are cheap (one connection and one read).
    """

    initial: float = 0.2
    maximum: float = 5.0
    factor: float = 2.0
    _next: float = 0.0

    def next(self) -> float:
        delay = self._next or self.initial
        self._next = min(delay * self.factor, self.maximum)
        return delay

    def reset(self) -> None:
        self._next = 0.0


Session = Callable[[], AsyncGenerator[Mapping[str, str], None]]
"""Connects, yields the full pairs after the first read and after each change; raises on loss."""


async def watch_store(
    name: str,
    root_key: str,
    session: Session,
    backoff: Backoff,
    log: logging.Logger,
) -> AsyncIterator[DynamicConfig]:
    """Full, valid, changed snapshots from successive sessions; never raises but cancellation.

    A state that fails to decode is logged once (until the pairs change) and skipped: the last
    good configuration stays live.  A session that raises is logged, and the next one starts
    after the backoff delay; the delays reset once a session delivers a state.
    """
    last: DynamicConfig | None = None
    last_bad: dict[str, str] | None = None
    while True:
        try:
            async with contextlib.aclosing(session()) as states:
                async for pairs in states:
                    backoff.reset()
                    try:
                        config = build_config(pairs, root_key, name)
                    except ConfigError as exc:
                        current = dict(pairs)
                        if current != last_bad:
                            last_bad = current
                            for problem in exc.problems:
                                log.error("%s (last good configuration kept)", describe(problem, root_key))
                        continue
                    last_bad = None
                    if config != last:
                        last = config
                        yield config
            raise ConnectionError("the session ended")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # an outage of the store must never stop the provider
            delay = backoff.next()
            log.error("%s: %s: %s; last good configuration kept, retrying in %.1fs",
                      name, type(exc).__name__, exc or "connection lost", delay)
            await asyncio.sleep(delay)


_END = object()


async def batches(source: AsyncIterator[T]) -> AsyncIterator[list[T]]:
    """Items of ``source`` grouped by arrival: everything already delivered comes as one list.

    An exception of ``source`` is raised after the items that arrived before it.
    """
    queue: asyncio.Queue[object] = asyncio.Queue()

    async def pump() -> None:
        try:
            async for item in source:
                queue.put_nowait(item)
            queue.put_nowait(_END)
        except Exception as exc:
            queue.put_nowait(exc)

    task = asyncio.get_running_loop().create_task(pump(), name="kv:batches")
    try:
        while True:
            first = await queue.get()
            items = [first]
            while not queue.empty():
                items.append(queue.get_nowait())
            batch: list[T] = []
            for item in items:
                if item is _END:
                    if batch:
                        yield batch
                    return
                if isinstance(item, Exception):
                    if batch:
                        yield batch
                    raise item
                batch.append(item)  # type: ignore[arg-type]
            yield batch
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


# --------------------------------------------------------------------------------------------
# client TLS

def pem_bytes(value: str) -> bytes:
    """A PEM given inline (``-----BEGIN ...``) or as a file path (read)."""
    if "-----BEGIN" in value:
        return value.encode()
    with open(value, "rb") as fh:
        return fh.read()


def check_tls(tls: ClientTLS) -> None:
    """Raise ValueError for a ``tls`` block that cannot work (like Traefik's CreateTLSConfig)."""
    if bool(tls.cert) != bool(tls.key):
        raise ValueError("tls: cert and key must be set together")
    try:
        for value in (tls.ca, tls.cert, tls.key):
            if value:
                pem_bytes(value)
    except OSError as exc:
        raise ValueError(f"unable to create client TLS configuration: {exc}") from None


def ssl_context(tls: ClientTLS, alpn: list[str] | None = None) -> ssl.SSLContext:
    """A client ``SSLContext``: ``ca`` replaces the system roots, ``cert``/``key`` authenticate
    the client, ``insecureSkipVerify`` disables certificate and host name checks."""
    check_tls(tls)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if tls.insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif tls.ca:
        ctx.load_verify_locations(cadata=pem_bytes(tls.ca).decode())
    else:
        ctx.load_default_certs()
    if tls.cert:
        with tls_files(tls) as (_ca, cert, key):
            assert cert is not None and key is not None
            ctx.load_cert_chain(cert, key)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


@contextlib.contextmanager
def tls_files(tls: ClientTLS) -> Iterator[tuple[str | None, str | None, str | None]]:
    """File paths of ``ca``, ``cert`` and ``key`` for clients that only read files: inline PEM
    contents are written to a private temporary directory removed on exit."""
    with tempfile.TemporaryDirectory(prefix="traefikpy-tls-") as tmp:
        paths: list[str | None] = []
        for label, value in (("ca", tls.ca), ("cert", tls.cert), ("key", tls.key)):
            if not value:
                paths.append(None)
            elif "-----BEGIN" in value:
                path = os.path.join(tmp, f"{label}.pem")
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as fh:
                    fh.write(value)
                paths.append(path)
            else:
                paths.append(value)
        yield paths[0], paths[1], paths[2]


def split_endpoint(endpoint: str, default_port: int, tls: bool = False) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of ``host:port``, ``[v6]:port`` or ``scheme://host:port``."""
    scheme = "https" if tls else "http"
    rest = endpoint.strip()
    if "://" in rest:
        scheme, rest = rest.split("://", 1)
    rest = rest.split("/", 1)[0]
    if rest.startswith("["):
        host, _, tail = rest[1:].partition("]")
        port = int(tail[1:]) if tail.startswith(":") else default_port
    elif rest.count(":") == 1:
        host, _, port_text = rest.partition(":")
        port = int(port_text) if port_text else default_port
    else:
        host, port = rest, default_port
    return scheme.lower(), host or "127.0.0.1", port
