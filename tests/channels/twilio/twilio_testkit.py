"""Twilio test helpers: payload fixtures, signing with the SDK, recording fakes, a small app."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode

import httpx
from fastapi import FastAPI
from twilio.request_validator import RequestValidator

import channels.twilio
from bot.messages import Inbound
from channels.queues import Admission, InboundQueue
from channels.twilio import router as twilio_router
from core_api.errors import install_error_handlers
from samvad.settings import Settings
from tests.channels.twilio.messages_list import TwilioMessageLog

TESTDATA = Path(channels.twilio.__file__).parent / "testdata"
AUTH_TOKEN = "0123456789abcdef0123456789abcdef"
ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
PUBLIC_URL = "https://samvad.example.in"
API_BASE = "http://twilio.test"  # TWILIO_API_BASE of the local fake

Pairs = list[tuple[str, str]]


def payload(name: str) -> Pairs:
    """The form fields of ``testdata/<name>.txt`` in order, values decoded."""
    pairs: Pairs = []
    for line in (TESTDATA / f"{name}.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            pairs.extend(parse_qsl(line, keep_blank_values=True, strict_parsing=True))
    return pairs


def answer(name: str) -> dict[str, Any]:
    """A Messages REST API answer from ``testdata/<name>.json``."""
    return json.loads((TESTDATA / f"{name}.json").read_text())


def sign(url: str, pairs: Pairs, token: str = AUTH_TOKEN) -> str:
    """``X-Twilio-Signature`` for a POST of ``pairs`` to ``url``, computed by the SDK."""
    return RequestValidator(token).compute_signature(url, dict(pairs))


def signed_post(path: str, pairs: Pairs, *, url: str | None = None,
                token: str = AUTH_TOKEN) -> dict[str, Any]:
    """Keyword arguments for ``client.post`` of a request Twilio signed for ``url``."""
    signature = sign(url or PUBLIC_URL + path, pairs, token)
    return {"content": urlencode(pairs),
            "headers": {"Content-Type": "application/x-www-form-urlencoded",
                        "X-Twilio-Signature": signature}}


class RecordingQueue(InboundQueue):
    """The real ``InboundQueue`` that also remembers what it queued (the notices too), or
    fails before its admission script runs (Redis down) when told."""

    def __init__(self, redis: Any) -> None:
        super().__init__(redis)
        self.items: list[tuple[Inbound, str]] = []
        self.notices: list[str | None] = []  # message ids queued as the flood notice
        self.fail = False

    async def admit(self, inbound: Inbound, provider: str, **kwargs: Any) -> Admission:
        if self.fail:
            raise ConnectionError("queue down")
        admission = await super().admit(inbound, provider, **kwargs)
        if admission in ("accept", "notice"):
            self.items.append((inbound, provider))
        if admission == "notice":
            self.notices.append(inbound.message_id)
        return admission


class RecordingStatuses:
    """A ``MessageStatusStore`` stand-in: remembers the status callbacks applied."""

    def __init__(self) -> None:
        self.updates: list[tuple[str, str, str, str | None]] = []

    async def update(self, provider: str, provider_message_id: str, status: str, *,
                     error_code: str | None = None, at: Any = None) -> None:
        self.updates.append((provider, provider_message_id, status, error_code))


def webhook_app(redis: Any, *, token: str | None = AUTH_TOKEN) -> FastAPI:
    """Only the Twilio routes; ``app.state.channels`` holds recording fakes."""
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(twilio_router)
    app.state.settings = Settings(SAMVAD_ENV="development", SAMVAD_PUBLIC_URL=PUBLIC_URL,
                                  TWILIO_AUTH_TOKEN=token)
    app.state.redis = redis
    app.state.channels = SimpleNamespace(inbound=RecordingQueue(redis),
                                         statuses=RecordingStatuses())
    return app


class Lost:
    """A scripted reply: Twilio accepts the message, and its answer never arrives."""


LOST = Lost()
Reply = httpx.Response | Exception | Lost


def created(sid: str | None = None) -> httpx.Response:
    """Twilio's 201 answer to a message create (with another ``sid`` when given)."""
    body = answer("message_created")
    return httpx.Response(201, json={**body, "sid": sid or body["sid"]})


def refused(name: str) -> httpx.Response:
    """Twilio's error answer from ``testdata/<name>.json``."""
    body = answer(name)
    return httpx.Response(body["status"], json=body)


class FakeTwilio:
    """The Messages API for ``httpx.MockTransport``: checks each request as Twilio would,
    records its form and answers from the script (then 201 with fresh sids if told).
    Accepted messages are listed by ``GET Messages.json`` (``messages_list``) on the clock
    ``now``; ``list_down`` makes the list answer 500 (Twilio down)."""

    def __init__(self, *replies: Reply, keep_accepting: bool = False,
                 now: Callable[[], float] = time.time) -> None:
        self.replies = list(replies)
        self.keep_accepting = keep_accepting
        self.forms: list[dict[str, list[str]]] = []
        self.log = TwilioMessageLog(ACCOUNT_SID, now)
        self.list_down = False
        self.lookups: list[dict[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.copy_with(query=None) == (
            f"{API_BASE}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json")
        credentials = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        assert request.headers["Authorization"] == f"Basic {credentials}"
        if request.method == "GET":
            return self._list(request)
        assert request.method == "POST"
        assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
        form = parse_qs(request.content.decode(), keep_blank_values=True)
        self.forms.append(form)
        if not self.replies and self.keep_accepting:
            return httpx.Response(201, json=self.log.accept(form, f"SM{len(self.forms):032x}"))
        reply = self.replies.pop(0)
        if isinstance(reply, Lost):
            self.log.accept(form, f"SM{len(self.forms):032x}")
            raise httpx.ReadTimeout("the answer was lost", request=request)
        if isinstance(reply, Exception):
            raise reply
        if reply.is_success:  # accepted, whatever the answer says (a fresh sid if none)
            try:
                sid = reply.json().get("sid")
            except (ValueError, AttributeError):
                sid = None
            self.log.accept(form, sid)
        return reply

    def _list(self, request: httpx.Request) -> httpx.Response:
        query = dict(request.url.params)
        self.lookups.append(query)
        if self.list_down:
            return refused("error_20500")
        return httpx.Response(200, json=self.log.page(query))
