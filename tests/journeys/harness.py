"""Journeys as data: several people drive Samvad in turn over signed provider webhooks.

A journey (``tests/journeys/*.yaml``) names its people and a list of steps. Each step is a
mapping with one action:

- ``say: [who, channel, text]``: the person sends ``text`` on ``whatsapp`` or ``sms``. SMS and
  the people listed under ``twilio_whatsapp`` come in as signed Twilio webhooks; other
  WhatsApp users as signed Meta Cloud API webhooks. The inbound worker runs the turn and the
  send worker delivers the replies to the fake providers. Options: ``reply_has`` (texts the
  replies must contain), ``capture`` (name -> regular expression found in the replies; later
  steps use ``{name}``).
- ``photo: [who, channel]``: the person sends a JPEG photo (served by the fake provider).
- ``pin: [who, lat, lng]``: a WhatsApp location pin.
- ``notify: {}``: what the core API committed reaches people: outbox relay, notifier, send
  worker, until nothing moves.
- ``advance: "3m" | "30h" | "8d"``: the clock moves on (the queues' clock, the SLA sweep's
  ``now``, the notifier's digest window). The core API stamps its records with the wall
  clock, so an age the sweep measures (a deadline, an unanswered resolution) counts every
  ``advance`` since the start: advance after the step whose age matters.
- ``sweep: {}``: the SLA and auto-close sweep runs at the journey's time.
- ``status: {to: who, error: "63016", channel}``: the provider reports the last message it
  sent to ``who`` (on ``channel``, when given) as failed with that code: a signed Twilio
  status callback or a Meta status webhook, whichever provider sent it.
- ``pay: {link: "{paylink}"}``: the person opens the payment link (a short link is
  followed) and pays on the sandbox gateway's page, which signs the gateway's callback.
- ``open: {link, content_type, has}``: a link someone got opens (short links followed).
- ``complaint: {id, status, rating, auto_closed, actions}``: the complaint as stored.
- ``expect: [...]``: every message that is not a chat reply delivered since the last
  ``expect``, in order for each person, and nothing else: ``{to, channel, provider, lang,
  template, has, segments, media, rule, capture}`` (all but ``to`` optional; ``rule`` is
  the delivery policy's rule in the delivery record: case_channel, last_active,
  default_sms, sms_fallback).

A journey's ``cost`` is the estimated cost of all its notifications (the delivery
records' ``cost``, from ``SAMVAD_MESSAGE_COSTS``), checked at the end. The harness keeps a
log of every message (who, channel, provider, template or free-form, segments, estimated
cost from the delivery record) that a journey prints.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx
from twilio.request_validator import RequestValidator

from channels.meta_whatsapp import signature_header

JOURNEYS = Path(__file__).parent
ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
AUTH_TOKEN = "0123456789abcdef0123456789abcdef"
TWILIO_API = "http://twilio.test"
TWILIO_SMS = "+12025550143"
TWILIO_WHATSAPP = "whatsapp:+14155238886"
META_SECRET = "journey-app-secret"
META_NUMBER_ID = "106540352242922"
META_GRAPH = "https://graph.fake"
PUBLIC_URL = "https://samvad.example.in"
JPEG = base64.b64decode(  # a 1x1 white JPEG
    "/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAAMCAgICAgMCAgIDAwMDBAYEBAQEBAgGBgUGCQgKCgkICQkKDA8M"
    "CgsOCwkJDRENDg8QEBEQCgwSExIQEw8QEBD/yQALCAABAAEBAREA/8wABgAQEAX/2gAIAQEAAD8A0s8g/9k=")

# GSM 03.38 basic character set (and the extension table, two septets each).
GSM_BASIC = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
                "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM_EXTENDED = set("^{}\\[~]|€\f")


def sms_segments(text: str) -> int:
    """How many SMS a text takes, counted here independently of Samvad's own code."""
    if all(ch in GSM_BASIC or ch in GSM_EXTENDED for ch in text):
        units = sum(2 if ch in GSM_EXTENDED else 1 for ch in text)
        return 1 if units <= 160 else -(-units // 153)
    units = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)  # UTF-16 code units
    return 1 if units <= 70 else -(-units // 67)


def language_of(text: str) -> str:
    """``hi`` (Devanagari), ``pa`` (Gurmukhi), ``or`` (Odia) or ``en`` (none of them)."""
    scripts = {unicodedata.name(ch, "").split(" ")[0] for ch in text if ch.isalpha()}
    for script, lang in (("DEVANAGARI", "hi"), ("GURMUKHI", "pa"), ("ORIYA", "or")):
        if script in scripts:
            return lang
    return "en"


@dataclass
class Sent:
    """One message a fake provider was asked to send."""

    provider: str
    channel: str
    to: str
    text: str
    template: bool
    media: int
    provider_id: str
    reply: bool = False

    @property
    def segments(self) -> int:
        return sms_segments(self.text) if self.channel == "sms" else 1


class FakeTwilio:
    """Twilio's Messages API (SMS and WhatsApp) and media host, for ``httpx.MockTransport``."""

    def __init__(self, sent: list[Sent]) -> None:
        self.sent = sent  # shared with the other fake: one list in the order of arrival
        self._ids = itertools.count(1)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":  # a photo someone sent: Twilio's media URL
            return httpx.Response(200, content=JPEG, headers={"Content-Type": "image/jpeg"})
        assert str(request.url) == f"{TWILIO_API}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
        lists = parse_qs(request.content.decode())
        form = {k: v[0] for k, v in lists.items()}
        to = form["To"]
        channel = "whatsapp" if to.startswith("whatsapp:") else "sms"
        expected_from = TWILIO_WHATSAPP if channel == "whatsapp" else TWILIO_SMS
        assert form["From"] == expected_from, form
        if "ContentSid" in form:
            variables = json.loads(form.get("ContentVariables", "{}"))
            text, template = variables.get("1", ""), True
        else:
            text, template = form.get("Body", ""), False
        sid = f"SM{next(self._ids):032x}"
        self.sent.append(Sent("twilio", channel, to.removeprefix("whatsapp:"), text, template,
                              len(lists.get("MediaUrl", [])), sid))
        return httpx.Response(201, json={"sid": sid, "status": "queued", "account_sid":
                                         ACCOUNT_SID, "to": to, "from": form["From"]})


class FakeGraph:
    """Meta's Graph API: sends, and the media download of a photo someone sent."""

    def __init__(self, sent: list[Sent]) -> None:
        self.sent = sent
        self._ids = itertools.count(1)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        if request.method == "GET" and "/media-file/" in url:
            return httpx.Response(200, content=JPEG, headers={"Content-Type": "image/jpeg"})
        if request.method == "GET":  # the media lookup: id -> download URL
            media_id = url.rstrip("/").rsplit("/", 1)[-1]
            return httpx.Response(200, json={"url": f"{META_GRAPH}/media-file/{media_id}",
                                             "mime_type": "image/jpeg", "file_size": len(JPEG),
                                             "id": media_id, "messaging_product": "whatsapp"})
        assert url == f"{META_GRAPH}/v21.0/{META_NUMBER_ID}/messages", url
        body = json.loads(request.content)
        kind = body["type"]
        if kind == "template":
            params = body["template"]["components"][0]["parameters"]
            text, template = params[0]["text"], True
        elif kind == "text":
            text, template = body["text"]["body"], False
        elif kind == "interactive":
            text, template = body["interactive"]["body"]["text"], False
        else:
            text, template = body[kind].get("caption", ""), False
        wamid = f"wamid.journey{next(self._ids)}"
        self.sent.append(Sent("meta", "whatsapp", "+" + body["to"], text, template,
                              int(kind in ("image", "document")), wamid))
        return httpx.Response(200, json={"messaging_product": "whatsapp",
                                         "messages": [{"id": wamid}]})


def twilio_signed(path: str, pairs: list[tuple[str, str]]) -> dict[str, Any]:
    url = PUBLIC_URL + path
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, dict(pairs))
    return {"content": urlencode(pairs),
            "headers": {"Content-Type": "application/x-www-form-urlencoded",
                        "X-Twilio-Signature": signature}}


