"""POST|GET /webhooks/whatsapp: signature, envelope parsing per message kind, statuses, refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from bot.messages import Inbound, InboundKind, Location, Media
from channels.meta_whatsapp import router, signature_header
from channels.queues import Admission, InboundQueue
from samvad.settings import Settings

TESTDATA = Path(__file__).resolve().parents[3] / "channels" / "meta_whatsapp" / "testdata"
SECRET = "meta-app-secret-for-tests"
VERIFY_TOKEN = "samvad-verify-token"
NUMBER_ID = "106540352242922"
MID = "wamid.HBgMOTE5ODc2NTAwMDAxFQIAEhggQTFCMkMzRDRFNUY2"
OUR_MESSAGE = "wamid.HBgMOTE5ODc2NTAwMDAxFQIAERgSQkM4QTVEMjBGQkFGNTUwQ0I5AA=="


class RecordingQueue(InboundQueue):
    """The real InboundQueue that also remembers what it queued."""

    def __init__(self, redis: Any) -> None:
        super().__init__(redis)
        self.puts: list[tuple[Inbound, str]] = []

    async def admit(self, inbound: Inbound, provider: str, **kwargs: Any) -> Admission:
        admission = await super().admit(inbound, provider, **kwargs)
        if admission in ("accept", "notice"):
            self.puts.append((inbound, provider))
        return admission


class RecordingStatuses:
    """Stands in for MessageStatusStore: remembers each status update."""

    def __init__(self) -> None:
        self.records: list[tuple[str, str, str, str | None, datetime | None]] = []

    async def update(self, provider: str, provider_message_id: str, status: str, *,
                     error_code: str | None = None, at: datetime | None = None) -> None:
        self.records.append((provider, provider_message_id, status, error_code, at))


def make_app(tmp_path: Path, redis: Any, **env: str) -> FastAPI:
    app = FastAPI()
    app.state.redis = redis
    app.include_router(router)
    values: dict[str, Any] = {
        "SAMVAD_DATA_DIR": tmp_path, "WHATSAPP_APP_SECRET": SECRET,
        "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN, "WHATSAPP_PHONE_NUMBER_ID": NUMBER_ID, **env}
    app.state.settings = Settings(**values)
    app.state.channels = SimpleNamespace(inbound=RecordingQueue(redis),
                                         statuses=RecordingStatuses())
    return app


@pytest.fixture
async def meta(tmp_path: Path, redis_client: Any,
               ) -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI]]:
    app = make_app(tmp_path, redis_client)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client, app


def fixture(name: str) -> bytes:
    return (TESTDATA / name).read_bytes()


async def post(client: httpx.AsyncClient, body: bytes, signature: str | None = "valid",
               ) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if signature == "valid":
        headers["X-Hub-Signature-256"] = signature_header(SECRET, body)
    elif signature is not None:
        headers["X-Hub-Signature-256"] = signature
    return await client.post("/webhooks/whatsapp", content=body, headers=headers)


def sunita(kind: InboundKind = "text", extra: dict[str, str] | None = None,
           **fields: Any) -> Inbound:
    """The Inbound our fixtures' citizen (+919876500001) produces, with ``fields`` set."""
    fields = {"message_id": MID, "received_at": 1732350000.0, **fields}
    return Inbound(channel="whatsapp", sender="+919876500001", kind=kind,
                   profile_name="सुनीता देवी", to="+919412055500",
                   extra={"phone_number_id": NUMBER_ID, **(extra or {})}, **fields)


REPLY = {"reply_to": OUR_MESSAGE}

# fixture -> the Inbound values it must enqueue, in order.
MESSAGE_CASES: list[tuple[str, list[Inbound]]] = [
    ("text.json", [sunita(text="नमस्ते, मुझे शिकायत दर्ज करनी है")]),
    ("interactive_button_reply.json", [sunita(
        text="हाँ", option_id="yes", extra={"interactive": "button_reply", **REPLY})]),
    ("interactive_list_reply.json", [Inbound(
        channel="whatsapp", sender="+919876500002", kind="text", text="Streetlights",
        option_id="cat.streetlights", profile_name="Rahul Verma",
        message_id="wamid.HBgMOTE5ODc2NTAwMDAyFQIAEhggTElTVFJFUExZMDAwMDAx",
        received_at=1732350000.0, to="+919412055500",
        extra={"interactive": "list_reply", "phone_number_id": NUMBER_ID, **REPLY})]),
    ("button_template_reply.json", [sunita(
        text="Open menu", option_id="menu", extra={"interactive": "template_button", **REPLY})]),
    ("location.json", [sunita("location", location=Location(
        30.3652, 78.0712, "Rajpur Road", "Rajpur Road, Dehradun, Uttarakhand"))]),
    ("image.json", [sunita("image", text="Streetlight broken near the school",
                           media=(Media("meta-media:1479537139650973", "image/jpeg"),))]),
    ("document.json", [sunita("document", text="Old receipt", media=(
        Media("meta-media:1012345678901234", "application/pdf", "receipt-2023.pdf"),))]),
    ("audio.json", [sunita("audio", media=(
        Media("meta-media:2209876543210987", "audio/ogg; codecs=opus"),))]),
    ("video.json", [sunita("video", media=(Media("meta-media:3301234567890123", "video/mp4"),))]),
    ("sticker.json", [sunita("sticker", media=(
        Media("meta-media:4401234567890123", "image/webp"),))]),
    ("contacts.json", [sunita("contacts")]),
    ("unsupported.json", [sunita("unsupported", extra={"error_code": "131051"})]),
    ("batch.json", [
        sunita(text="1", message_id="wamid.HBgMOTE5ODc2NTAwMDAxFQIAEhggQkFUQ0gwMDAwMDAwMDAwMDAx"),
        Inbound(channel="whatsapp", sender="+919876500002", text="Hi", profile_name="Rahul Verma",
                message_id="wamid.HBgMOTE5ODc2NTAwMDAyFQIAEhggQkFUQ0gwMDAwMDAwMDAwMDAy",
                received_at=1732350002.0, to="+919412055500",
                extra={"phone_number_id": NUMBER_ID}),
    ]),
]


