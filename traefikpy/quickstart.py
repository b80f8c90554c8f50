"""``traefikpy quickstart``: the example configuration plus two demo backends, in one process.

The backends are tiny "whoami" servers (like Traefik's ``traefik/whoami``): they answer with their
name, the request line and the headers they received, so a user sees what the router forwarded.
"""

from __future__ import annotations

import os
from pathlib import Path

from aiohttp import web

from traefikpy.config.sources import load_static

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "quickstart"


def whoami_app(name: str) -> web.Application:
    async def health(_request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def whoami(request: web.Request) -> web.Response:
        lines = [f"Backend: {name}", f"{request.method} {request.path_qs} HTTP/{request.version.major}."
                 f"{request.version.minor}"]
        lines += [f"{key}: {value}" for key, value in request.headers.items()]
        return web.Response(text="\n".join(lines) + "\n")

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_route("*", "/{tail:.*}", whoami)
    return app


async def start_backends(ports: dict[str, int]) -> list[web.AppRunner]:
    runners = []
    for name, port in ports.items():
        runner = web.AppRunner(whoami_app(name), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
    return runners


def main(argv: list[str]) -> int:
    from traefikpy.app import run_app

    config_dir = Path(os.environ.get("TRAEFIKPY_QUICKSTART_DIR", EXAMPLE))
    static_file = config_dir / "traefik.yml"
    # The dynamic file path in the example is relative to the example folder.
    flags = [f"--configFile={static_file}",
             f"--providers.file.filename={config_dir / 'dynamic.yml'}", *argv]
    static = load_static(flags, os.environ, search=False)
    ports = {"A": 9001, "B": 9002}

    async def both() -> None:
        runners = await start_backends(ports)
        print("traefikpy quick start is running:", flush=True)
        print("  curl http://127.0.0.1:8000/                      (backends A and B in turn)")
        print("  curl http://127.0.0.1:8000/only-a                (backend A)")
        print("  curl -H 'Host: b.localhost' http://127.0.0.1:8000/ (backend B)")
        print("  curl http://127.0.0.1:8080/ping                  (health)")
        print(f"  edit {config_dir / 'dynamic.yml'} and the routes change live. Ctrl-C stops.",
              flush=True)
        try:
            await run_app(static)
        finally:
            for runner in runners:
                await runner.cleanup()

    from traefikpy.app import run_loop

    return run_loop(both())
