"""The dashboard in headless Chromium: what a user sees (statuses, error texts, server health,
live refresh, the explain form), with screenshots saved under ``artifacts/``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.api.browser import chromium, chromium_path
from tests.api.rig import Rig

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="needs Debian's chromium package")


async def test_dashboard_shows_routers_errors_health_and_refreshes(loaded: Rig) -> None:
    base = loaded.url("/dashboard/")
    async with chromium() as page:
        await page.goto(base)
        text = await page.wait_text("Overview", "HTTP routers", "2 errors", "Entry points")
        assert "traefik" in text and "web" in text

        await page.goto(base + "#/http/routers")
        text = await page.wait_text("broken@file", "invalid rule", "x@file", "y@docker")
        assert "the service 'nowhere@file' does not exist" in text  # lost@file's error, in its row
        await page.screenshot(ARTIFACTS / "dashboard-routers.png")

        await page.goto(base + "#/http/routers/broken%40file")
        text = await page.wait_text("Configuration", "broken@file", "disabled", "invalid rule")
        assert await page.evaluate("document.querySelector('.errors').innerText.includes('invalid rule')")

        await page.goto(base + "#/http/services/svc%40file")
        text = await page.wait_text("Servers", loaded.backend.url, "DOWN", "UP")  # the dead server turns DOWN
        await page.screenshot(ARTIFACTS / "dashboard-service.png")

        await page.goto(base + "#/http/routers")
        await page.wait_text("y@docker")
        await loaded.push(docker={"http": {"routers": {"fresh": {"rule": "Host(`fresh.test`)", "service": "svc@file"}}}})
        text = await page.wait_text("fresh@docker", timeout=10)  # the page polls; no reload needed
        assert "y@docker" not in text
        assert page.errors == []


async def test_dashboard_explain_form(loaded: Rig) -> None:
    async with chromium() as page:
        await page.goto(loaded.url("/dashboard/#/explain"))
        await page.wait_text("Explain a request")
        await page.evaluate("""(() => {
            document.getElementById('x-url').value = 'http://x.test/app/page';
            document.getElementById('x-ep').value = 'web';
            document.querySelector('form.explain button').click();
        })()""")
        text = await page.wait_text("Result", "router x@file", "auth@file", "svc@file")
        assert "winner" in text
        await page.screenshot(ARTIFACTS / "dashboard-explain.png")
        assert page.errors == []
