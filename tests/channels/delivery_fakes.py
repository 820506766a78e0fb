"""A delivery-policy rig on a real Redis: sink, fallback and send worker with fake senders."""

from __future__ import annotations

from typing import Any

from bot.messages import Inbound, Outgoing
from bot.notifier import Notification
from channels.queues import (
    ContactWindows,
    DeliveryPolicy,
    InboundQueue,
    NotificationJobs,
    NotificationSink,
    OutboundQueue,
    SendWorker,
    SmsFallback,
    TemplateBook,
)
from tests.channels.queue_fakes import FakeClock, FakeSender, RecordedReports

CITIZEN = "+919876500001"
OUR_TWILIO_WHATSAPP = "+14155238886"
OUR_META_NUMBER = "106540352242922"
OUR_SMS = "+12025550143"


class FakeLinks:
    """``bot.links.ShortLinks`` without the core API: a 35-character https link per case."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str, str | None]] = []

    async def shorten(self, kind: str, ref: str, phone: str | None = None) -> str | None:
        self.asked.append((kind, ref, phone))
        return f"https://city.example/r/{abs(hash((kind, ref))) % 10**8:08d}"


def note(kind: str = "complaint_update", text: str = "Complaint PG-1 is resolved.", *,
         event_id: str = "ev-1", phone: str = CITIZEN, locale: str | None = "en_IN",
         case_channel: str | None = None, details: tuple[str, str] | None = None,
         message: Outgoing | None = None) -> Notification:
    return Notification(phone, locale, kind, message or Outgoing(text), event_id,
                        case_channel=case_channel, details=details)


class PolicyRig:
    """The pieces ``samvad.channels`` wires, with fake providers sharing a virtual clock."""

    def __init__(self, redis: Any, *, providers: dict[str, str] | None = None,
                 templates: dict[str, Any] | None = None) -> None:
        self.redis = redis
        self.clock = FakeClock()
        self.windows = ContactWindows(redis)
        self.inbound = InboundQueue(redis, windows=self.windows, clock=self.clock)
        self.outbound = OutboundQueue(redis)
        self.providers = providers or {"whatsapp": "meta", "sms": "twilio"}
        self.senders = {name: FakeSender(self.clock, provider=name)
                        for name in ("meta", "twilio")}
        self.policy = DeliveryPolicy(self.windows, self.providers, senders=self.senders.keys())
        self.links = FakeLinks()
        self.jobs = NotificationJobs(self.links)
        self.fallback = SmsFallback(redis, self.outbound, self.policy, self.jobs)
        self.sink = NotificationSink(self.outbound, self.providers, jobs=self.jobs,
                                     fallback=self.fallback)
        self.reports = RecordedReports()
        self.templates = TemplateBook(templates or {})

    def worker(self) -> SendWorker:
        return SendWorker(self.outbound, self.senders, reports=self.reports,
                          windows=self.windows, templates=self.templates, clock=self.clock,
                          consumer="w", fallback=self.fallback)

    async def wrote(self, channel: str, provider: str, to: str, phone: str = CITIZEN,
                    n: int = 1) -> None:
        """The person wrote to us (admitted as a webhook would)."""
        inbound = Inbound(channel=channel, sender=phone, text="hi", message_id=f"in-{n}-{to}",
                          to=to)  # type: ignore[arg-type]
        await self.inbound.admit(inbound, provider, seen_key=f"test:seen:{n}:{to}",
                                 seen_ttl_s=60)

    async def send_all(self) -> int:
        """Send until nothing is due, jumping the clock to each scheduled retry."""
        done = 0
        for _ in range(50):
            if sent := await self.worker().consume_once():
                done += sent
                continue
            due = await self.outbound.boxes.next_ring()
            if due is None:
                return done
            self.clock.t = max(self.clock.t, due)
        raise AssertionError("the queue did not settle")

    def sent(self) -> list[tuple[str, str, Any]]:
        """(provider, channel, job) of every message the fake providers took, in order."""
        return sorted(((name, job.channel, job) for name, sender in self.senders.items()
                       for _, job in sender.sent), key=lambda item: item[2].job_id)