@pytest.mark.parametrize(("name", "expected"), MESSAGE_CASES, ids=[c[0] for c in MESSAGE_CASES])
async def test_each_message_kind_is_enqueued_as_typed_inbound(
    meta: tuple[httpx.AsyncClient, FastAPI], name: str, expected: list[Inbound]
) -> None:
    client, app = meta
    response = await post(client, fixture(name))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ok"
    assert response.json()["messages"] == len(expected)
    assert app.state.channels.inbound.puts == [(inbound, "meta") for inbound in expected]


STATUS_CASES = [
    ("status_sent.json", "sent", None),
    ("status_delivered.json", "delivered", None),
    ("status_read.json", "read", None),
    ("status_failed.json", "failed", "131026"),
]


@pytest.mark.parametrize(("name", "status", "code"), STATUS_CASES,
                         ids=[c[0] for c in STATUS_CASES])
async def test_statuses_go_to_the_status_store(
    meta: tuple[httpx.AsyncClient, FastAPI], name: str, status: str, code: str | None,
) -> None:
    client, app = meta
    response = await post(client, fixture(name))
    assert response.status_code == 200
    assert response.json()["statuses"] == 1
    assert app.state.channels.statuses.records == [
        ("meta", OUR_MESSAGE, status, code, datetime.fromtimestamp(1732350060, UTC))]
    assert app.state.channels.inbound.puts == []


async def test_a_batch_carries_messages_and_statuses_together(
    meta: tuple[httpx.AsyncClient, FastAPI],
) -> None:
    client, app = meta
    response = await post(client, fixture("batch.json"))
    assert response.json() == {"status": "ok", "messages": 2, "statuses": 1, "ignored": []}
    [(_, wamid, status, _, _)] = app.state.channels.statuses.records
    assert (wamid, status) == ("wamid.HBgMOTE5ODc2NTAwMDAyFQIAERgSREVMSVZFUkVEMDAwMDAwMDAA",
                               "delivered")


async def test_a_redelivered_message_is_enqueued_once(
    meta: tuple[httpx.AsyncClient, FastAPI],
) -> None:
    client, app = meta
    first = await post(client, fixture("text.json"))
    again = await post(client, fixture("text.json"))
    assert first.json()["messages"] == 1
    assert again.status_code == 200
    assert again.json() == {"status": "ignored", "messages": 0, "statuses": 0, "ignored": [
        {"what": f"message:{MID}", "reason": "duplicate message id"}]}
    assert len(app.state.channels.inbound.puts) == 1


class FailingOnceQueue(RecordingQueue):
    """Redis is away for the first admission (its script never runs)."""

    async def admit(self, inbound: Inbound, provider: str, **kwargs: Any) -> Admission:
        if not getattr(self, "failed", False):
            self.failed = True
            raise ConnectionError("redis went away")
        return await super().admit(inbound, provider, **kwargs)


async def test_a_message_that_could_not_be_enqueued_is_taken_on_redelivery(
    meta: tuple[httpx.AsyncClient, FastAPI],
) -> None:
    client, app = meta
    app.state.channels.inbound = FailingOnceQueue(app.state.redis)
    with pytest.raises(ConnectionError):
        await post(client, fixture("text.json"))
    assert app.state.channels.inbound.puts == []
    response = await post(client, fixture("text.json"))
    assert response.json()["messages"] == 1
    assert app.state.channels.inbound.puts == [(sunita(text="नमस्ते, मुझे शिकायत दर्ज करनी है"),
                                             "meta")]


IGNORED_CASES = [
    ("reaction.json", "message:reaction"),
    ("system.json", "message:system"),
    ("unknown_type.json", "message:order"),
    ("echo.json", "field:smb_message_echoes"),
    ("status_unknown.json", "status:played"),
    ("other_number.json", "phone_number_id:999999999999999"),
]


