"""The floor: the least this architecture costs per message, on the same servers.

A bare webhook (a FastAPI endpoint served by ``uvicorn.run`` with ``samvad serve``'s
options: read the Twilio form, ``XADD`` it to a Redis stream, answer empty TwiML) -> a
worker process (``XREADGROUP`` a batch, POST one reply per message to the fake Twilio
Messages API, ``XACK`` the batch) on the run's Redis and fake Twilio. No signature check,
dedupe, session, dialog, rate limit or delivery record: whatever Samvad spends per turn
above this is the price of those. Samvad's CPU per turn over the floor's CPU per message
is the "Samvad / floor" figure of the report.

The worker's provider client is httpx (``AsyncClient``, as Samvad's senders) or aiohttp
(``ClientSession``); the benchmark measures both and takes the cheaper as the floor.

Run: ``FLOOR_REDIS_URL=redis://... python -m bench.floor web --port 8002 --workers 1``
and ``python -m bench.floor worker --redis redis://... --api http://127.0.0.1:8003
--client aiohttp``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from typing import Any, Literal, Protocol

from fastapi import FastAPI, Request
from fastapi.responses import Response
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from bench.ceiling import EMPTY_TWIML
from bench.wire import ACCOUNT_SID, AUTH_TOKEN

STREAM = "bench:floor:inbound"
GROUP = "floor"
STREAM_MAXLEN = 100_000  # approximate trim on XADD, as any queue on a stream must
BATCH = 64  # messages per XREADGROUP, sent concurrently: also the provider pool's size
MESSAGES_PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
Kind = Literal["httpx", "aiohttp"]
CLIENTS: tuple[Kind, ...] = ("httpx", "aiohttp")


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """One Redis client per web process (uvicorn imports the app in each)."""
    app.state.redis = Redis.from_url(os.environ["FLOOR_REDIS_URL"])
    try:
        yield
    finally:
        await app.state.redis.aclose()


app = FastAPI(lifespan=lifespan)


@app.post("/webhooks/twilio")
async def receive(request: Request) -> Response:
    form = await request.form()
    sid = form.get("MessageSid")
    if not sid:
        return Response(status_code=400)
    await request.app.state.redis.xadd(STREAM, {
        "sid": str(sid), "from": str(form.get("From", "")), "to": str(form.get("To", "")),
        "body": str(form.get("Body", ""))}, maxlen=STREAM_MAXLEN, approximate=True)
    return Response(EMPTY_TWIML, media_type="text/xml")


class Poster(Protocol):
    async def send(self, to: str, sender: str, body: str) -> str: ...

    async def close(self) -> None: ...


class HttpxPoster:
    """The provider POST with httpx, a pool of ``BATCH`` connections."""

    def __init__(self, api: str) -> None:
        import httpx

        self.client = httpx.AsyncClient(
            base_url=api, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=10,
            limits=httpx.Limits(max_connections=BATCH, max_keepalive_connections=BATCH))

    async def send(self, to: str, sender: str, body: str) -> str:
        response = await self.client.post(MESSAGES_PATH,
                                          data={"To": to, "From": sender, "Body": body})
        response.raise_for_status()
        return str(response.json()["sid"])

    async def close(self) -> None:
        await self.client.aclose()


class AiohttpPoster:
    """The provider POST with aiohttp, a pool of ``BATCH`` connections."""

    def __init__(self, api: str) -> None:
        import aiohttp

        self.session = aiohttp.ClientSession(
            base_url=api, auth=aiohttp.BasicAuth(ACCOUNT_SID, AUTH_TOKEN),
            connector=aiohttp.TCPConnector(limit=BATCH),
            timeout=aiohttp.ClientTimeout(total=10))

    async def send(self, to: str, sender: str, body: str) -> str:
        async with self.session.post(MESSAGES_PATH, data={"To": to, "From": sender,
                                                          "Body": body}) as response:
            response.raise_for_status()
            return str((await response.json())["sid"])

    async def close(self) -> None:
        await self.session.close()


def poster(kind: Kind, api: str) -> Poster:
    return HttpxPoster(api) if kind == "httpx" else AiohttpPoster(api)


async def reply(client: Poster, fields: dict[bytes, bytes]) -> None:
    """One reply per message: to its sender, from the number it was sent to."""
    body = fields[b"body"].decode()
    await client.send(fields[b"from"].decode(), fields[b"to"].decode(), f"You said: {body}")


async def work(redis_url: str, api: str, kind: Kind, stop: asyncio.Event,
               batch: int = BATCH) -> None:
    """Read up to ``batch`` messages, send their replies at once, acknowledge them: at
    least once (a message whose POST failed stays pending)."""
    redis = Redis.from_url(redis_url)
    with contextlib.suppress(ResponseError):  # BUSYGROUP: another worker made it
        await redis.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    consumer = f"worker-{os.getpid()}"
    client = poster(kind, api)
    try:
        while not stop.is_set():
            got: Any = await redis.xreadgroup(GROUP, consumer, {STREAM: ">"}, count=batch,
                                              block=500)
            if not got:
                continue
            entries = got[0][1]
            outcomes = await asyncio.gather(*(reply(client, fields) for _, fields in entries),
                                            return_exceptions=True)
            done = [entry_id for (entry_id, _), outcome in zip(entries, outcomes, strict=True)
                    if not isinstance(outcome, BaseException)]
            if done:
                await redis.xack(STREAM, GROUP, *done)
    finally:
        await client.close()
        await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    web = sub.add_parser("web", help="the webhook (FLOOR_REDIS_URL names Redis)")
    web.add_argument("--port", type=int, required=True)
    web.add_argument("--workers", type=int, default=1)
    worker = sub.add_parser("worker", help="the stream reader and provider POST")
    worker.add_argument("--redis", required=True)
    worker.add_argument("--api", required=True, help="the fake Twilio's base URL")
    worker.add_argument("--client", choices=CLIENTS, default="httpx")
    worker.add_argument("--batch", type=int, default=BATCH,
                        help="messages per read (1: one at a time)")
    args = parser.parse_args()
    if args.command == "web":
        import uvicorn

        # The same uvicorn.run options as `samvad serve` (samvad/cli.py), as the ceiling.
        uvicorn.run("bench.floor:app", host="127.0.0.1", port=args.port, workers=args.workers,
                    log_level="info", proxy_headers=True, forwarded_allow_ips="127.0.0.1")
        return

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await work(args.redis, args.api, args.client, stop, args.batch)

    asyncio.run(run())


if __name__ == "__main__":
    main()
