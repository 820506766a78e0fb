"""A photo sent over the Meta WhatsApp Cloud API reaches the filed complaint (issue 15).

Every message goes the production way: a webhook signed with ``X-Hub-Signature-256``,
the inbound worker runs the turn, the send worker delivers the replies to a fake Graph
API. The same fake speaks Meta's media wire format: ``GET /{version}/{media-id}`` answers
the lookup JSON (``url``, ``mime_type``, ``sha256``, ``file_size``), and the download
link answers the bytes; both only with the bearer token. The photo is then found on the
complaint through the core API. When Meta cannot give the photo, the complaint is filed
anyway, the citizen is told politely, and the log names the reason without the number
or the token.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import logging
import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from channels.meta_whatsapp import MetaSender, signature_header
from channels.queues import channels_of
from samvad.logs import log_handler
from samvad.settings import Settings
from samvad.worker import build_inbound_worker, build_send_worker

TESTDATA = Path(__file__).resolve().parents[3] / "channels" / "meta_whatsapp" / "testdata"
SECRET = "photo-app-secret"
TOKEN = "EAAG-photo-token"
NUMBER_ID = "106540352242922"
GRAPH = "https://graph.fake"
CITIZEN = "+919876500002"  # English, in the demo data
MEDIA_ID = "1479537139650973"  # the id image.json carries
DOWNLOAD = (f"https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid={MEDIA_ID}"
            "&ext=1732350900&hash=ATsQ")
COMPLAINT = re.compile(r"Complaint (PG-UK-DDN-\d{4}-\d{6}) is filed")
_ids = itertools.count(1)

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The suite's settings with Meta configured (its Graph API is the fake below)."""
    return settings.model_copy(update={
        "whatsapp_app_secret": SECRET, "whatsapp_verify_token": "photo-verify",
        "whatsapp_phone_number_id": NUMBER_ID, "whatsapp_access_token": TOKEN,
        "whatsapp_api_base": GRAPH})


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (30, 90, 200)).save(buffer, format="JPEG")
    return buffer.getvalue()


