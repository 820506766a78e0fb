"""The pure flow engine under arbitrary conversations: no exception, no silence, SMS fits.

Conversations of up to 12 messages (any text, option ids, pins, media of every kind,
global words in the four languages) on SMS and WhatsApp, for a citizen and an employee,
with the core API answering the profile operations and failing everything else (the same
fake services as tests/bot/test_engine.py), the clock jumping past the idle limit.
Every turn must answer (unless the person opted out), and every SMS reply must fit the
3-segment budget that ``samvad flows check`` enforces for prompts.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bot.engine import IDLE_SECONDS, Engine
from bot.messages import Inbound, Location, Media
from bot.session import Session
from bot.slices import load_slices
from channels.render import SMS_SEGMENT_BUDGET, render_sms, sms_segments
from tests.bot.test_engine import FakeServices
from tests.fuzz.strategies import any_text

SENDER = "+919876500077"
FLOW_WORDS = ("1", "2", "3", "4", "5", "6", "7", "8", "complaint", "bill", "receipt",
              "certificate", "track", "feedback", "yes", "no", "more", "_more", "continue",
              "restart", "STOP", "stop", "START", "menu", "back", "help", "language", "हाँ",
              "मेनू", "भाषा", "Asha", "गीता")


class StaffServices(FakeServices):
    """The same fake API, answering as for an employee."""

    async def call(self, op: str, args: dict[str, Any], session: Session) -> Any:
        if op == "ensure_citizen":
            session.user_id, session.employee = 7, True
            return {"known_locale": "no", "has_name": "yes", "employee": "yes"}
        return await super().call(op, args, session)


def _message(channel: str, data: Any) -> Inbound:
    kind, payload = data
    if kind == "text":
        return Inbound(channel=channel, sender=SENDER, kind="text", text=payload)
    if kind == "option":
        return Inbound(channel=channel, sender=SENDER, kind="text", text=payload[1],
                       option_id=payload[0])
    if kind == "location":
        return Inbound(channel=channel, sender=SENDER, kind="location",
                       location=Location(*payload))
    return Inbound(channel=channel, sender=SENDER, kind=kind, text=payload,
                   media=(Media("https://example.org/m", "image/jpeg"),))


turn = st.one_of(
    st.tuples(st.just("text"), st.one_of(any_text, st.sampled_from(FLOW_WORDS),
                                         st.sampled_from(FLOW_WORDS))),
    st.tuples(st.just("option"), st.tuples(st.one_of(st.sampled_from(FLOW_WORDS), any_text),
                                           st.one_of(st.none(), any_text))),
    st.tuples(st.just("location"), st.tuples(st.floats(-90, 90), st.floats(-180, 180))),
    st.tuples(st.sampled_from(("image", "audio", "video", "sticker", "document", "contacts",
                               "unsupported")), st.one_of(st.none(), any_text)),
)
conversation = st.fixed_dictionaries({
    "channel": st.sampled_from(("sms", "whatsapp")),
    "staff": st.booleans(),
    "turns": st.lists(st.tuples(turn, st.sampled_from((0, 0, 0, IDLE_SECONDS + 1))),
                      min_size=1, max_size=12),
})


@pytest.mark.reliability
@pytest.mark.timeout(300)
def test_any_conversation_is_answered_within_the_sms_budget(reliability):
    slices = load_slices()
    engine = Engine(slices.flows, slices.helpers)
    stats = {"conversations": 0, "turns": 0, "replies": 0, "silent_opted_out": 0,
             "max_segments": 0}
    flows_seen: set[str] = set()

    @hsettings(max_examples=300)
    @given(conversation)
    def check(case):
        asyncio.run(converse(case))

    async def converse(case):
        services = StaffServices() if case["staff"] else FakeServices()
        session: Session | None = None
        stats["conversations"] += 1
        for data, pause in case["turns"]:
            services.clock += pause
            inbound = _message(case["channel"], data)
            was_opted_out = bool(session and session.opted_out)
            result = await engine.turn(session, inbound, services)
            session = result.session
            stats["turns"] += 1
            stats["replies"] += len(result.replies)
            if session.flow:
                flows_seen.add(session.flow)
            if not result.replies:
                # Silence is only for a person who said STOP (and did not say START).
                assert was_opted_out and session.opted_out, (inbound, session)
                stats["silent_opted_out"] += 1
            for reply in result.replies:
                assert reply.text.strip(), (inbound, reply)
                if case["channel"] == "sms":
                    segments = sms_segments(render_sms(reply)).segments
                    stats["max_segments"] = max(stats["max_segments"], segments)
                    assert segments <= SMS_SEGMENT_BUDGET, (inbound, render_sms(reply))
            assert len(session.dumps()) < 4000  # the session stays small in Redis

    check()  # the engine is pure: each conversation runs on a fresh event loop
    reliability.record(
        area="fuzz", case="flow engine: arbitrary conversations (hypothesis)",
        sent=f"{stats['conversations']} conversations, {stats['turns']} messages: any text, "
             "option ids, pins, media of every kind, global words, idle gaps; SMS and "
             "WhatsApp; citizen and employee",
        did=f"{stats['replies']} replies, every SMS reply ≤ {stats['max_segments']} segments "
            f"(budget {SMS_SEGMENT_BUDGET}); flows reached: {', '.join(sorted(flows_seen))}",
        lost=f"nothing: no exception, no silent turn except {stats['silent_opted_out']} "
             "after STOP",
    )
