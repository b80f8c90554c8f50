"""Proxy throughput: traefikpy vs nginx as a reverse proxy in front of the same nginx backend.

Usage::

    python bench/proxy_bench.py [--rounds 3] [--duration 5] [--connections 64]
        [--variants standin,app,app+headers3,app+metrics,app+routers10,app+routers100k] [--tls]
        [--browser] [--vary N]

Needs ``nginx`` and ``wrk`` on PATH (``apt-get install -y nginx wrk``); installs nothing.
Everything listens on 127.0.0.1 free ports:

* backend: nginx, 1 worker, ``return 200`` of a small fixed body;
* nginx proxy: 1 worker, ``proxy_pass`` to an upstream with ``keepalive``, access log off;
* traefikpy variants (see :data:`VARIANTS`): the real App started from Traefik-format flags and a
  dynamic file (router ``Host(`bench.local`) && PathPrefix(`/`)`` to a loadBalancer), or
  ``standin``, a minimal root handler in front of :class:`traefikpy.proxy.forward.Forwarder`.

``--tls``: wrk speaks HTTPS to both proxies (nginx ``listen ssl``, a TLS router; the same
self-signed EC P-256 certificate), keep-alive as in the plain runs; the backend stays HTTP.

``--browser`` adds twelve browser-like request headers; ``--vary N`` cycles through N paths so
that no connection repeats its head (traefikpy remembers a repeated head: see docs/performance.md).

``wrk -t1 -cN -dDs`` runs against both proxies in interleaved rounds; the script prints req/s of
each round, the CPU time each proxy process spent per request (from ``/proc``: steadier than
req/s on a shared machine), the medians and the traefikpy/nginx ratios, plus the ratios between
variants (headers3 and metrics against app, 100,000 routers against 10; also as the median of
the per-round ratios).  Rounds alternate the order of the proxies.  ``--pin`` gives the proxy
under test CPU 1 alone for its run (wrk and the backend on CPU 0).  ``--serve`` and
``--serve-app`` are the internal modes that run a traefikpy proxy process.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BODY = "hello from the nginx backend\n"
HOST = "bench.local"
PATH = "/api/bench"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


NGINX_COMMON = """
worker_processes 1;
daemon off;
pid {dir}/{name}.pid;
error_log {dir}/{name}.error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body_{name};
  proxy_temp_path {dir}/proxy_{name};
  fastcgi_temp_path {dir}/fcgi_{name};
  uwsgi_temp_path {dir}/uwsgi_{name};
  scgi_temp_path {dir}/scgi_{name};
  keepalive_requests 1000000;
  {body}
}}
"""

BACKEND = """
  server {{
    listen 127.0.0.1:{port};
    location / {{ default_type text/plain; return 200 "{text}"; }}
  }}
"""

PROXY = """
  upstream backend {{ server 127.0.0.1:{backend}; keepalive 128; }}
  server {{
    listen 127.0.0.1:{port}{ssl};
    server_name {host};{certificate}
    location / {{
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Real-IP $remote_addr;
    }}
  }}
"""


def wait_routed(port: int, timeout: float = 300.0, tls: bool = False) -> None:
    """Wait until the bench request gets a 200 (the configuration is applied)."""
    import ssl

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    deadline = time.monotonic() + timeout
    request = f"GET {PATH} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode()
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            sock = context.wrap_socket(raw, server_hostname=HOST) if tls else raw
            sock.sendall(request)
            if sock.recv(64).startswith(b"HTTP/1.1 200"):
                return
        time.sleep(0.2)
    raise RuntimeError(f"127.0.0.1:{port} did not route the bench request after {timeout}s")


def start_nginx(workdir: Path, name: str, body: str) -> subprocess.Popen[bytes]:
    conf = workdir / f"{name}.conf"
    conf.write_text(NGINX_COMMON.format(dir=workdir, name=name, body=body))
    return subprocess.Popen(
        ["nginx", "-c", str(conf), "-p", str(workdir), "-e", str(workdir / f"{name}.stderr.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (Linux /proc), 0 when unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worker_pid(master: int) -> int:
    """nginx runs its single worker as a child of the master process."""
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    except OSError:
        return master
    return int(children[0]) if children else master


def pin(pid: int, cpus: set[int]) -> None:
    """Bind every thread of a process to ``cpus`` (``--pin``)."""
    try:
        tasks = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        tasks = [pid]
    for task in tasks:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(task, cpus)


BROWSER_HEADERS = (
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language: en-US,en;q=0.5",
    "Accept-Encoding: gzip, deflate, br, zstd",
    "Referer: https://bench.local/app/dashboard?tab=overview",
    "Cookie: session=6f1c2d3e4a5b6c7d8e9f0a1b2c3d4e5f; theme=dark; consent=1",
    "Sec-Fetch-Dest: empty",
    "Sec-Fetch-Mode: cors",
    "Sec-Fetch-Site: same-origin",
    "DNT: 1",
    "Priority: u=4",
    "Pragma: no-cache",
)
"""``--browser``: twelve request headers of a typical browser request (a ~600-byte head)."""

VARY_SCRIPT = """
local n = 0
request = function()
  n = n % {count} + 1
  return wrk.format(nil, "{path}/" .. n)
