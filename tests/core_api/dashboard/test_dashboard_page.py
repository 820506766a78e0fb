"""/dashboard in a real browser (Debian's chromium through Playwright, the app served by
uvicorn on 127.0.0.1): log in, file a complaint through the simulator in a second tab,
and watch the dashboard's complaint count change without reloading. Screenshots go to
tests/artifacts/dashboard/.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from samvad.app import create_app
from samvad.settings import Settings
from samvad.worker import run_background
from tests.channels.test_simulator_page import (  # noqa: F401 - fixtures shared with it
    CHROMIUM,
    CHROMIUM_ARGS,
    backend,
    playwright_api,
)

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "dashboard"
RAHUL = "+919876500002"
TIMEOUT_MS = 20_000


@pytest.fixture
async def live_url(db_url: str, redis_url: str, redis_client: Any,
                   tmp_path: Path) -> AsyncIterator[str]:
    """The whole embedded app (with its background loops) on a free port of 127.0.0.1."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = Settings(
        SAMVAD_DATABASE_URL=db_url, SAMVAD_REDIS_URL=redis_url, SAMVAD_ENV="development",
        SAMVAD_DATA_DIR=tmp_path, SAMVAD_PUBLIC_URL=base,
        SAMVAD_SECRET_KEY="test-secret-key-that-is-long-enough-0123456789",
    )
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    async with httpx.AsyncClient(timeout=30) as http:
        health = asyncio.create_task(http.get(f"{base}/healthz"))
        done, _ = await asyncio.wait({serving, health}, return_when=asyncio.FIRST_COMPLETED)
        if serving in done:
            health.cancel()
            raise RuntimeError(f"the app did not start: {serving.exception()!r}")
        assert health.result().status_code == 200, health.result().text
    # The test points at its own PostgreSQL/SQLite and Redis, which is not embedded mode:
    # run the worker's loops (outbox relay -> event stream -> live update) as `serve` does.
    stop = asyncio.Event()
    background = asyncio.create_task(run_background(app, stop))
    try:
        yield base
    finally:
        stop.set()
        await asyncio.wait_for(background, timeout=30)
        server.should_exit = True
        await serving
        sock.close()


async def _login_cookie(base: str, username: str) -> httpx.Cookies:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        response = await http.post("/dashboard/login", data={
            "username": username, "password": "samvad-demo"})
        assert response.status_code == 303
        return http.cookies