@pytest.mark.parametrize(("name", "what"), IGNORED_CASES, ids=[c[0] for c in IGNORED_CASES])
async def test_skipped_events_answer_200_ignored_with_a_reason(
    meta: tuple[httpx.AsyncClient, FastAPI], name: str, what: str
) -> None:
    client, app = meta
    response = await post(client, fixture(name))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ignored"
    [ignored] = body["ignored"]
    assert ignored["what"] == what and ignored["reason"]
    assert app.state.channels.inbound.puts == []
    assert app.state.channels.statuses.records == []


TEXT = fixture("text.json")
REFUSED_CASES = [
    ("missing signature", TEXT, None, 403),
    ("forged signature", TEXT, signature_header("someone-else", TEXT), 403),
    ("tampered body", TEXT.replace(b"1732350000", b"1732350001"),
     signature_header(SECRET, TEXT), 403),
    ("garbage signature", TEXT, "sha256=" + "0" * 64, 403),
    ("sha1 scheme", TEXT, "sha1=" + signature_header(SECRET, TEXT)[7:], 403),
    ("not json", b"{not json", "valid", 400),
    ("json array", b"[]", "valid", 400),
    ("wrong object", b'{"object": "page", "entry": []}', "valid", 400),
    ("entry not a list", b'{"object": "whatsapp_business_account", "entry": {}}', "valid", 400),
    ("message without id", TEXT.replace(MID.encode(), b"").replace(b'"id": "",', b""),
     "valid", 400),
    ("location out of range",
     fixture("location.json").replace(b"30.3652", b"130.3652"), "valid", 400),
    ("interactive reply without id",
     fixture("interactive_button_reply.json").replace(b'"id": "yes",', b""), "valid", 400),
]


@pytest.mark.parametrize(("case", "body", "signature", "status"), REFUSED_CASES,
                         ids=[c[0] for c in REFUSED_CASES])
async def test_forged_and_malformed_requests_are_refused_without_side_effects(
    meta: tuple[httpx.AsyncClient, FastAPI], case: str, body: bytes, signature: str | None,
    status: int,
) -> None:
    client, app = meta
    response = await post(client, body, signature)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == (
        "invalid_signature" if status == 403 else "malformed_payload")
    assert app.state.channels.inbound.puts == []
    assert app.state.channels.statuses.records == []


async def test_without_an_app_secret_every_post_is_refused(
    tmp_path: Path, redis_client: Any
) -> None:
    app = make_app(tmp_path, redis_client, WHATSAPP_APP_SECRET="")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        body = fixture("text.json")
        response = await client.post("/webhooks/whatsapp", content=body,
                                     headers={"X-Hub-Signature-256": signature_header("", body)})
    assert response.status_code == 403
    assert app.state.channels.inbound.puts == []


async def test_an_oversized_body_is_refused_before_anything_else(
    meta: tuple[httpx.AsyncClient, FastAPI],
) -> None:
    client, app = meta
    body = orjson.dumps({"object": "whatsapp_business_account", "pad": "x" * (1024 * 1024)})
    response = await post(client, body)
    assert response.status_code == 413
    assert app.state.channels.inbound.puts == []


VERIFY_CASES = [
    ({"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"},
     200, "1158201444"),
    ({"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"}, 403, None),
    ({"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
     403, None),
    ({"hub.mode": "subscribe", "hub.challenge": "1"}, 403, None),
    ({"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN}, 400, None),
]


@pytest.mark.parametrize(("params", "status", "echo"), VERIFY_CASES)
async def test_verify_handshake_echoes_the_challenge_only_for_our_token(
    meta: tuple[httpx.AsyncClient, FastAPI], params: dict[str, str], status: int,
    echo: str | None,
) -> None:
    client, _ = meta
    response = await client.get("/webhooks/whatsapp", params=params)
    assert response.status_code == status
    if echo is not None:
        assert response.text == echo
        assert response.headers["content-type"].startswith("text/plain")


async def test_verify_handshake_is_refused_when_no_token_is_configured(
    tmp_path: Path, redis_client: Any
) -> None:
    app = make_app(tmp_path, redis_client, WHATSAPP_VERIFY_TOKEN="")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/webhooks/whatsapp", params={
            "hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"})
    assert response.status_code == 403


async def test_messages_reach_the_real_inbound_queue_in_order_with_the_window_touched(
    meta: tuple[httpx.AsyncClient, FastAPI], redis_client: Any
) -> None:
    client, app = meta
    queue = InboundQueue(redis_client)
    app.state.channels.inbound = queue
    location = fixture("location.json").replace(MID.encode(), f"{MID}location.json".encode())
    for body in (fixture("text.json"), location, fixture("text.json")):  # the repeat is dropped
        assert (await post(client, body)).status_code == 200
    waiting = await queue.waiting("whatsapp", "+919876500001")
    assert [(m.kind, m.message_id) for m in waiting] == [
        ("text", MID), ("location", f"{MID}location.json")]
    assert waiting[1].location == Location(
        30.3652, 78.0712, "Rajpur Road", "Rajpur Road, Dehradun, Uttarakhand")
    assert await queue.windows.last_inbound("whatsapp", "+919876500001") is not None
