"""Command line: ``traefikpy [flags]`` runs the router; ``check``, ``version``, ``healthcheck``,
``quickstart`` are subcommands.  Flags are Traefik's (``--entryPoints.web.address=:8000``,
``--providers.file.directory=...``, ``--configFile=...``)."""

from __future__ import annotations

import logging
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence

from traefikpy import __version__
from traefikpy.config.decode import ConfigError, Problem
from traefikpy.config.sources import load_static
from traefikpy.config.static import StaticConfig

USAGE = """usage: traefikpy [--configFile=FILE] [--<static.key>=<value> ...]
       traefikpy check [flags]        validate static + file-provider dynamic configuration
       traefikpy healthcheck [flags]  GET /ping on the ping entrypoint; exit 0 when healthy
       traefikpy quickstart           run the example configuration with two demo backends
       traefikpy version
"""


def _static(argv: Sequence[str]) -> StaticConfig:
    return load_static(list(argv), os.environ)


def check(argv: Sequence[str]) -> int:
    """Validate the static configuration and the file provider's dynamic files; print every
    problem with its key path; exit 1 when there is any."""
    problems: list[Problem] = []
    try:
        static = _static(argv)
    except ConfigError as exc:
        problems.extend(exc.problems)
        static = None
    file_cfg = static.providers.file if static is not None and static.providers else None
    if file_cfg is not None:
        from traefikpy.app import check_dynamic

        problems.extend(check_dynamic(file_cfg.filename, file_cfg.directory))
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s) found", file=sys.stderr)
        return 1
    print("configuration OK")
    return 0


def healthcheck(argv: Sequence[str]) -> int:
    """Exit 0 when ``/ping`` on the ping entrypoint answers 200 (Traefik's ``healthcheck``)."""
    try:
        static = _static(argv)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    if static.ping is None:
        print("error: ping is not enabled (set --ping=true)", file=sys.stderr)
        return 1
    ep = static.entry_points.get(static.ping.entry_point)
    if ep is None:
        print(f"error: ping entrypoint {static.ping.entry_point!r} is not defined", file=sys.stderr)
        return 1
    host, port, _proto = ep.listen
    host = host or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    url = f"http://{host}:{port}/ping"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback/admin URL
            ok = resp.status == 200
    except (urllib.error.URLError, OSError) as exc:
        print(f"error: {url}: {exc}", file=sys.stderr)
        return 1
    print("OK" if ok else "unhealthy")
    return 0 if ok else 1


def run(argv: Sequence[str]) -> int:
    from traefikpy.app import serve

    try:
        static = _static(argv)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    return serve(static)


def quickstart(argv: Sequence[str]) -> int:
    from traefikpy.quickstart import main as quickstart_main

    return quickstart_main(list(argv))


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=os.environ.get("TRAEFIKPY_LOG_LEVEL", "INFO").upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    command = args[0] if args and not args[0].startswith("-") else "run"
    rest = args[1:] if args and not args[0].startswith("-") else args
    if command in ("-h", "--help", "help") or "--help" in rest or "-h" in rest:
        print(USAGE)
        return 0
    if command == "version":
        print(f"traefikpy {__version__} (Python {sys.version.split()[0]})")
        return 0
    handlers = {"run": run, "check": check, "healthcheck": healthcheck, "quickstart": quickstart}
    handler = handlers.get(command)
    if handler is None:
        print(f"unknown command {command!r}\n{USAGE}", file=sys.stderr)
        return 2
    return handler(rest)


if __name__ == "__main__":
    raise SystemExit(main())