@pytest.mark.timeout(180)
async def test_dashboard_counts_a_complaint_filed_in_the_simulator(
        playwright_api: Any, live_url: str) -> None:  # noqa: F811
    expect = playwright_api.expect
    expect.set_options(timeout=TIMEOUT_MS)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []

    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 1000})
            dashboard = await context.new_page()
            dashboard.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            dashboard.on("console", lambda msg: problems.append(f"console: {msg.text}")
                         if msg.type == "error" else None)

            # Logged out: the login form; a wrong password is refused politely.
            response = await dashboard.goto(f"{live_url}/dashboard")
            assert response is not None and response.status == 200
            assert "default-src 'self'" in response.headers["content-security-policy"]
            await dashboard.fill("input[name=username]", "admin")
            await dashboard.fill("input[name=password]", "wrong")
            await dashboard.click("button[type=submit]")
            await expect(dashboard.locator(".error")).to_have_text("Wrong username or password.")
            assert [p for p in problems if "401" not in p] == []  # the refusal is a 401
            problems.clear()
            await dashboard.fill("input[name=username]", "admin")
            await dashboard.fill("input[name=password]", "samvad-demo")
            await dashboard.click("button[type=submit]")
            total = dashboard.locator('[data-figure="complaints-total"]')
            await expect(total).to_have_text("0")
            await expect(dashboard.locator("#tenant")).to_have_value("uk")
            await expect(dashboard.locator("#live")).to_have_text("live")
            cookies = await context.cookies()
            [session_cookie] = [c for c in cookies if c["name"] == "samvad_dashboard"]
            assert session_cookie["httpOnly"] and session_cookie["sameSite"] == "Strict"
            assert await dashboard.evaluate("document.cookie") == ""  # scripts cannot read it
            await dashboard.screenshot(path=str(ARTIFACTS / "01-dashboard-before.png"),
                                       full_page=True)

            # A citizen files a complaint in the simulator, in another tab.
            simulator = await context.new_page()
            await simulator.goto(f"{live_url}/simulator")
            thread = simulator.locator(".thread.active")
            sheet_rows = simulator.locator("#sheet .row")

            async def say(text: str) -> None:
                await simulator.fill("#text", text)
                await simulator.press("#text", "Enter")

            async def pick(row: str, then_step: str) -> None:
                """Tap a row of the newest list, then wait for the bot's answer (the step
                it moves to), so that the next pick opens the new list, not this one."""
                await thread.locator("button.list-open").last.click()
                await sheet_rows.filter(has_text=row).click()
                await expect(simulator.locator("#sheet")).to_be_hidden()
                await expect(simulator.locator("#state-step")).to_have_text(then_step)

            await simulator.select_option("#number", RAHUL)
            await simulator.locator("#channel label", has_text="WhatsApp").click()
            await say("hi")
            await expect(thread).to_contain_text("How can we help you?")
            await pick("File a complaint", "category")
            await pick("Streetlights", "subtype")
            await pick("Streetlight not working", "how_where")
            await thread.locator("button.reply").filter(has_text="Send location").click()
            await thread.locator("button.location-send").click()
            await expect(thread).to_contain_text("Is the problem in Rajpur, Dehradun?")
            await thread.locator("button.reply").filter(has_text="Yes").last.click()
            await expect(simulator.locator("#state-step")).to_have_text("ask_photo")
            await say("skip")
            await expect(simulator.locator("#state-step")).to_have_text("ask_description")
            await say('<b>Pole 14</b> & "dark"')
            # Tap "Yes" under the summary only once it is shown: the "Yes" of the earlier
            # place question would take the citizen back there (bot/taps.py).
            await expect(thread).to_contain_text("File it now?")
            await thread.locator("button.reply").filter(has_text="Yes").last.click()
            await expect(thread).to_contain_text(re.compile(r"PG-UK-DDN-\d{4}-\d{6}"))
            await simulator.screenshot(path=str(ARTIFACTS / "02-simulator-complaint.png"))

            # The dashboard tab updates by itself (server-sent event, then a fresh fragment).
            await dashboard.bring_to_front()
            await expect(total).to_have_text("1")
            oldest = dashboard.locator('[data-table="oldest_open"] tbody tr')
            await expect(oldest).to_have_count(1)
            # Citizen text is shown as text, never as markup.
            await expect(oldest.locator("td").last).to_have_text('<b>Pole 14</b> & "dark"')
            await expect(dashboard.locator('[data-table="oldest_open"] td b')).to_have_count(0)
            await expect(dashboard.locator(
                '[data-table="complaints_by_status"] svg text').first).to_have_text(
                "PENDINGFORASSIGNMENT")
            await dashboard.screenshot(path=str(ARTIFACTS / "03-dashboard-after.png"),
                                       full_page=True)

            # The filter: Haridwar has none of it; the CSV link downloads the same table.
            await dashboard.select_option("#tenant", "uk.haridwar")
            await dashboard.click(".filters button[type=submit]")
            await expect(total).to_have_text("0")
            csv_href = await dashboard.locator(
                '[data-table="complaints_by_status"] a.csv').get_attribute("href")
            assert csv_href is not None and "tenantId=uk.haridwar" in csv_href
            await dashboard.screenshot(path=str(ARTIFACTS / "04-dashboard-haridwar.png"),
                                       full_page=True)

            # Log out: the page asks for a login again.
            await dashboard.click(".logout button")
            await expect(dashboard.locator("input[name=username]")).to_be_visible()
        finally:
            await browser.close()
    assert problems == []

    # The same figures over the API for a ULB's staff through the cookie: Dehradun only.
    cookies = await _login_cookie(live_url, "gro.dehradun")
    async with httpx.AsyncClient(base_url=live_url, cookies=cookies, timeout=30) as http:
        mine = (await http.get("/api/v1/dashboard/summary")).json()
        assert mine["tenant"] == "uk.dehradun" and mine["complaints"]["total"] == 1
        assert (await http.get("/api/v1/dashboard/summary",
                               params={"tenantId": "uk"})).status_code == 403
