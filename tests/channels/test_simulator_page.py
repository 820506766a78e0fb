"""GET /simulator in a real browser: Debian's chromium driven by Playwright against the app
served by uvicorn on 127.0.0.1 (the page needs real HTTP). Assertions are on the DOM;
screenshots go to tests/artifacts/ for people to look at.

In CI (CI=true) a missing chromium or Playwright fails the test; elsewhere it skips.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from PIL import Image

from bot.messages import Media, Outgoing
from bot.notifier import Notification, SimulatorInbox
from samvad.app import create_app
from samvad.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "simulator"
RAHUL, SUNITA = "+919876500002", "+919876500001"
TIMEOUT_MS = 15_000  # the longest the browser waits for a reply or a notification


@pytest.fixture
def backend() -> str:
    """The page is the subject here, not the database: one backend is enough."""
    return "sqlite"


def _require(what: str) -> None:
    message = f"{what} (the browser tests need it; .ci/run installs it with apt)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def playwright_api() -> Any:
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        _require(f"Debian's chromium is missing at {CHROMIUM}: apt-get install chromium")
    try:
        from playwright import async_api
    except ImportError:
        _require("Playwright is not installed: pip install -e '.[dev]'")
    return async_api


@pytest.fixture
async def live_url(db_url: str, redis_url: str, redis_client: Any,
                   tmp_path: Path) -> AsyncIterator[str]:
    """The whole app on a free port of 127.0.0.1, in this event loop."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)  # the browser may connect at once: connections wait for the server
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = Settings(
        SAMVAD_DATABASE_URL=db_url,
        SAMVAD_REDIS_URL=redis_url,
        SAMVAD_ENV="development",
        SAMVAD_DATA_DIR=tmp_path,
        SAMVAD_SECRET_KEY="test-secret-key-that-is-long-enough-0123456789",
        SAMVAD_PUBLIC_URL=base,  # links the bot sends (photos it fetches) point here
    )
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning",
                                           lifespan="on"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    async with httpx.AsyncClient(timeout=30) as http:
        # No `samvad worker` runs here (the page's turns run in the request).
        health = asyncio.create_task(http.get(f"{base}/readyz?optional=workers"))
        done, _ = await asyncio.wait({serving, health}, return_when=asyncio.FIRST_COMPLETED)
        if serving in done:
            health.cancel()
            raise RuntimeError(f"the app did not start: {serving.exception()!r}")
        assert health.result().status_code == 200, health.result().text
    try:
        yield base
    finally:
        server.should_exit = True
        await serving
        sock.close()


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (230, 180, 30)).save(buffer, format="JPEG")
    return buffer.getvalue()


