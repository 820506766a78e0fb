"""The providers' HTTP client (httpx over aiohttp) against real servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.messages import Outgoing
from channels.base import OutboundJob, SendError, SendErrorKind, SendResult, outgoing_to_dict
from channels.meta_whatsapp import MetaSender
from channels.meta_whatsapp._media import MediaUnavailable, fetch_media
from channels.provider_http import AiohttpTransport
from channels.queues import AMBIGUOUS
from channels.twilio.sender import TwilioSender
from samvad.channels import SENDS_IN_FLIGHT, provider_client, provider_connections
from samvad.settings import Settings

SID, TOKEN = "AC" + "0" * 32, "twilio-auth-token"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[str, str, Handler], Awaitable[str]]]:
    servers: list[TestServer] = []

    async def start(method: str, path: str, handler: Handler) -> str:
        app = web.Application()
        app.router.add_route(method, path, handler)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url("")).rstrip("/")

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with provider_client(Settings(SAMVAD_ENV="development")) as client:
        yield client


def sms(text: str = "Your bill is due") -> OutboundJob:
    return OutboundJob(provider="twilio", channel="sms", to="+919876500001",
                       message=outgoing_to_dict(Outgoing(text)), job_id="SM1:0")


def twilio(http: httpx.AsyncClient, base: str) -> TwilioSender:
    return TwilioSender(http, account_sid=SID, auth_token=TOKEN, api_base=base,
                        public_url="https://samvad.example", sms_from="+14155550100")


async def test_a_twilio_send_goes_with_basic_auth_and_its_form(serve, http) -> None:
    seen: list[tuple[str | None, dict[str, str]]] = []

    async def messages(request: web.Request) -> web.Response:
        seen.append((request.headers.get("Authorization"), dict(await request.post())))
        return web.json_response({"sid": f"SM{len(seen)}", "status": "queued"}, status=201)

    base = await serve("POST", f"/2010-04-01/Accounts/{SID}/Messages.json", messages)
    sender = twilio(http, base)
    results = await asyncio.gather(*(sender.send(sms(f"n{i}")) for i in range(5)))
    assert sorted(result.provider_message_id for result in results) == [
        f"SM{i}" for i in range(1, 6)]
    basic = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    assert {auth for auth, _ in seen} == {basic}
    assert sorted(form["Body"] for _, form in seen) == [f"n{i}" for i in range(5)]
    assert seen[0][1]["From"] == "+14155550100"
    assert seen[0][1]["StatusCallback"] == "https://samvad.example/webhooks/twilio/status"


async def test_a_twilio_refusal_is_read_from_its_json(serve, http) -> None:
    async def refuse(_request: web.Request) -> web.Response:
        return web.json_response({"code": 21211, "message": "Invalid 'To' Phone Number",
                                  "status": 400}, status=400)

    base = await serve("POST", f"/2010-04-01/Accounts/{SID}/Messages.json", refuse)
    with pytest.raises(SendError) as caught:
        await twilio(http, base).send(sms())
    assert (caught.value.kind, caught.value.code) == (SendErrorKind.REJECTED, "21211")


async def test_a_meta_send_goes_with_the_bearer_token_and_json(serve, http) -> None:
    seen: list[tuple[str | None, dict]] = []

    async def messages(request: web.Request) -> web.Response:
        seen.append((request.headers.get("Authorization"), await request.json()))
        return web.json_response({"messages": [{"id": "wamid.X"}]})

    base = await serve("POST", "/v21.0/123/messages", messages)
    sender = MetaSender(http, api_base=base, access_token="meta-token",
                        phone_number_id="123", api_version="v21.0")
    job = OutboundJob(provider="meta", channel="whatsapp", to="+919876500001",
                      message=outgoing_to_dict(Outgoing("hello")), job_id="w:0")
    assert await sender.send(job) == SendResult("wamid.X")
    [(auth, body)] = seen
    assert auth == "Bearer meta-token"
    assert (body["to"], body["text"]["body"]) == ("919876500001", "hello")


async def test_nothing_sent_is_a_safe_retry_and_a_lost_answer_is_ambiguous(serve) -> None:
    with socket.socket() as unused:  # a port nobody listens on: the connection is refused
        unused.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{unused.getsockname()[1]}"

    async def hang_up(request: web.Request) -> web.Response:
        await request.post()  # Twilio got the whole request, then the answer is lost
        assert request.transport is not None
        request.transport.close()
        return web.Response()

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response()

    path = f"/2010-04-01/Accounts/{SID}/Messages.json"
    quick = httpx.Timeout(0.2, connect=3.0)
    async with httpx.AsyncClient(timeout=quick, transport=AiohttpTransport(2)) as http:
        outcomes = []
        for base in (closed, await serve("POST", path, hang_up), await serve("POST", path, slow)):
            with pytest.raises(SendError) as caught:
                await twilio(http, base).send(sms())
            outcomes.append((caught.value.kind, caught.value.code))
    assert outcomes == [(SendErrorKind.CONNECTION, "connecterror"),
                        (SendErrorKind.CONNECTION, AMBIGUOUS),
                        (SendErrorKind.CONNECTION, AMBIGUOUS)]
    async with httpx.AsyncClient(transport=AiohttpTransport(1)) as http:
        with pytest.raises(httpx.UnsupportedProtocol):
            await http.get("ftp://127.0.0.1/file")


async def test_media_streams_and_stops_at_the_limit(serve, http) -> None:
    async def lookup(request: web.Request) -> web.Response:
        assert request.headers["Authorization"] == "Bearer meta-token"
        size = request.match_info["id"]
        return web.json_response({"url": f"http://{request.host}/v21.0/download/{size}",
                                  "mime_type": "image/jpeg"})

    async def download(request: web.Request) -> web.StreamResponse:
        if request.match_info["id"].isdigit():
            return await lookup(request)
        answer = web.StreamResponse()  # chunked: no length declared up front
        await answer.prepare(request)
        for _ in range(int(request.match_info["id"].removeprefix("download/"))):
            await answer.write(b"x" * 1024)
        await answer.write_eof()
        return answer

    base = await serve("GET", "/v21.0/{id:.+}", download)

    async def fetch(kib: int) -> bytes:
        media = await fetch_media(str(kib), http=http, api_base=base,
                                  access_token="meta-token", api_version="v21.0",
                                  max_bytes=64 * 1024)
        return media.content

    assert await fetch(8) == b"x" * 8 * 1024
    with pytest.raises(MediaUnavailable, match="larger than allowed"):
        await fetch(100)


@pytest.mark.parametrize(("rate", "burst", "connections"), [
    (0, None, SENDS_IN_FLIGHT), (10, None, 20), (10, 4, 14), (2.5, None, 6),
    (80, None, SENDS_IN_FLIGHT)])
def test_the_pool_is_sized_to_the_senders_rate_limit(rate, burst, connections) -> None:
    settings = Settings(SAMVAD_ENV="development", SAMVAD_SEND_RATE=rate,
                        SAMVAD_SEND_BURST=burst)
    assert provider_connections(settings) == connections
