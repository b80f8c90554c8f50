"""The ``exec`` DNS-01 provider: an external program publishes and removes the record.

``EXEC_PATH`` names the program (required).  It is called (lego's conventions)::

    <program> present <fqdn> <value>          # default mode
    <program> cleanup <fqdn> <value>
    <program> present -- <domain> <token> <keyAuth>    # EXEC_MODE=RAW
    <program> cleanup -- <domain> <token> <keyAuth>

A non-zero exit status fails the challenge; the program's output (stdout and stderr) is logged
and its last lines are part of the error.  ``EXEC_PROPAGATION_TIMEOUT`` (60s),
``EXEC_POLLING_INTERVAL`` (2s) and ``EXEC_SEQUENCE_INTERVAL`` (60s) as in lego.  Unlike lego, a
program still running after ``max(120s, propagation timeout)`` is killed and the call fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping

from traefikpy.acme.dns import (
    DEFAULT_POLLING_INTERVAL,
    DEFAULT_PROPAGATION_TIMEOUT,
    DEFAULT_TTL,
    DNSChallengeError,
    Env,
)

log = logging.getLogger("traefikpy.acme.dns.exec")

MIN_PROGRAM_TIMEOUT = 120.0


class ExecProvider:
    """Runs ``EXEC_PATH`` to present and clean up DNS-01 records."""

    def __init__(
        self,
        program: str,
        *,
        mode: str = "",
        propagation_timeout: float = DEFAULT_PROPAGATION_TIMEOUT,
        polling_interval: float = DEFAULT_POLLING_INTERVAL,
        sequence_interval: float = DEFAULT_PROPAGATION_TIMEOUT,
        program_timeout: float | None = None,
    ) -> None:
        if not program:
            raise ValueError("exec: some credentials information are missing: EXEC_PATH")
        self.program = program
        self.mode = mode
        self.propagation_timeout = propagation_timeout
        self.polling_interval = polling_interval
        self.sequence_interval = sequence_interval
        self.ttl = DEFAULT_TTL  # the program decides the TTL; kept for the DNSProvider interface
        self.program_timeout = program_timeout if program_timeout is not None else max(MIN_PROGRAM_TIMEOUT, propagation_timeout)

    @property
    def wants_key_authorization(self) -> bool:
        """RAW mode passes the domain, token and key authorization instead of fqdn and value."""
        return self.mode == "RAW"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ExecProvider:
        env = Env(environ, "exec")
        (program,) = env.require("EXEC_PATH")
        return cls(
            program,
            mode=environ.get("EXEC_MODE", ""),
            propagation_timeout=env.seconds("EXEC_PROPAGATION_TIMEOUT", DEFAULT_PROPAGATION_TIMEOUT),
            polling_interval=env.seconds("EXEC_POLLING_INTERVAL", DEFAULT_POLLING_INTERVAL),
            sequence_interval=env.seconds("EXEC_SEQUENCE_INTERVAL", DEFAULT_PROPAGATION_TIMEOUT),
        )

    def __repr__(self) -> str:
        return f"ExecProvider(program={self.program!r}, mode={self.mode!r})"

    async def present(self, domain: str, fqdn: str, value: str, *, token: str | None = None, key_auth: str | None = None) -> None:
        await self._run("present", self._args(domain, fqdn, value, token, key_auth))

    async def cleanup(self, domain: str, fqdn: str, value: str, *, token: str | None = None, key_auth: str | None = None) -> None:
        await self._run("cleanup", self._args(domain, fqdn, value, token, key_auth))

    def _args(self, domain: str, fqdn: str, value: str, token: str | None, key_auth: str | None) -> list[str]:
        if self.mode != "RAW":
            return [fqdn, value]
        if token is None or key_auth is None:
            raise DNSChallengeError("exec: EXEC_MODE=RAW needs the challenge token and key authorization, which the caller did not pass")
        return ["--", domain, token, key_auth]

    async def _run(self, action: str, args: list[str]) -> None:
        try:
            proc = await asyncio.create_subprocess_exec(
                self.program, action, *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
        except OSError as exc:
            raise DNSChallengeError(f"exec: start command {self.program!r}: {exc.strerror or exc}") from None
        try:
            output, _ = await asyncio.wait_for(proc.communicate(), self.program_timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise DNSChallengeError(
                f"exec: {self.program} {action} still running after {self.program_timeout:g}s: killed"
            ) from None
        except asyncio.CancelledError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise
        lines = output.decode(errors="replace").splitlines()
        for line in lines:
            log.info("exec: %s", line)
        if proc.returncode != 0:
            tail = " | ".join(lines[-5:])
            status = f"signal {-proc.returncode}" if proc.returncode is not None and proc.returncode < 0 else f"status {proc.returncode}"
            raise DNSChallengeError(
                f"exec: {self.program} {action} exited with {status}" + (f": {tail}" if tail else "")
            )