async def test_the_simulator_page_chats_on_whatsapp_and_sms(
        playwright_api: Any, live_url: str, redis_client: Any) -> None:
    expect = playwright_api.expect
    expect.set_options(timeout=TIMEOUT_MS)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []

    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1180, "height": 880})
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            page.on("console", lambda msg: problems.append(f"console: {msg.text}")
                    if msg.type == "error" else None)
            response = await page.goto(f"{live_url}/simulator")
            assert response is not None and response.status == 200
            assert "default-src 'self'" in response.headers["content-security-policy"]
            await page.evaluate("document.fonts.ready")
            thread = page.locator(".thread.active")
            sheet_rows = page.locator("#sheet .row")

            async def say(text: str) -> None:
                await page.fill("#text", text)
                await page.press("#text", "Enter")

            async def pick(row: str) -> None:
                """Open the newest WhatsApp list and tap one of its rows."""
                await thread.locator("button.list-open").last.click()
                await sheet_rows.filter(has_text=row).click()
                await expect(page.locator("#sheet")).to_be_hidden()

            # Rahul on WhatsApp: the menu is a list message, its rows open in a sheet.
            await page.select_option("#number", RAHUL)
            await page.locator("#channel label", has_text="WhatsApp").click()
            await expect(page.locator("#chat-subtitle")).to_have_text(
                f"WhatsApp · you are {RAHUL} (Rahul Verma)")
            await say("hi")
            await expect(thread.locator(".bubble.out").last).to_contain_text("hi")
            await expect(thread).to_contain_text("How can we help you?")
            await thread.locator("button.list-open").last.click()
            await expect(page.locator("#sheet .row-title")).to_have_text(
                ["File a complaint", "Track complaints", "Pay a bill", "Past receipts",
                 "Birth/death certificate", "Change language", "Help"])
            await page.screenshot(path=str(ARTIFACTS / "01-whatsapp-menu.png"))
            await sheet_rows.filter(has_text="Pay a bill").click()
            await expect(thread.locator(".bubble.out").last).to_have_text(
                re.compile(r"^Pay a bill"))
            await expect(thread).to_contain_text("Which one do you want to pay?")
            await thread.locator("button.list-open").last.click()
            await expect(sheet_rows.filter(has_text="Water ₹634.00")).to_have_count(1)
            await sheet_rows.filter(has_text="Water ₹634.00").click()
            await expect(thread).to_contain_text("Consumer no.: WS-DDN-10477")
            await expect(thread.locator("button.reply").filter(has_text="Yes")).to_have_count(1)
            await page.screenshot(path=str(ARTIFACTS / "02-whatsapp-bill.png"))

            # A complaint with a location pin and a photo that the bot fetches by its link.
            await say("menu")
            await expect(thread.locator("button.list-open")).to_have_count(3)
            await pick("File a complaint")
            await expect(thread).to_contain_text("Choose a category.")
            await pick("Streetlights")
            await expect(thread).to_contain_text("Which of these is the problem?")
            await pick("Streetlight not working")
            await thread.locator("button.reply").filter(has_text="Send location").click()
            await thread.locator("button.location-send").click()
            await expect(thread.locator(".bubble.out.location")).to_contain_text(
                "30.3780, 78.0890")
            await expect(thread).to_contain_text("Is the problem in Rajpur, Dehradun?")
            await thread.locator("button.reply").filter(has_text="Yes").last.click()
            await expect(page.locator("#state-step")).to_have_text("ask_photo")
            await page.set_input_files("#photo", files=[
                {"name": "pole.jpg", "mimeType": "image/jpeg", "buffer": _jpeg()}])
            await page.click("#send-photo")
            await expect(thread.locator(".bubble.out img.photo")).to_have_count(1)
            await expect(page.locator("#state-step")).not_to_have_text("ask_photo")
            await say("Pole 14 near the school gate")
            await expect(thread).to_contain_text("Photos: 1")
            await thread.locator("button.reply").filter(has_text="Yes").last.click()
            await expect(thread).to_contain_text(
                re.compile(r"Your photo is attached to complaint PG-UK-DDN-\d{4}-\d{6}"))
            await page.screenshot(path=str(ARTIFACTS / "03-whatsapp-complaint.png"))

            # Text is never markup.
            await say('<img src="x" onerror="window.pwned = 1">')
            await expect(thread.locator(".bubble.out").last).to_contain_text('<img src="x"')
            await expect(thread.locator('img[src="x"]')).to_have_count(0)

            # Sunita over SMS: exact text with numbered Hindi options and its segment count.
            await page.select_option("#number", SUNITA)
            await page.locator("#channel label", has_text="SMS").click()
            await expect(page.locator("#phone")).to_have_attribute("data-channel", "sms")
            await expect(page.locator("#send-location")).to_be_disabled()
            await expect(page.locator("#send-photo")).to_be_disabled()
            await say("नमस्ते")
            menu = thread.locator(".bubble.in").filter(
                has=page.locator(".sms-text", has_text="1. शिकायत दर्ज करें"))
            await expect(menu).to_have_count(1)
            text = await menu.locator(".sms-text").inner_text()
            assert text.splitlines()[1:4] == ["1. शिकायत दर्ज करें", "2. शिकायत देखें",
                                              "3. बिल भरें"], text
            await expect(menu.locator(".segments")).to_contain_text("3 SMS segments · UCS-2")
            await expect(thread.locator("button")).to_have_count(0)
            await expect(page.locator("#language")).to_have_value("hi_IN")
            await page.screenshot(path=str(ARTIFACTS / "04-sms-hindi.png"))

            # The language control types "language", then the option's number.
            await page.select_option("#language", "en_IN")
            await expect(thread).to_contain_text("Done. I will talk to you in English.")
            outgoing = thread.locator(".bubble.out .body")
            await expect(outgoing).to_have_text(["नमस्ते", "language", "1"])
            await expect(page.locator("#state-locale")).to_have_text("en_IN")

            # Notifications (a payment receipt) arrive by polling, on the channel they used.
            inbox = SimulatorInbox(redis_client)
            receipt = "http://127.0.0.1:9/files/receipt.pdf"
            for channel in ("sms", "whatsapp"):
                await inbox.deliver(channel, Notification(
                    SUNITA, "en_IN", "payment_receipt",
                    Outgoing("Payment received: ₹1,250.00. Receipt RCPT-DDN-0001.",
                             media=(Media(receipt, "application/pdf", "receipt.pdf"),)),
                    f"evt-{channel}"))
            sms_notice = thread.locator(".bubble.notice")
            await expect(sms_notice).to_contain_text("Receipt RCPT-DDN-0001")
            await expect(sms_notice.locator("a")).to_have_attribute("href", receipt)
            await expect(page.locator("#channel label.unread")).to_have_text("WhatsApp")
            await page.screenshot(path=str(ARTIFACTS / "05-sms-notification.png"))
            await page.locator("#channel label", has_text="WhatsApp").click()
            whatsapp_notice = thread.locator(".bubble.notice")
            await expect(whatsapp_notice.locator("a.doc")).to_have_attribute("href", receipt)
            await expect(whatsapp_notice.locator(".doc-name")).to_have_text("receipt.pdf")
            await expect(page.locator("#channel label.unread")).to_have_count(0)
            await page.screenshot(path=str(ARTIFACTS / "06-whatsapp-notification.png"))

            assert await page.evaluate("window.pwned") is None
        finally:
            await browser.close()
    assert problems == []


