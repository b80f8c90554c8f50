"""A real BIND 9 (Debian's ``bind9``) authoritative server for DNS-01 tests.

``Bind.start()`` writes a ``named.conf`` and zone files in a temporary directory and starts
``named -g`` on a free 127.0.0.1 port (UDP and TCP), serving ``example.test.`` (and any other
zones asked for) with:

* ``@``, ``ns1`` and a wildcard ``*`` A record → 127.0.0.1, so pebble (``-dnsserver`` pointed at
  :attr:`Bind.address`) resolves every name of the zone to loopback for HTTP-01/TLS-ALPN-01 too;
* ``allow-update { key <update key>; }`` — RFC 2136 updates signed with :attr:`Bind.key_name`
  (hmac-sha256, random secret) are accepted; a second key, :attr:`Bind.other_key_name`, is known
  to the server but not allowed to update (REFUSED);
* ``recursion no``: names outside the zones are REFUSED at once, nothing leaves the machine.

``stop()`` terminates ``named`` (its own process group) and removes the directory.  Use the
``bind_server`` fixture (module scope) or ``with Bind.start() as bind:``.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

NAMED = shutil.which("named") or "/usr/sbin/named"


def free_udp_tcp_port() -> int:
    """A 127.0.0.1 port free for both UDP and TCP (named listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free UDP+TCP port on 127.0.0.1")


def _zone_file(zone: str, serial: int = 1) -> str:
    return (
        "$TTL 60\n"
        f"{zone} IN SOA ns1.{zone} hostmaster.{zone} {serial} 60 60 600 60\n"
        f"{zone} IN NS ns1.{zone}\n"
        f"ns1.{zone} IN A 127.0.0.1\n"
        f"{zone} IN A 127.0.0.1\n"
        f"*.{zone} IN A 127.0.0.1\n"
    )


@dataclass
class Bind:
    workdir: Path
    port: int
    zones: list[str]
    key_name: str = "acme-update."
    key_algorithm: str = "hmac-sha256"
    key_secret: str = field(default_factory=lambda: base64.b64encode(secrets.token_bytes(32)).decode())
    other_key_name: str = "no-update."
    other_key_secret: str = field(default_factory=lambda: base64.b64encode(secrets.token_bytes(32)).decode())
    proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def address(self) -> str:
        """``127.0.0.1:<port>``: RFC2136_NAMESERVER, pebble's ``-dnsserver``, a propagation resolver."""
        return f"127.0.0.1:{self.port}"

    @property
    def zone(self) -> str:
        return self.zones[0]

    @property
    def log_path(self) -> Path:
        return self.workdir / "named.log"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def env(self, **overrides: str) -> dict[str, str]:
        """RFC2136_* variables for the update key (TSIG hmac-sha256), plus ``overrides``."""
        out = {
            "RFC2136_NAMESERVER": self.address,
            "RFC2136_TSIG_KEY": self.key_name,
            "RFC2136_TSIG_SECRET": self.key_secret,
            "RFC2136_TSIG_ALGORITHM": f"{self.key_algorithm}.",
            "RFC2136_PROPAGATION_TIMEOUT": "10",
            "RFC2136_POLLING_INTERVAL": "0.2",
            "RFC2136_DNS_TIMEOUT": "5",
        }
        out.update(overrides)
        return out

    # --- queries (synchronous, for assertions) ---------------------------------------------------

    def query(self, name: str, rdtype: str = "A", timeout: float = 3.0) -> dns.message.Message:
        request = dns.message.make_query(name, rdtype)
        return dns.query.udp(request, self.host, timeout=timeout, port=self.port)

    def txt(self, name: str) -> list[str]:
        """The TXT strings the server answers for ``name`` (each record's strings joined)."""
        response = self.query(name, "TXT")
        out: list[str] = []
        for rrset in response.answer:
            if rrset.rdtype == dns.rdatatype.TXT:
                out.extend(b"".join(rdata.strings).decode() for rdata in rrset)
        return out

    def rcode(self, name: str, rdtype: str = "A") -> str:
        return str(dns.rcode.to_text(self.query(name, rdtype).rcode()))

    # --- lifecycle ----------------------------------------------------------------------------------

    @classmethod
    def start(cls, zones: Sequence[str] = ("example.test.",), workdir: Path | None = None,
              key_algorithm: str = "hmac-sha256") -> Bind:
        names = [z if z.endswith(".") else z + "." for z in zones]
        wd = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="bind-"))
        wd.mkdir(parents=True, exist_ok=True)
        bind = cls(wd, free_udp_tcp_port(), names, key_algorithm=key_algorithm)
        bind._write_config()
        log = open(bind.log_path, "wb")  # noqa: SIM115 (handed to the process, closed below)
        try:
            bind.proc = subprocess.Popen(
                [NAMED, "-g", "-n", "1", "-c", str(wd / "named.conf")],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )
        finally:
            log.close()
        try:
            bind._wait_ready()
        except BaseException:
            bind.stop()
            raise
        return bind

    def _write_config(self) -> None:
        wd = self.workdir
        zones = []
        for zone in self.zones:
            path = wd / f"{zone.rstrip('.')}.zone"
            path.write_text(_zone_file(zone))
            zones.append(
                f'zone "{zone}" {{ type primary; file "{path}"; '
                f'allow-update {{ key "{self.key_name}"; }}; }};\n'
            )
        (wd / "named.conf").write_text(
            "options {\n"
            f'  directory "{wd}";\n'
            f"  listen-on port {self.port} {{ 127.0.0.1; }};\n"
            "  listen-on-v6 { none; };\n"
            "  recursion no;\n"
            "  allow-query { any; };\n"
            "  dnssec-validation no;\n"
            "  notify no;\n"
            f'  pid-file "{wd}/named.pid";\n'
            f'  session-keyfile "{wd}/session.key";\n'
            f'  managed-keys-directory "{wd}";\n'
            "};\n"
            "controls { };\n"
            f'key "{self.key_name}" {{ algorithm {self.key_algorithm}; secret "{self.key_secret}"; }};\n'
            f'key "{self.other_key_name}" {{ algorithm hmac-sha256; secret "{self.other_key_secret}"; }};\n'
            + "".join(zones)
        )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 15
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"named exited with status {self.proc.returncode}:\n{self.log()}")
            try:
                if all(self.query(zone, "SOA", timeout=0.5).rcode() == dns.rcode.NOERROR for zone in self.zones):
                    return
            except (OSError, dns.exception.DNSException):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"named did not answer on {self.address}:\n{self.log()}")
            time.sleep(0.05)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Bind:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


@pytest.fixture(scope="module")
def bind_server() -> Iterator[Bind]:
    """One BIND serving ``example.test.`` for the module (import this name into a test module)."""
    with Bind.start() as bind:
        yield bind
