"""/docs and /redoc on an intranet: their scripts, styles and icon come from Samvad
(/static/docs/), nothing from another host; and in a real browser with every request
to another host blocked, Swagger UI lists the operations and Authorize logs in."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from samvad.app import create_app
from samvad.settings import Settings
from tests.channels.test_simulator_page import (  # noqa: F401 - fixtures
    CHROMIUM,
    CHROMIUM_ARGS,
    live_url,
    playwright_api,
)

TIMEOUT_MS = 15_000
ASSETS = {
    "/static/docs/swagger-ui-bundle.js": "javascript",
    "/static/docs/swagger-ui.css": "text/css",
    "/static/docs/redoc.standalone.js": "javascript",
    "/static/docs/favicon.png": "image/png",
}


@pytest.fixture
def backend() -> str:
    """The page is the subject here, not the database: one backend is enough."""
    return "sqlite"


@pytest.fixture
async def docs_client(tmp_path: Path) -> Any:
    """The app without its resources: the docs pages and assets need none."""
    app = create_app(Settings(SAMVAD_ENV="development", SAMVAD_DATA_DIR=tmp_path))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def _links(html: str) -> list[str]:
    return re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)


async def test_docs_pages_reference_only_local_assets(docs_client: httpx.AsyncClient) -> None:
    for page, assets in (("/docs", {"/static/docs/swagger-ui-bundle.js",
                                    "/static/docs/swagger-ui.css", "/static/docs/favicon.png"}),
                         ("/redoc", {"/static/docs/redoc.standalone.js",
                                     "/static/docs/favicon.png"})):
        response = await docs_client.get(page)
        assert response.status_code == 200, page
        assert response.headers["content-type"].startswith("text/html")
        html = response.text
        assert re.findall(r"(?i)\b(?:https?:)?//[\w.-]+", html) == [], page  # no other host
        assert set(_links(html)) == assets, (page, _links(html))
        assert "fonts.googleapis" not in html and "cdn." not in html
    swagger = (await docs_client.get("/docs")).text
    assert "'/openapi.json'" in swagger and "/docs/oauth2-redirect" in swagger
    assert '"validatorUrl": null' in swagger  # Swagger UI's outside validator is off
    redirect = await docs_client.get("/docs/oauth2-redirect")
    assert redirect.status_code == 200 and "oauth2" in redirect.text
    schema = (await docs_client.get("/openapi.json")).json()
    password = schema["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"]
    assert password["password"]["tokenUrl"] == "/api/v1/auth/token"


async def test_docs_assets_are_served(docs_client: httpx.AsyncClient) -> None:
    for path, content_type in ASSETS.items():
        response = await docs_client.get(path)
        assert response.status_code == 200, path
        assert content_type in response.headers["content-type"], (path, response.headers)
        assert len(response.content) > 1000, path
        assert response.headers["x-content-type-options"] == "nosniff"
    redoc = await docs_client.get("/static/docs/redoc.standalone.js")
    assert b"cdn.redoc.ly" not in redoc.content  # its logo would be the one outside request
    for missing in ("/static/docs/core.py", "/static/docs/..%2F__init__.py",
                    "/static/docs/../__init__.py"):
        assert (await docs_client.get(missing)).status_code == 404, missing
    assert "/static/docs/{name}" not in (await docs_client.get("/openapi.json")).text


async def test_docs_render_and_authorize_with_no_internet(
        playwright_api: Any, live_url: str) -> None:  # noqa: F811 - the fixtures above
    expect = playwright_api.expect
    expect.set_options(timeout=TIMEOUT_MS)
    outside: list[str] = []
    problems: list[str] = []

    async def only_this_server(route: Any) -> None:
        url = route.request.url
        if url.startswith(("data:", "blob:")) or urlsplit(url).hostname == "127.0.0.1":
            await route.continue_()
        else:  # what an intranet without internet does
            outside.append(url)
            await route.abort("internetdisconnected")

    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 900})
            await context.route("**/*", only_this_server)
            page = await context.new_page()
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))

            response = await page.goto(f"{live_url}/docs")
            assert response is not None and response.status == 200
            await expect(page.locator(".opblock").first).to_be_visible()
            me = page.locator(".opblock", has=page.locator(
                '.opblock-summary-path[data-path="/api/v1/auth/me"]'))
            await expect(me).to_have_count(1)

            # Authorize: the OAuth2 password flow against /api/v1/auth/token.
            await page.locator(".auth-wrapper button.authorize").click()
            await page.fill("#oauth_username", "admin")
            await page.fill("#oauth_password", "samvad-demo")
            await page.locator(".auth-btn-wrapper button.authorize").click()
            await expect(page.locator(".auth-btn-wrapper button", has_text="Logout")
                         ).to_be_visible()
            await page.locator(".auth-btn-wrapper button.btn-done").click()

            # The token is then sent: "who am I" answers for the state administrator.
            await me.locator(".opblock-summary").click()
            await me.locator("button.try-out__btn").click()
            await me.locator("button.execute").click()
            status = me.locator(".live-responses-table .response .response-col_status").first
            await expect(status).to_have_text("200")
            await expect(me.locator(".live-responses-table .microlight").first
                         ).to_contain_text('"role": "ADMIN"')

            response = await page.goto(f"{live_url}/redoc")
            assert response is not None and response.status == 200
            await expect(page.locator(".api-info h1")).to_contain_text("Samvad")
            await expect(page.locator("h2", has_text="Download a file by signed link")
                         ).to_be_visible()
        finally:
            await browser.close()
    assert outside == []  # nothing even tried to reach another host
    assert problems == []
