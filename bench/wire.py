"""Minimal HTTP/1.1 on asyncio streams: the fake Twilio Messages API and the load client.

Both sit in the generator process, so they must cost little CPU: requests are
precomputed bytes, responses are parsed only as far as the status line and
Content-Length. Not a general HTTP implementation (no chunked bodies, no pipelining).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import time
from collections.abc import Callable
from urllib.parse import parse_qs

import orjson

ACCOUNT_SID = "AC" + "b3" * 16
AUTH_TOKEN = "5e" * 16
SMS_FROM = "+12025550143"

Arrival = Callable[[str, str, float], None]


async def _read_message(reader: asyncio.StreamReader) -> tuple[bytes, dict[bytes, bytes], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    first, _, rest = head.partition(b"\r\n")
    headers: dict[bytes, bytes] = {}
    for line in rest.split(b"\r\n"):
        name, colon, value = line.partition(b":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get(b"content-length", b"0"))
    body = await reader.readexactly(length) if length else b""
    return first, headers, body


class FakeTwilio:
    """``POST /2010-04-01/Accounts/<sid>/Messages.json``: records (To, Body, arrival time)
    and answers 201 with the JSON Twilio's Messages API returns."""

    def __init__(self, on_arrival: Arrival) -> None:
        self.on_arrival = on_arrival
        self.count = 0
        self.refused = 0
        self.server: asyncio.AbstractServer | None = None
        self._sids = itertools.count(1)
        self._prefix = secrets.token_hex(8)

    async def start(self, port: int) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", port, backlog=1024)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 2)

    def _answer(self, to: str, body: str, sender: str) -> bytes:
        sid = f"SM{self._prefix}{next(self._sids):016x}"
        now = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
        uri = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}"
        payload = orjson.dumps({
            "account_sid": ACCOUNT_SID, "api_version": "2010-04-01", "body": body,
            "date_created": now, "date_sent": None, "date_updated": now,
            "direction": "outbound-api", "error_code": None, "error_message": None,
            "from": sender, "messaging_service_sid": None, "num_media": "0",
            "num_segments": "1", "price": None, "price_unit": "USD", "sid": sid,
            "status": "queued", "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": to, "uri": f"{uri}.json"})
        return (b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
                b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    first, _headers, body = await _read_message(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                arrived = time.perf_counter()
                form = parse_qs(body.decode())
                to = form.get("To", [""])[0]
                if not first.startswith(b"POST ") or b"/Messages.json" not in first or not to:
                    self.refused += 1
                    writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                    continue
                self.count += 1
                text = form.get("Body", [""])[0]
                writer.write(self._answer(to, text, form.get("From", [SMS_FROM])[0]))
                self.on_arrival(to.removeprefix("whatsapp:"), text, arrived)
        finally:
            writer.close()


class Client:
    """Keep-alive connections to one server; ``post`` sends precomputed request bytes."""

    def __init__(self, port: int, max_connections: int = 512) -> None:
        self.port = port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.slots = asyncio.Semaphore(max_connections)
        self.opened = 0
        self.errors = 0

    async def post(self, request: bytes) -> int:
        """Send ``request``; the response's status code (0 on a connection error).

        A kept-alive connection the server has closed meanwhile (uvicorn drops idle ones
        after 5 s) fails at once; the request then goes again on a new connection.
        """
        async with self.slots:
            for reused in (True, False):
                if reused and not self.idle:
                    continue
                if reused:
                    reader, writer = self.idle.pop()
                else:
                    try:
                        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                    except OSError:
                        self.errors += 1
                        return 0
                    self.opened += 1
                try:
                    writer.write(request)
                    first, headers, _ = await _read_message(reader)
                except (asyncio.IncompleteReadError, ConnectionError, OSError):
                    writer.close()
                    if reused:
                        continue
                    self.errors += 1
                    return 0
                if headers.get(b"connection", b"").lower() == b"close":
                    writer.close()
                else:
                    self.idle.append((reader, writer))
                return int(first.split(b" ", 2)[1])
            return 0

    async def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()
