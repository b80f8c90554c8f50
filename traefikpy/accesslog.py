"""Access logs as Traefik v3 writes them: ``common`` (Traefik's CLF), ``genericCLF`` and ``json``.

Pure part: :func:`entry_fields` turns a finished :class:`~traefikpy.proxy.http.Exchange` into
Traefik's named fields (``ClientHost``, ``RequestMethod``, ``DownstreamStatus``, ``Duration`` in
nanoseconds, ``RouterName``...); :class:`Filters` decides whether a line is kept;
:class:`FieldPolicy` applies ``fields`` (keep / drop / redact, per field and per header);
:func:`format_common` and :func:`format_json` render one line.

I/O part: :class:`AccessLog` writes lines to ``filePath`` (or standard output), holds up to
``bufferingSize`` lines (at most a second) before writing, and :meth:`AccessLog.reopen` (on SIGUSR1) reopens the
file so logrotate can move it away.

Request headers appear as ``request_<Name>`` fields; origin/downstream response headers are not
captured (that would cost a response hook on every request).
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import sys
import time
from collections.abc import Callable
from typing import IO, Any

from traefikpy.config.static import AccessLog as AccessLogConfig
from traefikpy.config.static import AccessLogFields, AccessLogFilters
from traefikpy.proxy.http import Exchange

REDACTED = "REDACTED"
FLUSH_AFTER = 1.0  # seconds a buffered line may wait for bufferingSize more lines
_CLF_TIME = "%d/%b/%Y:%H:%M:%S %z"


# -- pure: fields, filters, policies, formats ---------------------------------------------------
def entry_fields(ex: Exchange, duration: float, started: float, request_count: int,
                 response_bytes: int, headers: bool = True) -> dict[str, Any]:
    """Traefik's access log fields of one finished request (``started`` is a Unix time);
    ``request_<Name>`` header fields only with ``headers``."""
    extras = ex.extras or {}
    stamps = _stamps(int(started))
    # Go's RFC 3339 with nanoseconds: trailing zeros trimmed, offset as +hh:mm
    fraction = f".{int(started % 1 * 1e9):09d}".rstrip("0").rstrip(".")
    duration_ns = int(duration * 1e9)
    proto = "HTTP/2.0" if ex.version == b"2" else "HTTP/" + ex.version.decode("latin-1")
    path = ex.target.decode("latin-1")
    method = ex.method.decode("latin-1")
    host_header = (ex.header(b"host") or ex.host.encode("idna")).decode("latin-1")
    request_host, request_port = _split_host_port(host_header)
    forwarded_for = ex.header(b"x-forwarded-for")
    fields: dict[str, Any] = {
        "ClientAddr": f"{ex.client_ip}:{ex.client_port}",
        # as Traefik: the X-Forwarded-For the entry point kept (trusted or absent) wins
        "ClientHost": forwarded_for.decode("latin-1") if forwarded_for else ex.client_ip,
        "ClientPort": str(ex.client_port),
        "ClientUsername": extras.get("ClientUsername") or "-",
        "DownstreamContentSize": response_bytes,
        "DownstreamStatus": ex.status,
        "Duration": duration_ns,
        "OriginContentSize": response_bytes,
        "OriginDuration": duration_ns,
        "OriginStatus": ex.status,
        "Overhead": 0,
        "RequestAddr": host_header,
        "RequestContentSize": ex.body.length or 0,
        "RequestCount": request_count,
        "RequestHost": request_host,
        "RequestMethod": method,
        "RequestPath": path,
        "RequestPort": request_port,
        "RequestProtocol": proto,
        "RequestScheme": ex.scheme,
        "RetryAttempts": int(extras.get("retry_attempts") or 0),
        "StartLocal": f"{stamps[1]}{fraction}{stamps[2]}",
        "StartUTC": f"{stamps[0]}{fraction}Z",
        "entryPointName": ex.entrypoint,
    }
    if ex.router:
        fields["RouterName"] = ex.router
    if ex.service:
        fields["ServiceName"] = ex.service
    url = extras.get("ServiceURL")
    if url:
        fields["ServiceURL"] = url
        fields["ServiceAddr"] = str(url).split("://", 1)[-1].split("/", 1)[0]
    if ex.tls is not None:
        fields["TLSVersion"] = str(ex.tls.version() or "").replace("TLSv", "")
        cipher = ex.tls.cipher()
        if cipher:
            fields["TLSCipher"] = cipher[0]
    if not headers:
        return fields
    for name, value in ex.headers:
        key = "request_" + _canonical(name.decode("latin-1"))
        if key not in fields:
            fields[key] = value.decode("latin-1")
    return fields


_stamp_cache: tuple[int, tuple[str, str, str, str]] = (-1, ("", "", "", ""))


def _stamps(second: int) -> tuple[str, str, str, str]:
    """UTC ISO prefix, local ISO prefix, local UTC offset and the CLF time of one second; the last
    second is cached (strftime is a large part of a line's cost)."""
    global _stamp_cache
    cached_second, stamps = _stamp_cache
    if cached_second != second:
        utc, local = time.gmtime(second), time.localtime(second)
        stamps = (time.strftime("%Y-%m-%dT%H:%M:%S", utc), time.strftime("%Y-%m-%dT%H:%M:%S", local),
                  _offset(time.strftime("%z", local)), time.strftime(_CLF_TIME, utc))
        _stamp_cache = (second, stamps)
    return stamps


def _offset(zone: str) -> str:
    """``+0100`` -> ``+01:00``; ``+0000`` -> ``Z`` (as Go prints a UTC local time)."""
    if zone in ("+0000", "-0000", ""):
        return "Z"
    return f"{zone[:3]}:{zone[3:]}"


def _split_host_port(value: str) -> tuple[str, str]:
    """Go's SplitHostPort, ``(value, "-")`` when there is no port."""
    if value.startswith("["):
        end = value.find("]")
        if end > 0 and value[end + 1:end + 2] == ":":
            return value[1:end], value[end + 2:]
        return value, "-"
    host, sep, port = value.rpartition(":")
    if not sep or ":" in host:
        return value, "-"
    return host, port


@functools.lru_cache(maxsize=1024)
def _canonical(name: str) -> str:
    """Go's canonical header name (``user-agent`` -> ``User-Agent``), as Traefik logs them."""
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def parse_status_ranges(codes: list[str]) -> list[tuple[int, int]]:
    """``["200", "300-302"]`` -> ``[(200, 200), (300, 302)]``; raises ValueError on junk."""
    out = []
    for code in codes:
        low, _, high = code.strip().partition("-")
        out.append((int(low), int(high or low)))
    return out


class Filters:
    """``accessLog.filters``: a line is kept when any configured filter matches (none: all kept)."""

    def __init__(self, config: AccessLogFilters) -> None:
        self.ranges = parse_status_ranges(config.status_codes)
        self.retry_attempts = config.retry_attempts
        self.min_duration = config.min_duration
        self.active = bool(self.ranges or self.retry_attempts or self.min_duration > 0)

    def keep(self, status: int, retries: int, duration: float) -> bool:
        if not self.active:
            return True
        if self.ranges and any(low <= status <= high for low, high in self.ranges):
            return True
        if self.retry_attempts and retries > 0:
            return True
        return self.min_duration > 0 and duration > self.min_duration


class FieldPolicy:
    """``accessLog.fields``: keep, drop or redact each field and each ``request_*`` header."""

    def __init__(self, config: AccessLogFields) -> None:
        self.default = config.default_mode
        self.names = dict(config.names)
        self.header_default = config.headers.default_mode
        self.headers = {_canonical(k): v for k, v in config.headers.names.items()}
        # the defaults (every field kept, every header dropped) need no per-field work
        self.wants_headers = self.header_default != "drop" or any(m != "drop" for m in self.headers.values())
        self.identity = self.default == "keep" and not self.names and not self.wants_headers

    def apply(self, fields: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in fields.items():
            if key.startswith(("request_", "origin_", "downstream_")):
                mode = self.headers.get(key.split("_", 1)[1], self.header_default)
            else:
                mode = self.names.get(key, self.default)
            if mode == "keep":
                out[key] = value
            elif mode == "redact":
                out[key] = REDACTED
        return out


def _quoted(fields: dict[str, Any], key: str, default: str) -> str:
    value = fields.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, str):
        return json.dumps(value)
    return str(value)


def format_common(fields: dict[str, Any], started: float, duration: float, generic: bool = False) -> str:
    """Traefik's CLF: ``<ip> - <user> [<time>] "<method> <path> <proto>" <status> <size>
    "<referer>" "<ua>" <count> "<router>" "<url>" <ms>ms``; ``genericCLF`` stops after the user
    agent.  Dropped fields print ``-``."""
    stamp = _stamps(int(started))[3]

    def plain(key: str) -> str:
        value = fields.get(key)
        return "-" if value is None or value == "" else str(value)

    line = (f"{plain('ClientHost')} - {plain('ClientUsername')} [{stamp}] "
            f"\"{plain('RequestMethod')} {plain('RequestPath')} {plain('RequestProtocol')}\" "
            f"{plain('DownstreamStatus')} {plain('DownstreamContentSize')} "
            f"{_quoted(fields, 'request_Referer', chr(34) + '-' + chr(34))} "
            f"{_quoted(fields, 'request_User-Agent', chr(34) + '-' + chr(34))}")
    if generic:
        return line + "\n"
    ms = int(duration * 1000) if "Duration" in fields else 0
    return (f"{line} {plain('RequestCount')} {_quoted(fields, 'RouterName', '-')} "
            f"{_quoted(fields, 'ServiceURL', '-')} {ms}ms\n")


def format_json(fields: dict[str, Any]) -> str:
    record = dict(fields)
    record["level"] = "info"
    record["msg"] = ""
    record["time"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return json.dumps(record, separators=(",", ":"), sort_keys=True) + "\n"


# -- I/O -----------------------------------------------------------------------------------------
class AccessLog:
    """The access log of one App: ``observe`` per finished request, ``reopen`` on SIGUSR1."""

    def __init__(self, config: AccessLogConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.filters = Filters(config.filters)
        self.policy = FieldPolicy(config.fields)
        self.format = config.format
        self.add_internals = config.add_internals
        self.buffer_size = config.buffering_size
        self.clock = clock
        self.count = 0
        self._pending: list[str] = []
        self._timer: asyncio.TimerHandle | None = None
        self._file: IO[str] | None = None
        self._open()

    def _open(self) -> None:
        if self.config.file_path:
            fd = os.open(self.config.file_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o664)
            self._file = os.fdopen(fd, "a", encoding="utf-8")
        else:
            self._file = None

    def observe(self, ex: Exchange, duration: float, response_bytes: int) -> None:
        """Log one finished request (``duration`` in seconds), if the filters keep it."""
        if not self.add_internals and ex.service.endswith("@internal"):
            return
        self.count += 1
        retries = int((ex.extras or {}).get("retry_attempts") or 0)
        if not self.filters.keep(ex.status, retries, duration):
            return
        started = self.clock() - duration
        policy = self.policy
        fields = entry_fields(ex, duration, started, self.count, response_bytes, policy.wants_headers)
        if not policy.identity:  # identity: defaults, and entry_fields left the headers out
            fields = policy.apply(fields)
        if self.format == "json":
            line = format_json(fields)
        else:
            line = format_common(fields, started, duration, generic=self.format == "genericCLF")
        pending = self._pending
        pending.append(line)
        if len(pending) > self.buffer_size:
            self.flush()
        elif len(pending) == 1 and self._timer is None:
            # buffered lines reach the file within a second even when traffic stops
            try:
                self._timer = asyncio.get_running_loop().call_later(FLUSH_AFTER, self._timed_flush)
            except RuntimeError:  # no loop (tests, tools): flush at once
                self.flush()

    def _timed_flush(self) -> None:
        self._timer = None
        self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        data = "".join(self._pending)
        self._pending.clear()
        out = self._file if self._file is not None else sys.stdout
        out.write(data)
        out.flush()

    def reopen(self) -> None:
        """Flush, close and reopen ``filePath`` (log rotation: the old file was moved away)."""
        self.flush()
        if self._file is not None:
            self._file.close()
        self._open()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.flush()
        if self._file is not None:
            self._file.close()
            self._file = None


__all__ = ["AccessLog", "FieldPolicy", "Filters", "entry_fields", "format_common", "format_json",
           "parse_status_ranges"]
