"""The CLI as a user runs it: `traefikpy check`, `version`, `healthcheck` (real subprocesses)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TRAEFIKPY = [sys.executable, "-m", "traefikpy.cli"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TRAEFIKPY, *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def test_version() -> None:
    out = run("version")
    assert out.returncode == 0 and out.stdout.startswith("traefikpy ")


def test_check_reports_three_mistakes_with_key_paths_and_exits_1(tmp_path: Path) -> None:
    dyn = tmp_path / "dynamic"
    dyn.mkdir()
    (dyn / "a.yml").write_text(
        "http:\n"
        "  routers:\n"
        "    web:\n"
        "      rul: \"Host(`a.test`)\"\n"          # mistake 1: unknown key
        "      service: app\n"
        "      priority: high\n"                   # mistake 2: not a number
        "  services:\n"
        "    app:\n"
        "      loadBalancer:\n"
        "        servers:\n"
        "          - url: http://127.0.0.1:9\n")
    (dyn / "b.toml").write_text(
        "[http.routers.api]\n"
        "rule = \"Host(`b.test`) && PathPrefix(`/api`\"\n"   # mistake 3: unclosed call
        "service = \"app\"\n")
    static = tmp_path / "traefik.yml"
    static.write_text(f"entryPoints:\n  web:\n    address: 127.0.0.1:0\nproviders:\n  file:\n    directory: {dyn}\n")
    out = run("check", f"--configFile={static}")
    assert out.returncode == 1, out
    err = out.stderr
    assert "http.routers.web.rul" in err and "a.yml:4" in err
    assert "http.routers.web.priority" in err and "a.yml:6" in err
    assert "http.routers.api.rule" in err and "b.toml" in err
    assert "3 problem(s) found" in err


def test_check_reports_static_mistakes(tmp_path: Path) -> None:
    static = tmp_path / "traefik.toml"
    static.write_text("[entryPoints.web]\naddress = \"127.0.0.1:99999\"\n[api]\ninsecur = true\n")
    out = run("check", f"--configFile={static}", "--log.levle=DEBUG")
    assert out.returncode == 1
    assert "entryPoints.web.address" in out.stderr
    assert "api.insecur" in out.stderr
    assert "log.levle" in out.stderr


def test_check_ok(tmp_path: Path) -> None:
    dyn = tmp_path / "d.yml"
    dyn.write_text("http:\n  routers:\n    r:\n      rule: Host(`a`)\n      service: s\n"
                   "  services:\n    s:\n      loadBalancer:\n        servers:\n          - url: http://127.0.0.1:9\n")
    out = run("check", "--entryPoints.web.address=127.0.0.1:0", f"--providers.file.filename={dyn}")
    assert out.returncode == 0, out.stderr
    assert "configuration OK" in out.stdout


def test_healthcheck_fails_when_nothing_listens(tmp_path: Path) -> None:
    out = run("healthcheck", "--ping=true", "--entryPoints.traefik.address=127.0.0.1:1")
    assert out.returncode == 1


def test_traefik_config_with_unsupported_providers_still_loads(tmp_path: Path) -> None:
    static = tmp_path / "traefik.yml"
    static.write_text("entryPoints:\n  web:\n    address: 127.0.0.1:0\n"
                      "providers:\n  kubernetesCRD: {}\n  swarm:\n    endpoint: tcp://127.0.0.1:2375\n")
    out = run("check", f"--configFile={static}")
    assert out.returncode == 0, out.stderr


def test_unsupported_providers_are_named_in_a_warning(caplog: object) -> None:
    import logging

    from traefikpy.app import build_providers
    from traefikpy.config.sources import load_static

    static = load_static(["--providers.kubernetesCRD=true", "--providers.nomad=true"], {}, search=False)
    handler_records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            handler_records.append(record)

    logger = logging.getLogger("traefikpy")
    keep = Keep()
    logger.addHandler(keep)
    try:
        assert build_providers(static) == []
    finally:
        logger.removeHandler(keep)
    text = " ".join(r.getMessage() for r in handler_records)
    assert "providers.kubernetesCRD" in text and "providers.nomad" in text


def test_run_then_healthcheck_ok_then_sigterm_stops_cleanly(tmp_path: Path) -> None:
    import signal
    import socket
    import time

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    flags = ["--ping=true", f"--entryPoints.traefik.address=127.0.0.1:{port}"]
    proc = subprocess.Popen([*TRAEFIKPY, *flags], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            out = run("healthcheck", *flags)
            if out.returncode == 0:
                break
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, out.stderr
            time.sleep(0.2)
        assert out.stdout.strip() == "OK"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
