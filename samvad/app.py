"""ASGI application assembly: core API, health, metrics; resources opened in the lifespan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse, RedirectResponse

from channels.registry import WEBHOOK_ROUTERS
from channels.simulator.endpoints import router as simulator_router
from channels.simulator.page import MEDIA_LINK_LIFETIME_S, HostedPhoto, PhotoHost
from channels.simulator.page import router as simulator_page_router
from core_api.api import build_api_router
from core_api.auth.tokens import service_token
from core_api.certificates.verify_page import router as certificate_verify_router
from core_api.dashboard.page import router as dashboard_page_router
from core_api.db import Database
from core_api.errors import install_error_handlers
from core_api.files.endpoints import router as files_router
from core_api.files.signing import signed_url
from core_api.files.store import (
    IMAGE_TYPES,
    MAX_IMAGE_BYTES,
    FileStore,
    LocalFileStore,
    check_upload,
)
from core_api.limits import install_body_limit
from core_api.links.pages import router as short_link_pages_router
from core_api.open311.endpoints import install_open311_errors
from core_api.open311.endpoints import router as open311_router
from core_api.payments.pages import router as payment_pages_router
from samvad import redis_runtime
from samvad.channels import build_channel_services
from samvad.dialog import build_conversations
from samvad.docs import install_docs
from samvad.logs import configure_logging
from samvad.metrics import metrics_endpoint
from samvad.readiness import readiness
from samvad.request_context import RequestIdMiddleware
from samvad.settings import Settings
from samvad.worker import LOOPS, run_background

DESCRIPTION = """
Samvad's core API: tenants and boundaries, users and roles, workflow, and the citizen
services behind the WhatsApp and SMS channel. Staff log in with **Authorize** (username
and password from `samvad seed --demo`). Every error answers with one envelope:
`{"error": {"code", "message", "details"}}`.
"""


def resolve_redis_url(settings: Settings) -> str:
    """The configured Redis, or the embedded one under the data directory."""
    if settings.redis_url:
        return settings.redis_url
    return redis_runtime.embedded_redis_url(settings.data_dir)


def build_file_store(settings: Settings) -> FileStore:
    """The S3-compatible bucket when SAMVAD_S3_BUCKET is set, else files under the data dir.

    boto3 is imported only here, when a bucket is configured: embedded mode and the CLI
    do not pay for its import.
    """
    if not settings.s3_bucket:
        return LocalFileStore(settings.data_dir / "files")
    from core_api.files.s3 import S3FileStore, s3_client

    secret = settings.s3_secret_access_key
    client = s3_client(
        endpoint_url=settings.s3_endpoint_url, region=settings.s3_region,
        access_key_id=settings.s3_access_key_id,
        secret_access_key=secret.get_secret_value() if secret is not None else None,
    )
    return S3FileStore(client, settings.s3_bucket, settings.s3_prefix)


def simulator_photo_host(app: FastAPI) -> PhotoHost:
    """The simulator page's photo uploads: checked and kept in core_api's file store, and
    answered with a signed link, as a provider hosts the photo a citizen sends."""

    async def host(data: bytes, content_type: str) -> HostedPhoto:
        check_upload(data, content_type, IMAGE_TYPES, MAX_IMAGE_BYTES)
        stored = await app.state.files.put(data, content_type, prefix="simulator")
        settings: Settings = app.state.settings
        url = signed_url(settings.public_url, settings.secret_key, stored.key,
                         lifetime_s=MEDIA_LINK_LIFETIME_S)
        return HostedPhoto(url, stored.content_type, stored.size)

    return host


async def open_resources(app: FastAPI) -> None:
    """Open the database engine and the Redis client the app's requests use."""
    settings: Settings = app.state.settings
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app.state.db = Database(settings.sqlalchemy_url, **settings.engine_options)
    app.state.files = build_file_store(settings)
    app.state.redis = redis_runtime.connect(resolve_redis_url(settings))
    app.state.conversations = build_conversations(app)
    app.state.channels = build_channel_services(app)


async def close_resources(app: FastAPI) -> None:
    """Close what open_resources opened."""
    await app.state.channels.http.aclose()
    await app.state.conversations.client.http.aclose()
    nlu_close = getattr(app.state.conversations.nlu, "aclose", None)
    if nlu_close is not None:  # the Rasa adapter owns an HTTP client
        await nlu_close()
    await app.state.redis.aclose()
    await app.state.files.aclose()
    await app.state.db.dispose()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    await open_resources(app)
    stop = asyncio.Event()
    background = None
    if app.state.settings.embedded:
        # One process is the whole system: the worker's loops run here too.
        background = asyncio.create_task(run_background(app, stop))
    try:
        yield
    finally:
        stop.set()
        if background is not None:
            await background
        await close_resources(app)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the Samvad web application for ``settings`` (read from the environment if None)."""
    settings = settings or Settings()
    configure_logging(json=settings.log_json, level=settings.log_level)

    app = FastAPI(
        title="Samvad",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc come from install_docs, with local assets
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.service_token = service_token(settings.secret_key)
    install_error_handlers(app)
    # Webhooks and the API refuse larger bodies with 413 (photo uploads allow 6 MB).
    install_body_limit(app, settings.max_body_bytes)
    app.include_router(build_api_router())
    app.include_router(files_router)
    app.include_router(payment_pages_router)
    app.include_router(short_link_pages_router)
    app.include_router(open311_router)
    install_open311_errors(app)
    app.include_router(certificate_verify_router)
    app.include_router(dashboard_page_router)
    for webhook_router in WEBHOOK_ROUTERS:
        app.include_router(webhook_router)
    if settings.simulator_enabled:
        app.include_router(simulator_router)
        app.include_router(simulator_page_router)
        app.state.simulator_photos = simulator_photo_host(app)
    install_docs(app)
    app.add_middleware(RequestIdMiddleware)
    app.add_api_route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)

    @app.get("/", include_in_schema=False)
    async def index() -> RedirectResponse:
        return RedirectResponse("/simulator" if settings.simulator_enabled else "/docs")

    @app.get("/healthz", tags=["health"], summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"],
             summary="Database, Redis, the background workers and Rasa are up (503: not)")
    async def readyz(optional: str = "") -> JSONResponse:
        """``optional=workers,rasa`` reports those parts without failing on them."""
        ready, body = await readiness(app, LOOPS, optional.split(","))
        return JSONResponse(body, status_code=200 if ready else 503)

    return app
