"""The whole Meta path in the real app: signed webhook -> queue -> turn -> MetaSender -> status."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from channels.meta_whatsapp import MetaSender, signature_header
from core_api.messaging.models import ChannelMessage
from samvad.settings import Settings
from samvad.worker import build_inbound_worker, build_send_worker

TESTDATA = Path(__file__).resolve().parents[3] / "channels" / "meta_whatsapp" / "testdata"
SECRET = "e2e-app-secret"
NUMBER_ID = "106540352242922"
GRAPH = "https://graph.fake"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The suite's settings with Meta configured (its Graph API is a local fake)."""
    return settings.model_copy(update={
        "whatsapp_app_secret": SECRET, "whatsapp_verify_token": "e2e-verify",
        "whatsapp_phone_number_id": NUMBER_ID, "whatsapp_access_token": "EAAG-e2e",
        "whatsapp_api_base": GRAPH})


async def signed_post(client: httpx.AsyncClient, payload: Any) -> httpx.Response:
    body = json.dumps(payload, ensure_ascii=False).encode()
    return await client.post("/webhooks/whatsapp", content=body, headers={
        "Content-Type": "application/json", "X-Hub-Signature-256": signature_header(SECRET, body)})


async def test_a_citizen_message_is_answered_through_the_graph_api_and_tracked(
    app: Any, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    sent: list[dict[str, Any]] = []

    def graph(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer EAAG-e2e"
        assert str(request.url) == f"{GRAPH}/v21.0/{NUMBER_ID}/messages"
        sent.append(json.loads(request.content))
        return httpx.Response(200, json={"messaging_product": "whatsapp", "messages": [
            {"id": f"wamid.reply{len(sent)}"}]})

    http = httpx.AsyncClient(transport=httpx.MockTransport(graph))
    app.state.channels.senders["meta"] = MetaSender(
        http, api_base=GRAPH, access_token="EAAG-e2e", phone_number_id=NUMBER_ID)

    inbound = json.loads((TESTDATA / "text.json").read_text())
    inbound["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"] = "menu"
    response = await signed_post(client, inbound)
    assert response.json()["messages"] == 1
    assert sent == []  # the webhook answered before any turn ran

    assert await build_inbound_worker(app).consume_once() == 1
    assert await build_send_worker(app).consume_once() >= 1
    await http.aclose()
    assert sent and all(body["to"] == "919876500001" for body in sent)
    assert sent[-1]["type"] in ("interactive", "text")

    last = f"wamid.reply{len(sent)}"
    status = json.loads((TESTDATA / "status_delivered.json").read_text())
    status["entry"][0]["changes"][0]["value"]["statuses"][0]["id"] = last
    assert (await signed_post(client, status)).json()["statuses"] == 1

    rows = (await session.scalars(select(ChannelMessage).where(
        ChannelMessage.provider == "meta"))).all()
    delivered = [row for row in rows if row.provider_message_id == last]
    assert [(row.status, row.to, row.channel) for row in delivered] == [
        ("delivered", "+919876500001", "whatsapp")]
    assert delivered[0].job_id is not None and delivered[0].job_id.startswith(
        "wamid.HBgMOTE5ODc2NTAwMDAxFQIAEhggQTFCMkMzRDRFNUY2:")