class FakeGraph:
    """Meta's Graph API for httpx.MockTransport: /messages, the media lookup, the download.

    ``lookup`` / ``download`` replace the real answers (a failure case)."""

    def __init__(self, photo: bytes, lookup: httpx.Response | None = None,
                 download: httpx.Response | None = None) -> None:
        self.photo = photo
        self.lookup = lookup
        self.download = download
        self.sent: list[dict[str, Any]] = []  # the /messages bodies, in order
        self.media_requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return httpx.Response(401, json={"error": {
                "message": "Invalid OAuth access token.", "type": "OAuthException",
                "code": 190, "fbtrace_id": "AbCdEf"}})
        url = str(request.url)
        if request.method == "POST" and url == f"{GRAPH}/v21.0/{NUMBER_ID}/messages":
            body = json.loads(request.content)
            self.sent.append(body)
            return httpx.Response(200, json={
                "messaging_product": "whatsapp",
                "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                "messages": [{"id": f"wamid.reply{len(self.sent)}"}]})
        if request.method == "GET" and url.split("?")[0] == f"{GRAPH}/v21.0/{MEDIA_ID}":
            self.media_requests.append(request)
            if self.lookup is not None:
                return self.lookup
            info = json.loads((TESTDATA / "media_lookup.json").read_text())
            info.update(url=DOWNLOAD, sha256=hashlib.sha256(self.photo).hexdigest(),
                        file_size=str(len(self.photo)))
            return httpx.Response(200, json=info)
        if request.method == "GET" and url == DOWNLOAD:
            self.media_requests.append(request)
            if self.download is not None:
                return self.download
            return httpx.Response(200, content=self.photo, headers={
                "content-type": "image/jpeg", "content-length": str(len(self.photo))})
        return httpx.Response(404, json={"error": {"message": "Unknown path", "code": 100}})

    def texts(self, since: int) -> str:
        """What the citizen read in the messages sent from index ``since`` on."""
        out = []
        for body in self.sent[since:]:
            assert body["to"] == CITIZEN.removeprefix("+")
            if body["type"] == "text":
                out.append(body["text"]["body"])
            elif body["type"] == "interactive":
                out.append(body["interactive"]["body"]["text"])
        return "\n".join(out)


class Phone:
    """The citizen on WhatsApp: each message a signed Cloud API webhook, then one turn."""

    def __init__(self, client: httpx.AsyncClient, app: Any, graph: FakeGraph) -> None:
        self.client, self.app, self.graph = client, app, graph

    async def send(self, message: dict[str, Any]) -> str:
        envelope = json.loads((TESTDATA / "image.json").read_text())
        value = envelope["entry"][0]["changes"][0]["value"]
        wa_id = CITIZEN.removeprefix("+")
        value["contacts"] = [{"profile": {"name": "Rahul Verma"}, "wa_id": wa_id}]
        value["messages"] = [{"from": wa_id, "id": f"wamid.photo{next(_ids):012d}",
                              "timestamp": str(int(time.time())), **message}]
        body = json.dumps(envelope, ensure_ascii=False).encode()
        answer = await self.client.post("/webhooks/whatsapp", content=body, headers={
            "Content-Type": "application/json",
            "X-Hub-Signature-256": signature_header(SECRET, body)})
        assert answer.status_code == 200 and answer.json()["messages"] == 1, answer.text
        before = len(self.graph.sent)
        assert await build_inbound_worker(self.app).consume_once() == 1
        while await build_send_worker(self.app).consume_once():
            pass
        return self.graph.texts(before)

    async def text(self, body: str) -> str:
        return await self.send({"type": "text", "text": {"body": body}})

    async def photo(self) -> str:
        image = json.loads((TESTDATA / "image.json").read_text())
        message = image["entry"][0]["changes"][0]["value"]["messages"][0]
        assert message["image"]["id"] == MEDIA_ID
        return await self.send({"type": "image", "image": message["image"]})


async def _file_with_photo(client: httpx.AsyncClient, app: Any, graph: FakeGraph) -> str:
    """The whole WhatsApp conversation, a photo at the photo question: the summary checked,
    the answer to the final "yes" returned."""
    http = httpx.AsyncClient(transport=httpx.MockTransport(graph))
    channels_of(app).senders["meta"] = MetaSender(
        http, api_base=GRAPH, access_token=TOKEN, phone_number_id=NUMBER_ID)
    dialog = app.state.conversations.client
    dialog.media_policy = replace(dialog.media_policy, transport=httpx.MockTransport(graph))
    phone = Phone(client, app, graph)
    try:
        for text in ("hi", "1", "Streetlights", "Streetlight not working", "Send location"):
            await phone.text(text)
        assert "Is the problem in Rajpur, Dehradun?" in await phone.send(
            {"type": "location", "location": {"latitude": 30.3779, "longitude": 78.0886}})
        assert "Send a photo" in await phone.text("yes")
        await phone.photo()
        summary = await phone.text("Pole 14 near the school gate")
        assert "Photos: 1" in summary, summary
        assert graph.media_requests == []  # nothing is downloaded before the complaint exists
        return await phone.text("yes")
    finally:
        await http.aclose()


async def _complaint(client: httpx.AsyncClient, auth: Any, done: str) -> dict[str, Any]:
    number = COMPLAINT.search(done)
    assert number is not None, done
    response = await client.get(f"/api/v1/complaints/{number.group(1)}",
                                headers=auth.service(CITIZEN))
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_a_photo_sent_over_meta_is_fetched_and_attached_to_the_complaint(
        client: httpx.AsyncClient, app: Any, auth: Any, settings: Settings) -> None:
    photo = _jpeg()
    graph = FakeGraph(photo)
    done = await _file_with_photo(client, app, graph)
    complaint = await _complaint(client, auth, done)
    assert f"Your photo is attached to complaint {complaint['id']}." in done

    # The Graph API saw the media lookup, then the download, both with the bearer token.
    lookup, download = graph.media_requests
    assert (lookup.method, str(lookup.url)) == ("GET", f"{GRAPH}/v21.0/{MEDIA_ID}")
    assert (download.method, str(download.url)) == ("GET", DOWNLOAD)
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in graph.media_requests)

    assert complaint["photo_count"] == 1
    stored = complaint["photos"][0]
    assert stored["content_type"] == "image/jpeg"
    assert complaint["type"]["code"] == "StreetLightNotWorking"
    assert complaint["source"] == "whatsapp"
    fetched = await client.get(stored["url"].removeprefix(settings.public_url))
    assert fetched.status_code == 200
    # Stored re-encoded without metadata (tests/privacy/test_stored_images.py).
    assert len(fetched.content) == stored["size"]
    assert Image.open(io.BytesIO(fetched.content)).size == Image.open(io.BytesIO(photo)).size


FAILURES = [
    ("lookup 404: the media id expired", httpx.Response(404, json={"error": {
        "message": "(#100) Invalid parameter", "type": "OAuthException", "code": 100,
        "fbtrace_id": "AbCdEf"}}), None, "media lookup answered HTTP 404", 1),
    ("download 500", None, httpx.Response(500, text="Internal Server Error"),
     "media download answered HTTP 500", 2),
    ("not an image", httpx.Response(200, json={
        "messaging_product": "whatsapp", "url": DOWNLOAD, "mime_type": "text/html",
        "sha256": "0" * 64, "file_size": "15", "id": MEDIA_ID}),
     httpx.Response(200, content=b"<html>no</html>", headers={"content-type": "text/html"}),
     "not a photo: text/html", 2),
]


@pytest.mark.parametrize(("case", "lookup", "download", "reason", "requests"), FAILURES,
                         ids=[c[0].split(":")[0] for c in FAILURES])
async def test_a_photo_meta_cannot_give_costs_neither_the_complaint_nor_the_turn(
        client: httpx.AsyncClient, app: Any, auth: Any, case: str,
        lookup: httpx.Response | None, download: httpx.Response | None, reason: str,
        requests: int) -> None:
    graph = FakeGraph(_jpeg(), lookup=lookup, download=download)
    buffer = io.StringIO()
    handler = log_handler(buffer, json=True)
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    try:
        done = await _file_with_photo(client, app, graph)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)

    complaint = await _complaint(client, auth, done)
    assert (f"We could not attach your photo, but complaint {complaint['id']} is filed."
            in done), done
    assert complaint["photo_count"] == 0 and complaint["photos"] == []
    assert len(graph.media_requests) == requests

    records = [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]
    failed = [r for r in records if r["event"] == "photo_not_fetched"]
    assert len(failed) == 1, records
    assert failed[0]["complaint"] == complaint["id"]
    assert failed[0]["detail"].startswith(reason), failed[0]
    logged = buffer.getvalue()
    assert TOKEN not in logged
    assert CITIZEN not in logged and CITIZEN[1:] not in logged and CITIZEN[3:] not in logged
