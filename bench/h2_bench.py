"""HTTP/2 throughput: traefikpy vs nginx terminating TLS + h2 in front of the same nginx backend.

Usage::

    python bench/h2_bench.py [--rounds 3] [--duration 5] [--clients 16] [--streams 10]

Needs ``nginx`` and ``h2load`` on PATH (``apt-get install -y nginx nghttp2-client``) and the
``trustme`` package (test certificates); installs nothing.  Everything listens on 127.0.0.1:

* backend: nginx, 1 worker, ``return 200`` of a small body (the one of ``proxy_bench.py``);
* nginx proxy: 1 worker, ``listen ... ssl http2``, ``proxy_pass`` with upstream keep-alive;
* traefikpy: the real App (one process, uvloop), TLS entry point with a file-provider
  certificate, router ``Host(`bench.local`) && PathPrefix(`/`)`` to a loadBalancer service.

``h2load -D<duration> -c<clients> -m<streams>`` runs against both over TLS (ALPN h2) in
interleaved rounds; the script prints req/s and the CPU each proxy process spent per request,
the medians and the traefikpy/nginx ratios.  Every run is bounded by ``--duration``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from proxy_bench import (  # noqa: E402  (a script next to this one)
    BACKEND,
    BODY,
    HOST,
    PATH,
    cpu_seconds,
    free_port,
    serve_app,
    start_nginx,
    wait_port,
    worker_pid,
)

TLS_PROXY = """
  upstream backend {{ server 127.0.0.1:{backend}; keepalive 128; }}
  server {{
    listen 127.0.0.1:{port} {ssl} http2;
    server_name {host};
    {certs}
    http2_max_concurrent_streams 250;
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


def write_certs(workdir: Path) -> tuple[Path, Path]:
    import trustme

    ca = trustme.CA()
    leaf = ca.issue_cert(HOST)
    cert, key = workdir / "bench.crt", workdir / "bench.key"
    cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    key.write_bytes(leaf.private_key_pem.bytes())
    return cert, key


def app_flags(workdir: Path, port: int, backend_port: int, cert: Path, key: Path, tls: bool) -> list[str]:
    router: dict[str, object] = {"rule": f"Host(`{HOST}`) && PathPrefix(`/`)", "service": "backend"}
    if tls:
        router["tls"] = {}
    dynamic = {
        "http": {
            "routers": {"bench": router},
            "services": {"backend": {"loadBalancer": {"servers": [{"url": f"http://127.0.0.1:{backend_port}"}]}}},
        },
        "tls": {"certificates": [{"certFile": str(cert), "keyFile": str(key)}]},
    }
    path = workdir / "dynamic-h2.yml"
    path.write_text(json.dumps(dynamic))  # JSON is YAML
    return [f"--entryPoints.websecure.address=127.0.0.1:{port}", f"--providers.file.filename={path}",
            "--providers.file.watch=false", "--providers.providersThrottleDuration=0s"]


def run_h2load(port: int, duration: int, clients: int, streams: int, pid: int | None = None,
               scheme: str = "https") -> tuple[float, float]:
    """(requests per second, CPU microseconds the proxy process spent per request)."""
    before = cpu_seconds(pid) if pid else 0.0
    out = subprocess.run(
        ["h2load", f"-D{duration}", f"-c{clients}", f"-m{streams}", "-t1",
         "-H", f":authority: {HOST}", f"{scheme}://127.0.0.1:{port}{PATH}"],
        capture_output=True, text=True, timeout=duration + 60,
    ).stdout
    after = cpu_seconds(pid) if pid else 0.0
    rate = re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", out)
    done = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed", out)
    codes = re.search(r"status codes: (\d+) 2xx", out)
    if not rate or not done or not codes:
        raise RuntimeError(f"unexpected h2load output:\n{out}")
    if int(done.group(3)) or int(codes.group(1)) < int(done.group(2)):
        print(out, file=sys.stderr)
    protocol = re.search(r"Application protocol: (\S+)", out)
    if protocol is None or protocol.group(1) not in ("h2", "h2c"):
        raise RuntimeError(f"h2 was not negotiated:\n{out}")
    cpu_us = (after - before) * 1e6 / max(1, int(done.group(2)))
    return float(rate.group(1)), cpu_us


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--streams", type=int, default=10, help="concurrent streams per client connection")
    parser.add_argument("--cleartext", action="store_true", help="h2c (prior knowledge) instead of TLS + ALPN h2")
    parser.add_argument("--serve-app", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_app is not None:
        serve_app(args.serve_app)
        return 0
    missing = [tool for tool in ("nginx", "h2load") if shutil.which(tool) is None]
    if missing:
        print(f"missing tools: {', '.join(missing)} (apt-get install -y nginx nghttp2-client)", file=sys.stderr)
        return 2

    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="h2bench-") as tmp:
        workdir = Path(tmp)
        cert, key = write_certs(workdir)
        backend_port, nginx_port, ours_port = free_port(), free_port(), free_port()
        try:
            procs.append(start_nginx(workdir, "backend", BACKEND.format(port=backend_port, text=BODY.replace("\n", "\\n"))))
            tls = not args.cleartext
            certs = f"ssl_certificate {cert}; ssl_certificate_key {key};" if tls else ""
            procs.append(start_nginx(workdir, "proxy", TLS_PROXY.format(
                port=nginx_port, backend=backend_port, host=HOST, ssl="ssl" if tls else "", certs=certs)))
            root = Path(__file__).resolve().parent.parent
            env = dict(os.environ, PYTHONPATH=str(root))
            ours = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve-app",
                                     *app_flags(workdir, ours_port, backend_port, cert, key, tls)], env=env)
            procs.append(ours)
            for port in (backend_port, nginx_port, ours_port):
                wait_port(port)
            pids = {"nginx": worker_pid(procs[1].pid), "traefikpy": ours.pid}
            targets = {"nginx": nginx_port, "traefikpy": ours_port}
            scheme = "https" if tls else "http"
            for port in targets.values():  # warm up (pools, routes applied, TLS contexts built)
                run_h2load(port, 1, args.clients, args.streams, scheme=scheme)
            results: dict[str, list[float]] = {name: [] for name in targets}
            cpu: dict[str, list[float]] = {name: [] for name in targets}
            for rnd in range(1, args.rounds + 1):
                for name, port in targets.items():
                    rps, us = run_h2load(port, args.duration, args.clients, args.streams, pids[name], scheme)
                    results[name].append(rps)
                    cpu[name].append(us)
                    print(f"round {rnd} {name:10s} {rps:10.0f} req/s  {us:6.1f} us CPU/request", flush=True)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
    nginx, nginx_cpu = statistics.median(results["nginx"]), statistics.median(cpu["nginx"])
    mine, mine_cpu = statistics.median(results["traefikpy"]), statistics.median(cpu["traefikpy"])
    print(f"median nginx      {nginx:10.0f} req/s  {nginx_cpu:6.1f} us CPU/request")
    print(f"median traefikpy  {mine:10.0f} req/s  {mine_cpu:6.1f} us CPU/request  "
          f"ratio to nginx {mine / nginx:.2f} (throughput), {nginx_cpu / mine_cpu:.2f} (CPU per request)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
