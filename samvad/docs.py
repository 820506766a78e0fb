"""API docs that work on an intranet: /docs (Swagger UI) and /redoc load their scripts,
styles and icon from Samvad itself (/static/docs/, the files of the ``fastapi_offline``
package), never from a CDN, and no web fonts are fetched.

ReDoc's bundle links the "API docs by Redocly" logo to cdn.redoc.ly; the copy served here
shows a blank image instead, so that reading the docs sends nothing to another host.

Swagger UI keeps FastAPI's OAuth2 set-up: **Authorize** runs the password flow against
``/api/v1/auth/token`` and ``/docs/oauth2-redirect`` is served as FastAPI serves it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import FileResponse, HTMLResponse, Response

from core_api.errors import NotFound

ASSETS_PATH = "/static/docs"
ASSETS_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
# Swagger UI's default validator is an outside service: switched off.
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}
ASSET_HEADERS = {"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"}
REDOC_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
BLANK_GIF = b"data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"


@cache
def _redoc_bundle() -> bytes:
    """ReDoc's bundle without its one outside request (the Redocly logo)."""
    return (ASSETS_DIR / "redoc.standalone.js").read_bytes().replace(REDOC_LOGO, BLANK_GIF)


def install_docs(app: FastAPI, *, docs_url: str = "/docs", redoc_url: str = "/redoc") -> None:
    """Serve the docs pages and their assets; ``app`` is made with docs_url=None and
    redoc_url=None (so FastAPI's CDN pages are not added)."""
    openapi_url = app.openapi_url or "/openapi.json"
    oauth2_redirect_url = app.swagger_ui_oauth2_redirect_url or f"{docs_url}/oauth2-redirect"
    parameters = {**SWAGGER_UI_PARAMETERS, **(app.swagger_ui_parameters or {})}

    def root(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    @app.get(docs_url, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        prefix = root(request)
        return get_swagger_ui_html(
            openapi_url=prefix + openapi_url, title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{prefix}{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{prefix}{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{prefix}{ASSETS_PATH}/favicon.png",
            oauth2_redirect_url=prefix + oauth2_redirect_url,
            init_oauth=app.swagger_ui_init_oauth, swagger_ui_parameters=parameters)

    @app.get(oauth2_redirect_url, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(redoc_url, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        prefix = root(request)
        return get_redoc_html(
            openapi_url=prefix + openapi_url, title=f"{app.title} - ReDoc",
            redoc_js_url=f"{prefix}{ASSETS_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{prefix}{ASSETS_PATH}/favicon.png", with_google_fonts=False)

    @app.get(ASSETS_PATH + "/{name}", include_in_schema=False)
    async def docs_asset(name: str) -> Response:
        media_type = ASSETS.get(name)
        if media_type is None:
            raise NotFound("No such file.", code="not_found")
        if name == "redoc.standalone.js":
            return Response(_redoc_bundle(), media_type=media_type, headers=ASSET_HEADERS)
        return FileResponse(ASSETS_DIR / name, media_type=media_type, headers=ASSET_HEADERS)