def meta_signed(payload: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps(payload, ensure_ascii=False).encode()
    return {"content": body, "headers": {"Content-Type": "application/json",
                                         "X-Hub-Signature-256": signature_header(META_SECRET,
                                                                                 body)}}


def meta_envelope(value: dict[str, Any]) -> dict[str, Any]:
    return {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398",
            "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "919412055500",
                             "phone_number_id": META_NUMBER_ID}, **value}}]}]}


def duration_s(text: str) -> float:
    found = re.fullmatch(r"(\d+)([smhd])", text)
    assert found, f"a duration like 3m, 30h or 8d, not {text!r}"
    return int(found.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[found.group(2)]


@dataclass
class Journey:
    """One journey file, loaded."""

    title: str
    people: dict[str, dict[str, Any]]
    steps: list[dict[str, Any]]
    twilio_whatsapp: set[str] = field(default_factory=set)
    settings: dict[str, Any] = field(default_factory=dict)
    cost: str | None = None  # the estimated cost of all its notifications, in rupees

    @classmethod
    def load(cls, path: Path) -> Journey:
        import yaml

        data = yaml.safe_load(path.read_text())
        return cls(data["title"], data["people"], data["steps"],
                   set(data.get("twilio_whatsapp") or ()), data.get("settings") or {},
                   data.get("cost"))


class OffsetClock:
    """The queues' clock, moved on by ``advance`` steps (sleeping stays real, and short)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(min(seconds, 0.01))


class Run:
    """A journey played against one app (``tests/journeys/test_journeys.py``)."""

    def __init__(self, journey: Journey, app: Any, client: httpx.AsyncClient,
                 sent: list[Sent], clock: OffsetClock) -> None:
        self.journey, self.app, self.client = journey, app, client
        self.sent, self.clock = sent, clock
        self.values: dict[str, str] = {}
        self.read = 0  # how many of ``sent`` a step has looked at
        self.pending: list[Sent] = []  # notifications not yet matched by an ``expect``
        self.log: list[str] = []
        self.notification_cost = Decimal(0)
        self._ids = itertools.count(1)

    # -- people and text -------------------------------------------------------------------
    def phone(self, who: str) -> str:
        return str(self.journey.people[who]["phone"])

    def who(self, phone: str) -> str:
        for name, person in self.journey.people.items():
            if person["phone"] == phone:
                return name
        return phone

    def fill(self, text: str) -> str:
        return text.format(**self.values) if "{" in text else text

    def fresh(self) -> list[Sent]:
        found = self.sent[self.read:]
        self.read = len(self.sent)
        return found

    def note(self, sent: Sent) -> None:
        kind = "reply" if sent.reply else ("template" if sent.template else "free-form")
        extra = f", {sent.segments} segment(s)" if sent.channel == "sms" else ""
        extra += f", {sent.media} attachment(s)" if sent.media else ""
        text = sent.text.replace("\n", " / ")
        self.log.append(f"  {self.who(sent.to)} <- {sent.channel} via {sent.provider} "
                        f"({kind}{extra}): {text}")

    # -- the pipeline ----------------------------------------------------------------------
    async def _send(self) -> int:
        from samvad.worker import build_send_worker

        worker = build_send_worker(self.app, clock=self.clock)
        total = 0
        while (done := await worker.consume_once()) > 0:
            total += done
        return total

    async def _turn(self, who: str) -> list[Sent]:
        from samvad.worker import build_inbound_worker

        assert await build_inbound_worker(self.app, clock=self.clock).consume_once() == 1
        await self._send()
        replies = self.fresh()
        for sent in replies:
            sent.reply = True
            self.note(sent)
        strangers = [s for s in replies if s.to != self.phone(who)]
        assert not strangers, f"a chat turn of {who} sent to others: {strangers}"
        return replies

    async def _twilio(self, path: str, pairs: list[tuple[str, str]]) -> httpx.Response:
        answer = await self.client.post(path, **twilio_signed(path, pairs))
        assert answer.status_code == 200, answer.text
        return answer

    async def _meta(self, value: dict[str, Any]) -> httpx.Response:
        answer = await self.client.post("/webhooks/whatsapp", **meta_signed(meta_envelope(value)))
        assert answer.status_code == 200, answer.text
        return answer

    async def _inbound(self, who: str, channel: str, message: dict[str, str]) -> None:
        """One inbound message: ``message`` holds Body, or MediaUrl0 + MediaContentType0."""
        phone = self.phone(who)
        n = next(self._ids)
        if channel == "sms" or who in self.journey.twilio_whatsapp:
            sid = f"SM{n:032x}" if "Body" in message else f"MM{n:032x}"
            on_whatsapp = channel == "whatsapp"
            pairs = [("MessageSid", sid), ("SmsMessageSid", sid), ("AccountSid", ACCOUNT_SID),
                     ("From", f"whatsapp:{phone}" if on_whatsapp else phone),
                     ("To", TWILIO_WHATSAPP if on_whatsapp else TWILIO_SMS),
                     ("NumMedia", "1" if "MediaUrl0" in message else "0"),
                     ("Body", message.get("Body", "")), ("ApiVersion", "2010-04-01")]
            if "Latitude" in message:
                pairs.append(("MessageType", "location"))
            if on_whatsapp:
                pairs += [("WaId", phone.lstrip("+")), ("ProfileName", who)]
            pairs += [(k, v) for k, v in message.items() if k != "Body"]
            await self._twilio("/webhooks/twilio", pairs)
            return
        wamid = f"wamid.in{n:08d}"
        if "Body" in message:
            body: dict[str, Any] = {"type": "text", "text": {"body": message["Body"]}}
        elif "Latitude" in message:
            body = {"type": "location", "location": {
                "latitude": float(message["Latitude"]), "longitude": float(message["Longitude"])}}
        else:
            body = {"type": "image", "image": {"id": f"{n}0001", "mime_type": "image/jpeg"}}
        await self._meta({
            "contacts": [{"profile": {"name": who}, "wa_id": phone.lstrip("+")}],
            "messages": [{"from": phone.lstrip("+"), "id": wamid,
                          "timestamp": str(int(self.clock.now())), **body}]})

    # -- steps -------------------------------------------------------------------------------
    async def step(self, step: dict[str, Any]) -> None:
        [(action, argument)] = [(k, v) for k, v in step.items()
                                if k not in ("reply_has", "capture")]
        self.log.append(f"* {action}: {json.dumps(argument, ensure_ascii=False)}")
        await getattr(self, f"do_{action}")(argument, step)

    async def do_say(self, argument: list[str], step: dict[str, Any]) -> None:
        who, channel, text = argument
        await self._inbound(who, channel, {"Body": self.fill(text)})
        self._check_replies(await self._turn(who), step)

    async def do_photo(self, argument: list[str], step: dict[str, Any]) -> None:
        who, channel = argument
        n = next(self._ids)
        url = (f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/"
               f"MM{n:032x}/Media/ME{n:032x}")
        await self._inbound(who, channel, {"MediaUrl0": url, "MediaContentType0": "image/jpeg",
                                           "MessageType": "image"})
        self._check_replies(await self._turn(who), step)

    async def do_pin(self, argument: list[Any], step: dict[str, Any]) -> None:
        """A WhatsApp location pin: ``pin: [who, lat, lng]``."""
        who, lat, lng = argument
        await self._inbound(who, "whatsapp", {"Latitude": str(lat), "Longitude": str(lng)})
        self._check_replies(await self._turn(who), step)

    def _check_replies(self, replies: list[Sent], step: dict[str, Any]) -> None:
        seen = "\n".join(s.text for s in replies)
        for text in step.get("reply_has") or ():
            assert self.fill(text) in seen, f"{text!r} not in the replies:\n{seen}"
        for name, pattern in (step.get("capture") or {}).items():
            found = re.search(pattern, seen)
            assert found, f"no {pattern!r} in the replies:\n{seen}"
            self.values[name] = found.group(0)

    async def do_notify(self, _argument: Any, _step: dict[str, Any]) -> None:
        from core_api.events.relay import relay_once
        from samvad.worker import build_notifier

        notifier = build_notifier(self.app, clock=self.clock)
        for _ in range(20):
            moved = await relay_once(self.app.state.db, self.app.state.redis)
            moved += await notifier.consume_once()
            moved += await self._send()
            if not moved:
                break
        fresh = self.fresh()
        for sent in fresh:
            self.note(sent)
        self.pending.extend(fresh)

    async def do_advance(self, argument: str, _step: dict[str, Any]) -> None:
        self.clock.offset += duration_s(argument)

    async def do_sweep(self, _argument: Any, _step: dict[str, Any]) -> None:
        from core_api.complaints.sla import sla_once

        now = datetime.fromtimestamp(self.clock.now(), UTC)
        await sla_once(self.app.state.db, now,
                       auto_close_days=self.app.state.settings.auto_close_days)

    async def do_status(self, argument: dict[str, str], _step: dict[str, Any]) -> None:
        phone = self.phone(argument["to"])
        channel = argument.get("channel")
        [last, *_] = [s for s in reversed(self.sent)
                      if s.to == phone and channel in (None, s.channel)]
        code = str(argument["error"])
        if last.provider == "twilio":
            to = f"whatsapp:{phone}" if last.channel == "whatsapp" else phone
            sender = TWILIO_WHATSAPP if last.channel == "whatsapp" else TWILIO_SMS
            await self._twilio("/webhooks/twilio/status", [
                ("MessageSid", last.provider_id), ("SmsSid", last.provider_id),
                ("MessageStatus", "failed"), ("SmsStatus", "failed"), ("ErrorCode", code),
                ("To", to), ("From", sender), ("AccountSid", ACCOUNT_SID),
                ("ApiVersion", "2010-04-01")])
        else:
            await self._meta({"statuses": [{
                "id": last.provider_id, "status": "failed",
                "timestamp": str(int(self.clock.now())), "recipient_id": phone.lstrip("+"),
                "errors": [{"code": int(code), "title": "failed"}]}]})

    async def do_pay(self, argument: dict[str, str], _step: dict[str, Any]) -> None:
        """Open the payment link like the citizen would and pay on the sandbox page."""
        url = self.fill(argument["link"])
        path = url.removeprefix(PUBLIC_URL)
        page = await self.client.get(path, follow_redirects=True)
        assert page.status_code == 200, page.text
        form = {name: re.search(rf'name="{name}" value="([^"]+)"', page.text).group(1)
                for name in ("exp", "sig")}
        paid = await self.client.post(f"{page.url.path}/sandbox",
                                      data={**form, "outcome": "success"})
        assert paid.status_code == 303, paid.text

    async def do_expect(self, argument: list[dict[str, Any]], _step: dict[str, Any]) -> None:
        got, self.pending = self.pending, []
        lines = "\n".join(f"{self.who(s.to)}: {s.channel}/{s.provider}: {s.text}" for s in got)
        assert len(got) == len(argument), (
            f"expected {len(argument)} notification(s), got {len(got)}:\n{lines}")
        # Each person's messages come in order; between people the send worker's mailboxes
        # run side by side, so the order across people is not part of the contract.
        people = list(dict.fromkeys(want["to"] for want in argument))
        wanted = [want for who in people for want in argument if want["to"] == who]
        got = [sent for who in people for sent in got if sent.to == self.phone(who)]
        assert len(got) == len(wanted), f"notifications to others than expected:\n{lines}"
        for want, sent in zip(wanted, got, strict=True):
            where = f"{want}\n got {sent}"
            assert sent.to == self.phone(want["to"]), where
            for name in ("channel", "provider", "template", "segments", "media"):
                if name in want:
                    assert getattr(sent, name) == want[name], f"{name}: {where}"
            if "lang" in want:
                assert language_of(sent.text) == want["lang"], f"lang: {where}"
            for text in want.get("has") or ():
                assert self.fill(text) in sent.text, f"{text!r}: {where}"
            for name, pattern in (want.get("capture") or {}).items():
                found = re.search(pattern, sent.text)
                assert found, f"no {pattern!r}: {where}"
                self.values[name] = found.group(0)
            if sent.channel == "sms":
                assert sent.segments <= 3, f"over 3 segments: {where}"
            if "rule" in want:
                assert await self._rule_of(sent) == want["rule"], f"rule: {where}"

    async def _rule_of(self, sent: Sent) -> str | None:
        """The delivery policy's rule recorded for a message (``channel_messages.rule``)."""
        from sqlalchemy import select

        from core_api.messaging.models import ChannelMessage

        async with self.app.state.db.sessions() as session:
            return await session.scalar(select(ChannelMessage.rule).where(
                ChannelMessage.provider == sent.provider,
                ChannelMessage.provider_message_id == sent.provider_id))

    async def do_open(self, argument: dict[str, str], _step: dict[str, Any]) -> None:
        """A link someone got opens what it should: ``open: {link, content_type, has}``."""
        path = self.fill(argument["link"]).removeprefix(PUBLIC_URL)
        page = await self.client.get(path, follow_redirects=True)
        assert page.status_code == 200, (path, page.status_code, page.text[:200])
        if "content_type" in argument:
            assert page.headers["content-type"].startswith(argument["content_type"]), page.headers
        for text in argument.get("has") or ():
            assert self.fill(text) in page.text, (text, page.text[:500])

    async def do_complaint(self, argument: dict[str, Any], _step: dict[str, Any]) -> None:
        """The complaint as stored: ``complaint: {id, status, rating, auto_closed,
        actions: [APPLY, ...]}`` (the workflow history's actions, in order)."""
        from sqlalchemy import select

        from core_api.complaints.models import Complaint
        from core_api.workflow.models import ProcessHistory, ProcessInstance

        number = self.fill(argument["id"])
        async with self.app.state.db.sessions() as session:
            complaint = await session.scalar(
                select(Complaint).where(Complaint.complaint_no == number))
            actions = list(await session.scalars(
                select(ProcessHistory.action).join(ProcessInstance)
                .where(ProcessInstance.business_id == number).order_by(ProcessHistory.id)))
        assert complaint is not None, number
        for name in ("status", "rating", "auto_closed"):
            if name in argument:
                assert getattr(complaint, name) == argument[name], (name, complaint)
        if "actions" in argument:
            assert actions == argument["actions"], actions

    async def play(self) -> None:
        for step in self.journey.steps:
            await self.step(step)
        assert not self.pending, f"notifications never expected: {self.pending}"
        await self.costs()
        if self.journey.cost is not None:
            assert self.notification_cost == Decimal(self.journey.cost), (
                f"notifications cost ₹{self.notification_cost}, not ₹{self.journey.cost}")

    async def costs(self) -> None:
        """Each notification's delivery record (rule, estimated cost), in the log; checks
        that every message a fake provider accepted has its record."""
        from sqlalchemy import select

        from core_api.messaging.models import ChannelMessage

        async with self.app.state.db.sessions() as session:
            rows = (await session.scalars(select(ChannelMessage))).all()
        by_id = {(row.provider, row.provider_message_id): row for row in rows}
        total, lines = Decimal(0), []
        for index, sent in enumerate(self.sent):
            row = by_id.get((sent.provider, sent.provider_id))
            if row is None:
                # One job may go as several provider messages (a photo, then the text):
                # its record carries the last one's id.
                after = self.sent[index + 1] if index + 1 < len(self.sent) else None
                assert after is not None and (after.provider, after.to) == (
                    sent.provider, sent.to), f"no delivery record of {sent}"
                continue
            if sent.reply:
                continue
            cost = row.cost or Decimal(0)
            total += cost
            lines.append(f"  {self.who(sent.to)}: {row.kind} by {row.channel}/{row.provider}, "
                         f"rule {row.rule}, {row.segments or 1} segment(s), ₹{cost:.4f}")
        self.log += ["notification delivery records:", *lines,
                     f"  total notification cost: ₹{total:.4f}"]
        self.notification_cost = total
