"""A real ACME server for tests: Debian's ``pebble`` and ``pebble-challtestsrv`` on loopback.

``Pebble.start(...)`` makes a throwaway CA and a ``localhost`` certificate for pebble's own
listener (trustme), starts ``pebble-challtestsrv`` as the DNS server that resolves every name to
127.0.0.1 (or ``dns_server`` when given, e.g. a BIND fixture), then pebble with its HTTP-01 and
TLS-ALPN-01 validation ports pointed at the ports the test's entry points listen on.  Orders are
counted from pebble's own log (``POST /order-plz``).
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import trustme

from tests.conftest import free_port


@dataclass
class Pebble:
    workdir: Path
    api_port: int
    mgmt_port: int
    http_port: int
    tls_port: int
    dns_port: int
    cts_port: int
    ca_file: Path  # trusts pebble's own listener (the ACME API)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    log_path: Path = Path()

    @property
    def directory(self) -> str:
        return f"https://127.0.0.1:{self.api_port}/dir"

    def _ctx(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        ctx.check_hostname = False
        return ctx

    def root_pem(self, index: int = 0) -> bytes:
        """A root that signs issued certificates (regenerated at every pebble start; 1.. are the
        alternate roots of alternate chains)."""
        with urllib.request.urlopen(f"https://127.0.0.1:{self.mgmt_port}/roots/{index}", context=self._ctx()) as resp:
            return bytes(resp.read())

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def orders(self) -> int:
        """New orders pebble received so far."""
        return self.log().count("POST /order-plz")

    def set_txt(self, host: str, value: str) -> None:
        body = json.dumps({"host": host, "value": value}).encode()
        urllib.request.urlopen(urllib.request.Request(
            f"http://127.0.0.1:{self.cts_port}/set-txt", data=body, method="POST"), timeout=5).read()

    @classmethod
    def start(cls, *, http_port: int | None = None, tls_port: int | None = None, nonce_reject: int = 0,
              validity: int | None = None, dns_server: str | None = None, eab: dict[str, str] | None = None,
              alternate_roots: int = 0, api_port: int | None = None) -> Pebble:
        workdir = Path(tempfile.mkdtemp(prefix="pebble-"))
        ca = trustme.CA()
        leaf = ca.issue_cert("localhost", "127.0.0.1")
        ca_file = workdir / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        leaf.cert_chain_pems[0].write_to_path(str(workdir / "cert.pem"))
        leaf.private_key_pem.write_to_path(str(workdir / "key.pem"))
        p = cls(workdir, api_port or free_port(), free_port(), http_port or free_port(), tls_port or free_port(),
                free_port(), free_port(), ca_file)
        config: dict[str, object] = {
            "listenAddress": f"127.0.0.1:{p.api_port}",
            "managementListenAddress": f"127.0.0.1:{p.mgmt_port}",
            "certificate": str(workdir / "cert.pem"),
            "privateKey": str(workdir / "key.pem"),
            "httpPort": p.http_port,
            "tlsPort": p.tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": bool(eab),
        }
        if eab:
            config["externalAccountMACKeys"] = eab
        if validity is not None:
            config["certificateValidityPeriod"] = validity
        (workdir / "pebble.json").write_text(json.dumps({"pebble": config}))
        p.log_path = workdir / "pebble.log"
        try:
            if dns_server is None:
                cts_log = open(workdir / "challtestsrv.log", "wb")  # noqa: SIM115 (closed with the process)
                p.procs.append(subprocess.Popen(
                    ["pebble-challtestsrv", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
                     "-dns01", f"127.0.0.1:{p.dns_port}", "-http01", "", "-https01", "", "-tlsalpn01", "",
                     "-management", f"127.0.0.1:{p.cts_port}"],
                    stdout=cts_log, stderr=subprocess.STDOUT, start_new_session=True))
                cts_log.close()
                _wait_tcp(p.cts_port)
                dns_server = f"127.0.0.1:{p.dns_port}"
            env = dict(os.environ, PEBBLE_VA_NOSLEEP="1", PEBBLE_WFE_NONCEREJECT=str(nonce_reject),
                       PEBBLE_AUTHZREUSE="0", PEBBLE_VA_ALWAYS_VALID="0", PEBBLE_ALTERNATE_ROOTS=str(alternate_roots))
            log = open(p.log_path, "wb")  # noqa: SIM115
            p.procs.append(subprocess.Popen(
                ["pebble", "-config", str(workdir / "pebble.json"), "-dnsserver", dns_server, "-strict=false"],
                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True))
            log.close()
            p._wait_ready()
        except BaseException:
            p.stop()
            raise
        return p

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(self.directory, context=self._ctx(), timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"pebble did not start:\n{self.log()}")
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"pebble exited:\n{self.log()}")
            time.sleep(0.1)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(5)
        self.procs.clear()


def _wait_tcp(port: int) -> None:
    import socket

    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
