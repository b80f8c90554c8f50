"""plugin: third-party middlewares found through the ``traefikpy.middlewares`` entry points.

The example plugin (``examples/plugin``, installed in the session if it is not yet) runs through
the real router, configured from YAML-like data and from Docker-style labels; broken plugins
(import errors, no Config, failing builds) are real distributions on a temporary ``sys.path``
entry, found by ``importlib.metadata`` like installed ones."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from middlewares import plugins
from middlewares.plugins import FACTORIES, build_plugin
from tests.harness import lb, running_app
from tests.middlewares.access_util import BuildCtx
from tests.proxy.backends import Backend, echo_json
from traefikpy.config import flat
from traefikpy.config.dynamic import DynamicConfig

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def example_plugin() -> None:
    """Make sure the example plugin is installed (tests/run.sh installs it; this is the fallback)."""
    if "example" not in plugins.discover(refresh=True):
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", str(ROOT / "examples" / "plugin")],
                       check=True, timeout=300)
        import importlib

        importlib.invalidate_caches()
        assert "example" in plugins.discover(refresh=True)


FAKE_MODULES = {
    "bad_import": "raise RuntimeError('boom at import')\n",
    "no_config": "def build(config, next, name, ctx):\n    return next\n",
    "not_a_model": "class Config:\n    pass\n\ndef build(config, next, name, ctx):\n    return next\n",
    "raises": ("from pydantic import BaseModel\n\nclass Config(BaseModel):\n    pass\n\n"
               "def build(config, next, name, ctx):\n    raise RuntimeError('plugin bug')\n"),
    "refuses": ("from pydantic import BaseModel\n\nclass Config(BaseModel):\n    limit: int = 0\n\n"
                "def build(config, next, name, ctx):\n    raise ValueError(f'limit {config.limit} is too low')\n"),
    "not_callable": ("from pydantic import BaseModel\n\nclass Config(BaseModel):\n    pass\n\n"
                     "def build(config, next, name, ctx):\n    return 42\n"),
}


@pytest.fixture
def fake_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    package = tmp_path / "tp_fake_plugins"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for module, source in FAKE_MODULES.items():
        (package / f"{module}.py").write_text(source)
    info = tmp_path / "tp_fake_plugins-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tp-fake-plugins\nVersion: 0.1\n")
    lines = [f"{m.replace('_', '-')} = tp_fake_plugins.{m}" for m in FAKE_MODULES]
    (info / "entry_points.txt").write_text("[traefikpy.middlewares]\n" + "\n".join(lines) + "\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins.discover(refresh=True)
    yield
    monkeypatch.undo()
    plugins.discover(refresh=True)


async def _service(ex: Any) -> None:
    return None


ERRORS: list[dict[str, Any]] = [
    {"desc": "not installed", "options": {"missing": {}}, "error": r"plugin 'missing' is not installed .*installed: .*bad-import"},
    {"desc": "import error", "options": {"bad-import": {}}, "error": r"cannot load tp_fake_plugins.bad_import: RuntimeError: boom"},
    {"desc": "no Config", "options": {"no-config": {}}, "error": "has no Config pydantic model"},
    {"desc": "Config is not a model", "options": {"not-a-model": {}}, "error": "has no Config pydantic model"},
    {"desc": "build raises", "options": {"raises": {}}, "error": "build failed: RuntimeError: plugin bug"},
    {"desc": "build refuses", "options": {"refuses": {"limit": "3"}}, "error": "plugin 'refuses': limit 3 is too low"},
    {"desc": "invalid options", "options": {"refuses": {"limit": "many"}}, "error": "invalid options: limit: Input should be"},
    {"desc": "unknown option", "options": {"example": {"colour": "red"}}, "error": "invalid options: colour: Extra inputs"},
    {"desc": "bad regex", "options": {"example": {"blockPattern": "("}}, "error": "invalid regex"},
    {"desc": "not a handler", "options": {"not-callable": {}}, "error": "build returned int, not a handler"},
    {"desc": "two plugins", "options": {"raises": {}, "refuses": {}}, "error": "exactly one plugin"},
]


@pytest.mark.parametrize("case", ERRORS, ids=[c["desc"] for c in ERRORS])
def test_plugin_errors(example_plugin: None, fake_plugins: None, case: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=case["error"]):
        build_plugin(case["options"], _service, "m@file", BuildCtx())


@pytest.fixture
async def backend() -> AsyncIterator[Backend]:
    server = await Backend.start()
    yield server
    await server.stop()


def _config(url: str, options: dict[str, Any]) -> dict[str, Any]:
    return {"http": {
        "routers": {"r": {"rule": "Host(`a.test`)", "middlewares": ["guard"], "service": "s"}},
        "middlewares": {"guard": {"plugin": {"example": options}}},
        "services": {"s": lb(url)},
    }}


async def test_example_plugin_end_to_end(example_plugin: None, backend: Backend) -> None:
    options = {"headers": {"X-Example": "yes"}, "responseHeaders": {"X-Served-By": "guard"},
               "blockPattern": "^/echo/admin", "blockStatus": 451}
    async with running_app(_config(backend.url, options), middlewares=FACTORIES) as rt:
        resp = await rt.get("/echo/ok", host="a.test", headers={"X-Example": "client value"})
        assert resp.status == 200 and resp.headers["X-Served-By"] == "guard"
        seen = echo_json(await resp.read())
        assert [v for k, v in seen["headers"] if k.lower() == "x-example"] == ["yes"]
        blocked = await rt.get("/echo/admin/users", host="a.test")
        assert blocked.status == 451 and await blocked.read() == b"Unavailable For Legal Reasons\n"
        assert blocked.headers["X-Served-By"] == "guard"
        assert len(backend.requests) == 1  # the blocked request never reached the backend


async def test_example_plugin_from_labels(example_plugin: None, backend: Backend) -> None:
    labels = {
        "traefik.http.routers.r.rule": "Host(`a.test`)",
        "traefik.http.routers.r.middlewares": "guard",
        "traefik.http.routers.r.service": "s",
        "traefik.http.services.s.loadbalancer.servers[0].url": backend.url,
        "traefik.http.middlewares.guard.plugin.example.headers.X-Label": "from-label",
        "traefik.http.middlewares.guard.plugin.example.blockPattern": "/secret",
        "traefik.http.middlewares.guard.plugin.example.blockStatus": "404",
    }
    config = DynamicConfig.model_validate(flat.parse_labels(labels, DynamicConfig))
    async with running_app(config, middlewares=FACTORIES) as rt:
        resp = await rt.get("/echo/x", host="a.test")
        seen = echo_json(await resp.read())
        assert ["X-Label", "from-label"] in seen["headers"]
        assert (await rt.get("/echo/secret", host="a.test")).status == 404
        assert len(backend.requests) == 1


async def test_missing_plugin_disables_its_routers(backend: Backend) -> None:
    config = _config(backend.url, {})
    config["http"]["middlewares"]["guard"] = {"plugin": {"not-installed-anywhere": {"a": "b"}}}
    config["http"]["routers"]["other"] = {"rule": "Host(`b.test`)", "service": "s"}
    async with running_app(config, middlewares=FACTORIES) as rt:
        assert (await rt.get("/echo/x", host="a.test")).status == 404
        assert (await rt.get("/echo/x", host="b.test")).status == 200
        state = rt.state("middleware", "guard@file")
        assert state.status == "disabled"
        assert "plugin 'not-installed-anywhere' is not installed" in " ".join(state.errors)

