"""Filing a complaint with a photo on WhatsApp: the photo sent is fetched and attached after
the complaint is created, through the real core API (the download itself is faked)."""

from __future__ import annotations

import io
import re
from typing import Any

import httpx
from PIL import Image

from bot.core_client import CallContext
from bot.session import Session
from bot.shared_actions import complaint_photos
from flows.file_complaint import actions

CITIZEN = "+919876500002"
PHOTO_URL = "https://media.example.test/photo-1.jpg"


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 160, 40)).save(buffer, format="JPEG")
    return buffer.getvalue()


async def _say(client: httpx.AsyncClient, message: dict[str, Any]) -> str:
    response = await client.post("/simulator/messages",
                                 json={"from": CITIZEN, "channel": "whatsapp", **message})
    assert response.status_code == 200, response.text
    return "\n".join(reply["text"] for reply in response.json()["replies"])


async def test_a_photo_sent_on_whatsapp_is_attached_to_the_filed_complaint(
        client: httpx.AsyncClient, auth: Any, settings: Any, monkeypatch: Any) -> None:
    fetched: list[str] = []
    photo = _jpeg()

    async def fake_fetch(url: str, policy: Any = None) -> tuple[bytes, str]:
        fetched.append(url)
        return photo, "image/jpeg"

    monkeypatch.setattr(actions, "fetch_media", fake_fetch)
    for text in ("hi", "1", "Streetlights", "Streetlight not working", "Send location"):
        await _say(client, {"text": text})
    assert "Is the problem in Rajpur, Dehradun?" in await _say(
        client, {"location": {"lat": 30.3779, "lng": 78.0886}})
    assert "Send a photo" in await _say(client, {"text": "yes"})
    await _say(client, {"media": [{"url": PHOTO_URL, "content_type": "image/jpeg"}]})
    summary = await _say(client, {"text": "Pole 14 near the school gate"})
    assert "Photos: 1" in summary and "Details: Pole 14 near the school gate" in summary
    assert fetched == []  # nothing is downloaded before the complaint exists

    done = await _say(client, {"text": "yes"})
    number = re.search(r"Complaint (PG-UK-DDN-\d{4}-\d{6}) is filed", done)
    assert number is not None, done
    assert f"Your photo is attached to complaint {number.group(1)}." in done
    assert fetched == [PHOTO_URL]

    response = await client.get(f"/api/v1/complaints/{number.group(1)}",
                                headers=auth.service(CITIZEN))
    assert response.status_code == 200, response.text
    complaint = response.json()
    assert complaint["photo_count"] == 1
    assert complaint["photos"][0]["content_type"] == "image/jpeg"
    stored = await client.get(complaint["photos"][0]["url"].removeprefix(settings.public_url))
    assert stored.status_code == 200, stored.text
    # The photo is stored re-encoded without metadata (tests/privacy/test_stored_images.py).
    assert complaint["photos"][0]["size"] == len(stored.content)
    assert Image.open(io.BytesIO(stored.content)).size == (32, 24)
    assert complaint["type"]["code"] == "StreetLightNotWorking"
    assert complaint["locality"]["code"] == "uk.dehradun.rajpur"
    assert (complaint["lat"], complaint["lng"]) == (30.3779, 78.0886)
    assert complaint["description"] == "Pole 14 near the school gate"
    assert complaint["source"] == "whatsapp"


def test_photo_links_of_every_provider_are_kept_and_anything_else_dropped() -> None:
    sent = [{"url": PHOTO_URL, "content_type": "image/jpeg"},
            {"url": "meta-media:1479537139650973", "content_type": "image/jpeg"},
            {"url": "file:///etc/passwd", "content_type": "image/jpeg"},
            {"url": "meta-media:../../v21.0/me", "content_type": "image/jpeg"},
            "meta-media:2", {"url": "http://x.test/2.jpg"}, {"url": "http://x.test/3.jpg"}]
    kept = complaint_photos({"photos": sent}, Session())
    assert kept == {"photos": [PHOTO_URL, "meta-media:1479537139650973",
                               "http://x.test/2.jpg"]}
    assert complaint_photos({"photos": None}, Session()) == {"photos": []}


async def test_photos_attached_by_an_earlier_run_of_the_turn_are_not_attached_again(
        monkeypatch: Any) -> None:
    """The filing answered again (its turn re-run after a worker died) says how many photos
    the complaint has; only the rest are fetched and attached."""
    fetched: list[str] = []
    posted: list[str] = []

    async def fake_fetch(url: str, policy: Any = None) -> tuple[bytes, str]:
        fetched.append(url)
        return b"jpeg", "image/jpeg"

    async def fake_post(client: Any, number: str, phone: str, data: bytes,
                        content_type: str) -> httpx.Response:
        posted.append(number)
        return httpx.Response(201)

    monkeypatch.setattr(actions, "fetch_media", fake_fetch)
    monkeypatch.setattr(actions, "post_complaint_photo", fake_post)
    client: Any = type("Client", (), {"media_policy": None})()
    second = "https://media.example.test/photo-2.jpg"
    ctx = CallContext(Session(), CITIZEN)
    result = await actions.complaint_attach_photos(
        client, {"id": "PG-UK-DDN-2026-000001", "photos": [PHOTO_URL, second],
                 "already": "1"}, ctx)
    assert result == {"added": 1, "failed": 0}
    assert fetched == [second] and posted == ["PG-UK-DDN-2026-000001"]