end
"""
"""``--vary N``: wrk asks for ``PATH/1`` .. ``PATH/N`` in turn, so no two requests in a row on a
connection repeat their head (a browser loading different resources)."""

WRK_EXTRA: list[str] = []
"""Extra wrk arguments of this run (``--browser``, ``--vary``), set by :func:`main`."""


def run_wrk(port: int, duration: int, connections: int, pid: int | None = None,
            scheme: str = "http") -> tuple[float, float]:
    """(requests per second, CPU microseconds the proxy process spent per request)."""
    before = cpu_seconds(pid) if pid else 0.0
    out = subprocess.run(
        [
            "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "-H", f"Host: {HOST}", *WRK_EXTRA,
            f"{scheme}://127.0.0.1:{port}{PATH}",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 30,
    ).stdout
    after = cpu_seconds(pid) if pid else 0.0
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    if not match or not total:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    if "Non-2xx" in out or "Socket errors" in out:
        print(out, file=sys.stderr)
    cpu_us = (after - before) * 1e6 / max(1, int(total.group(1)))
    return float(match.group(1)), cpu_us


def serve(port: int, backend_port: int) -> None:
    """The traefikpy proxy process (``--serve``)."""
    import asyncio

    import uvloop

    from traefikpy.proxy.entrypoint import EntryPointServer, EntryPointSettings
    from traefikpy.proxy.errors import ProxyError
    from traefikpy.proxy.forward import Forwarder
    from traefikpy.proxy.http import Exchange
    from traefikpy.proxy.settle import respond_error
    from traefikpy.proxy.upstream import Upstreams

    async def main() -> None:
        upstreams = Upstreams()
        forwarder = Forwarder.create(upstreams, f"http://127.0.0.1:{backend_port}")

        async def app(ex: Exchange) -> None:
            # Stand-in for the router: Host(`bench.local`) && PathPrefix(`/`).
            if ex.host == HOST and ex.path.startswith("/"):
                try:
                    await forwarder(ex)
                except ProxyError as exc:
                    await respond_error(ex, exc)
            else:
                await ex.respond(404, b"404 page not found\n")

        server = EntryPointServer(EntryPointSettings(name="web", address=f"127.0.0.1:{port}"), app)
        await server.start()
        await asyncio.Event().wait()

    uvloop.run(main())


VARIANTS = ("standin", "app", "app+headers3", "app+metrics", "app+routers10", "app+routers100k")
"""``standin``: the minimal root handler above; ``app``: the real App (file provider, router
``Host(`bench.local`) && PathPrefix(`/`)``, loadBalancer service); ``app+headers3``: the same router
with three Headers middlewares; ``app+metrics``: the App with Prometheus metrics enabled;
``app+routers10`` / ``app+routers100k``: the bench router among 10 / 100,000 routers in all (the
others ``Host(`rN.bench.local`)``, same service)."""
ROUTER_COUNTS = {"app+routers10": 10, "app+routers100k": 100_000}


def app_config(workdir: Path, port: int, backend_port: int, variant: str, tls: bool = False) -> list[str]:
    """Static flags (and the dynamic file they point at) of an App variant; with ``tls`` the
    router answers HTTPS with the certificate of :func:`bench_certificate`."""
    middlewares = {}
    if variant == "app+headers3":
        middlewares = {f"h{i}": {"headers": {"customRequestHeaders": {f"X-Bench-{i}": "yes"},
                                             "customResponseHeaders": {f"X-Served-{i}": "yes"}}}
                       for i in range(3)}
    router = {"rule": f"Host(`{HOST}`) && PathPrefix(`/`)", "service": "backend"}
    if middlewares:
        router["middlewares"] = sorted(middlewares)
    if tls:
        router["tls"] = {}
    routers = {"bench": router}
    for i in range(ROUTER_COUNTS.get(variant, 1) - 1):
        routers[f"r{i}"] = {"rule": f"Host(`r{i}.{HOST}`)", "service": "backend"}
    dynamic = {"http": {"routers": routers, "middlewares": middlewares,
                        "services": {"backend": {"loadBalancer": {"servers": [
                            {"url": f"http://127.0.0.1:{backend_port}"}]}}}}}
    if tls:
        cert, key = bench_certificate(workdir)
        dynamic["tls"] = {"stores": {"default": {"defaultCertificate": {"certFile": str(cert), "keyFile": str(key)}}}}
    path = workdir / f"dynamic-{variant.replace('+', '-')}.json"
    path.write_text(json.dumps(dynamic))  # JSON is YAML
    path = path.rename(path.with_suffix(".yml"))
    flags = [f"--entryPoints.web.address=127.0.0.1:{port}", f"--providers.file.filename={path}",
             "--providers.file.watch=false", "--providers.providersThrottleDuration=0s"]
    if variant == "app+metrics":
        flags += ["--metrics.prometheus=true", f"--entryPoints.traefik.address=127.0.0.1:{free_port()}"]
    return flags


def bench_certificate(workdir: Path) -> tuple[Path, Path]:
    """A self-signed EC P-256 certificate for the bench host (both proxies serve it)."""
    cert, key = workdir / "bench.crt", workdir / "bench.key"
    if not cert.exists():
        import datetime

        from traefikpy.tls.certs import self_signed

        cert_pem, key_pem = self_signed(HOST, HOST, not_before=datetime.timedelta(hours=1),
                                        not_after=datetime.timedelta(days=1))
        cert.write_bytes(cert_pem)
        key.write_bytes(key_pem)
    return cert, key


def serve_app(flags: list[str]) -> None:
    """An App variant's proxy process (``--serve-app FLAGS...``)."""
    import logging

    from traefikpy.app import run_app, run_loop
    from traefikpy.config.sources import load_static

    logging.basicConfig(level=logging.WARNING)
    run_loop(run_app(load_static(flags, {}, search=False)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--variants", default="standin,app",
                        help=f"comma-separated traefikpy variants to run side by side: {', '.join(VARIANTS)}")
    parser.add_argument("--tls", action="store_true",
                        help="HTTPS between wrk and both proxies (nginx 'listen ssl', a TLS router); "
                             "App variants only")
    parser.add_argument("--browser", action="store_true",
                        help="send twelve browser-like request headers besides Host")
    parser.add_argument("--vary", type=int, default=0, metavar="N",
                        help="cycle through N request paths (no repeated head on a connection)")
    parser.add_argument("--pin", action="store_true",
                        help="the proxy under test alone on CPU 1; wrk, the backend and the idle proxies on CPU 0 "
                             "(needs 2 CPUs; steadier figures on a shared machine)")
    parser.add_argument("--serve", nargs=2, type=int, metavar=("PORT", "BACKEND_PORT"), help=argparse.SUPPRESS)
    parser.add_argument("--serve-app", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(*args.serve)
        return 0
    if args.serve_app is not None:
        serve_app(args.serve_app)
        return 0
    variants = [v for v in args.variants.split(",") if v]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
    if args.tls and "standin" in variants:
        parser.error("--tls runs App variants only (the stand-in has no TLS entrypoint)")
    scheme = "https" if args.tls else "http"
    missing = [tool for tool in ("nginx", "wrk") if shutil.which(tool) is None]
    if missing:
        print(f"missing tools: {', '.join(missing)} (apt-get install -y nginx wrk)", file=sys.stderr)
        return 2

    if args.pin:
        pin(os.getpid(), {0})  # wrk, the backend and every proxy start on CPU 0
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="proxybench-") as tmp:
        workdir = Path(tmp)
        if args.browser:
            WRK_EXTRA.extend(arg for header in BROWSER_HEADERS for arg in ("-H", header))
        if args.vary > 0:
            script = workdir / "vary.lua"
            script.write_text(VARY_SCRIPT.format(count=args.vary, path=PATH))
            WRK_EXTRA.extend(("-s", str(script)))
        backend_port, nginx_port = free_port(), free_port()
        ports = {v: free_port() for v in variants}
        try:
            procs.append(start_nginx(workdir, "backend", BACKEND.format(port=backend_port, text=BODY.replace("\n", "\\n"))))
            ssl, certificate = "", ""
            if args.tls:
                cert, key = bench_certificate(workdir)
                ssl = " ssl"
                certificate = f"\n    ssl_certificate {cert};\n    ssl_certificate_key {key};"
            procs.append(start_nginx(workdir, "proxy", PROXY.format(port=nginx_port, backend=backend_port, host=HOST,
                                                                    ssl=ssl, certificate=certificate)))
            root = Path(__file__).resolve().parent.parent
            env = dict(os.environ, PYTHONPATH=str(root))
            me = [sys.executable, str(Path(__file__).resolve())]
            pids: dict[str, int] = {}
            for variant, port in ports.items():
                if variant == "standin":
                    argv = [*me, "--serve", str(port), str(backend_port)]
                else:
                    argv = [*me, "--serve-app", *app_config(workdir, port, backend_port, variant, args.tls)]
                proc = subprocess.Popen(argv, env=env)
                procs.append(proc)
                pids[variant] = proc.pid
            for port in (backend_port, nginx_port, *ports.values()):
                wait_port(port)
            for port in ports.values():
                wait_routed(port, tls=args.tls)  # 100,000 routers take a while to load
            pids["nginx"] = worker_pid(procs[1].pid)  # the worker exists once the port answers
            targets = {"nginx": nginx_port, **ports}
            for port in targets.values():  # warm up (connection pools, caches, routes applied)
                run_wrk(port, 1, args.connections, scheme=scheme)
            results: dict[str, list[float]] = {name: [] for name in targets}
            cpu: dict[str, list[float]] = {name: [] for name in targets}
            for rnd in range(1, args.rounds + 1):
                order = list(targets.items())
                if rnd % 2 == 0:  # alternate the order: no variant always runs right after another
                    order.reverse()
                for name, port in order:
                    if args.pin:  # the proxy under test gets CPU 1 to itself for its round
                        pin(pids[name], {1})
                    rps, us = run_wrk(port, args.duration, args.connections, pids[name], scheme)
                    results[name].append(rps)
                    cpu[name].append(us)
                    if args.pin:
                        pin(pids[name], {0})
                    print(f"round {rnd} {name:14s} {rps:10.0f} req/s  {us:6.1f} us CPU/request", flush=True)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
    nginx = statistics.median(results["nginx"])
    nginx_cpu = statistics.median(cpu["nginx"])
    print(f"median {'nginx':14s} {nginx:10.0f} req/s  {nginx_cpu:6.1f} us CPU/request")
    for name in variants:
        ours, ours_cpu = statistics.median(results[name]), statistics.median(cpu[name])
        print(f"median {name:14s} {ours:10.0f} req/s  {ours_cpu:6.1f} us CPU/request  "
              f"ratio to nginx {ours / nginx:.2f} (throughput), {nginx_cpu / ours_cpu:.2f} (CPU per request)")
    pairs = [(name, "app") for name in ("app+headers3", "app+metrics") if name in variants and "app" in variants]
    if "app+routers10" in variants and "app+routers100k" in variants:
        pairs.append(("app+routers100k", "app+routers10"))
    for name, base in pairs:
        # the ratio of the medians, and the median of the ratios of each round's adjacent runs
        paired = statistics.median(a / b for a, b in zip(results[name], results[base], strict=True))
        print(f"{name} vs {base}: {statistics.median(results[name]) / statistics.median(results[base]):.2f} "
              f"throughput (median of per-round ratios {paired:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
