"""Assembles the dialog runtime: engine + Redis sessions + core-API client + NLU."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from bot.core_client import DEFAULT_TIMEOUT, CoreClient
from bot.engine import Engine
from bot.followup import CaseFollowUps
from bot.nlu import NLU
from bot.rasa_nlu import RasaNLU
from bot.runtime import BuiltinNLU, Conversations
from bot.session_store import SessionStore
from bot.slices import load_slices
from samvad.media import media_policy

INTERNAL_BASE_URL = "http://samvad.internal"


def core_http_client(app: FastAPI) -> httpx.AsyncClient:
    """HTTP to the core API: in-process over ASGI, or to SAMVAD_CORE_API_URL when set."""
    settings = app.state.settings
    if settings.core_api_url:
        return httpx.AsyncClient(base_url=settings.core_api_url, timeout=DEFAULT_TIMEOUT)
    # An unexpected error in the API (its database is down) must reach the bot as the 500
    # answer a separate deployment would give, not as the raw exception: the bot turns
    # answers into ServiceError ("nothing you entered is lost"), and the send worker's
    # best-effort delivery record must not abort the mailbox it is draining.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url=INTERNAL_BASE_URL,
                             timeout=DEFAULT_TIMEOUT)


def build_conversations(app: FastAPI) -> Conversations:
    """The conversation runtime for ``app`` (called once in the lifespan)."""
    slices = load_slices()
    client = CoreClient(core_http_client(app), app.state.service_token, slices.operations)
    client.media_policy = media_policy(app.state.settings)
    client.follow_ups = CaseFollowUps(app.state.redis)
    return Conversations(
        engine=Engine(slices.flows, slices.helpers),
        store=session_store(app),
        client=client,
        nlu=build_nlu(app, client),
    )


def session_store(app: FastAPI) -> SessionStore:
    """Conversation locks with the mailboxes' lease: a dead worker's conversations are free
    when its mailboxes are taken over, and a turn waits a little over one lease for them."""
    lease_s = app.state.settings.mailbox_lease_s
    return SessionStore(app.state.redis, lease_ms=round(lease_s * 1000), wait_s=lease_s + 1)


def build_nlu(app: FastAPI, client: CoreClient) -> NLU:
    """The built-in matcher; with SAMVAD_RASA_URL, Rasa first and the matcher as fallback."""
    builtin = BuiltinNLU(client)
    rasa_url = app.state.settings.rasa_url
    if not rasa_url:
        return builtin
    return RasaNLU(httpx.AsyncClient(), rasa_url, builtin)
