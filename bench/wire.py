"""Minimal HTTP/1.1 on asyncio streams: the fake Twilio Messages API (with its status
callbacks) and the load client.

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
from urllib.parse import parse_qs, urlencode, urlsplit

import orjson
from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "b3" * 16
AUTH_TOKEN = "5e" * 16
SMS_FROM = "+12025550143"

Arrival = Callable[[str, str, float], None]

# The status callbacks Twilio sends for a message created through the Messages API without
# a Messaging Service, with the seconds after the create request each one goes here: none
# for the initial "queued" (Twilio's docs: "A status callback request is not sent for the
# initial status"), then "sent" and "delivered"; WhatsApp also reports "read".
SMS_CALLBACKS: tuple[tuple[str, float], ...] = (("sent", 0.2), ("delivered", 1.0))
WHATSAPP_CALLBACKS = (*SMS_CALLBACKS, ("read", 2.0))


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


class StatusCallbacks:
    """Twilio's status callbacks for the messages the fake accepted: form-encoded like
    Twilio's, signed (``X-Twilio-Signature``, the SDK's ``RequestValidator``) over the
    ``StatusCallback`` URL the message POST carried, sent on keep-alive connections.

    ``hold()`` keeps them back until ``release()`` (the calibration meters a turn and its
    callbacks apart); ``drain()`` waits for the scheduled ones (before a server stops).
    """

    def __init__(self, token: str = AUTH_TOKEN) -> None:
        self.validator = RequestValidator(token)
        self.clients: dict[int, Client] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.held: list[tuple[str, dict[str, str], tuple[str, ...]]] | None = None
        self.sent = 0
        self.answered = 0  # 2xx
        self.failed = 0  # any other status, or no connection
        self.elsewhere = 0  # messages whose callback URL is off this machine: none sent

    def schedule(self, url: str, form: dict[str, str]) -> None:
        """Twilio's callbacks for the message ``form`` describes (MessageSid, To, From),
        when ``url`` is on this machine (the bench serves everything on 127.0.0.1; the
        scale fan-out's app has a public URL that nobody serves)."""
        if urlsplit(url).hostname not in ("127.0.0.1", "localhost"):
            self.elsewhere += 1
            return
        whatsapp = form["To"].startswith("whatsapp:")
        plan = WHATSAPP_CALLBACKS if whatsapp else SMS_CALLBACKS
        if self.held is not None:
            self.held.append((url, form, tuple(status for status, _ in plan)))
            return
        task = asyncio.create_task(self._later(url, form, plan))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _later(self, url: str, form: dict[str, str],
                     plan: tuple[tuple[str, float], ...]) -> None:
        start = time.perf_counter()
        for status, after_s in plan:
            await asyncio.sleep(max(0.0, start + after_s - time.perf_counter()))
            await self.post(url, form, status)

    async def post(self, url: str, form: dict[str, str], status: str) -> int:
        """One signed callback; the HTTP status of the answer (0: no connection)."""
        parts = urlsplit(url)
        params = {"SmsSid": form["MessageSid"], "SmsStatus": status, "MessageStatus": status,
                  "To": form["To"], "MessageSid": form["MessageSid"],
                  "AccountSid": ACCOUNT_SID, "From": form["From"], "ApiVersion": "2010-04-01"}
        if status == "delivered":
            params["RawDlrDoneDate"] = time.strftime("%y%m%d%H%M", time.gmtime())
        body = urlencode(params).encode()
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        request = (f"POST {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                   "Content-Type: application/x-www-form-urlencoded\r\n"
                   f"X-Twilio-Signature: {self.validator.compute_signature(url, params)}\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        port = parts.port or 80
        client = self.clients.get(port)
        if client is None:
            client = self.clients[port] = Client(port, max_connections=64)
        self.sent += 1
        code = await client.post(request)
        if 200 <= code < 300:
            self.answered += 1
        else:
            self.failed += 1
        return code

    def hold(self, on: bool = True) -> None:
        """Keep callbacks back (``release`` sends them) or, ``on=False``, schedule them
        again (release the held ones first: they are dropped)."""
        self.held = [] if on else None

    async def release(self) -> int:
        """Send the held callbacks now, one after the other; how many were sent."""
        held = self.held or []
        if self.held is not None:
            self.held = []
        for url, form, statuses in held:
            for status in statuses:
                await self.post(url, form, status)
        return sum(len(statuses) for _, _, statuses in held)

    async def drain(self, timeout_s: float = 10.0) -> None:
        """Wait for the scheduled callbacks to be sent and answered."""
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=timeout_s)

    def counts(self) -> dict[str, int]:
        return {"sent": self.sent, "answered": self.answered, "failed": self.failed,
                "elsewhere": self.elsewhere}

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        for client in self.clients.values():
            await client.close()
        self.clients.clear()


class FakeTwilio:
    """``POST /2010-04-01/Accounts/<sid>/Messages.json``: records (To, Body, arrival time),
    answers 201 with the JSON Twilio's Messages API returns, then sends Twilio's status
    callbacks to the message's ``StatusCallback`` (or ``status_callback_url``, if set).
    ``on_arrival`` is whoever waits for the messages now (the load of the phase running)."""

    def __init__(self, on_arrival: Arrival | None = None,
                 status_callback_url: str | None = None) -> None:
        self.on_arrival = on_arrival
        self.status_callback_url = status_callback_url
        self.callbacks = StatusCallbacks()
        self.count = 0
        self.refused = 0
        self.server: asyncio.AbstractServer | None = None
        self._sids = itertools.count(1)
        self._prefix = secrets.token_hex(8)

    async def start(self, port: int) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", port, backlog=1024)

    async def close(self) -> None:
        await self.callbacks.close()
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 2)

    def _answer(self, sid: str, to: str, body: str, sender: str) -> bytes:
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
                form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
                to = form.get("To", "")
                if not first.startswith(b"POST ") or b"/Messages.json" not in first or not to:
                    self.refused += 1
                    writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                    continue
                self.count += 1
                sid = f"SM{self._prefix}{next(self._sids):016x}"
                text = form.get("Body", "")
                sender = form.setdefault("From", SMS_FROM)
                writer.write(self._answer(sid, to, text, sender))
                if self.on_arrival is not None:
                    self.on_arrival(to.removeprefix("whatsapp:"), text, arrived)
                callback = form.get("StatusCallback") or self.status_callback_url
                if callback:
                    self.callbacks.schedule(callback, {"MessageSid": sid, "To": to,
                                                       "From": sender})
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