async def test_the_page_assets_and_the_photo_upload(client: httpx.AsyncClient) -> None:
    page = await client.get("/simulator")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert '<script src="/simulator/static/simulator.js"' in page.text
    # The language control offers the locales of locales/, in menu order.
    assert re.findall(r'<option value="(\w+_\w+)">', page.text) == [
        "en_IN", "hi_IN", "pa_IN", "or_IN"]
    assert '<option value="hi_IN">हिंदी · Hindi</option>' in page.text
    for name, content_type in (("simulator.js", "text/javascript"),
                               ("simulator.css", "text/css"),
                               ("devanagari.ttf", "font/ttf")):
        asset = await client.get(f"/simulator/static/{name}")
        assert asset.status_code == 200, name
        assert asset.headers["content-type"].startswith(content_type)
    script = (await client.get("/simulator/static/simulator.js")).text
    assert "innerHTML" not in script  # all text goes in through textContent
    missing = await client.get("/simulator/static/..%2Fpage.py")
    assert missing.status_code == 404

    photo = _jpeg()
    stored = await client.post("/simulator/media",
                               files={"file": ("pole.jpg", photo, "image/jpeg")})
    assert stored.status_code == 201, stored.text
    body = stored.json()
    assert body["content_type"] == "image/jpeg"
    assert body["url"].startswith("http://127.0.0.1:8000/files/simulator/")
    download = await client.get(body["url"].removeprefix("http://127.0.0.1:8000"))
    assert download.status_code == 200 and len(download.content) == body["size"]
    # Stored re-encoded without metadata (tests/privacy/test_stored_images.py).
    assert Image.open(io.BytesIO(download.content)).size == (64, 48)

    not_a_photo = await client.post("/simulator/media",
                                    files={"file": ("notes.txt", b"hello", "text/plain")})
    assert not_a_photo.status_code == 400
    assert not_a_photo.json()["error"]["code"] == "unsupported_file_type"
    disguised = await client.post("/simulator/media",
                                  files={"file": ("x.png", b"GIF89a....", "image/png")})
    assert disguised.status_code == 400
    assert disguised.json()["error"]["code"] == "file_type_mismatch"
