"""The pure engine with fake services: no I/O, a controllable clock, recorded calls."""

from __future__ import annotations

from typing import Any

import pytest

from bot.engine import IDLE_SECONDS, Engine, ServiceError, unreadable
from bot.messages import Inbound
from bot.nlu import KeywordMatcher
from bot.session import Session
from bot.slices import load_slices


class FakeServices:
    """Answers the profile operations; anything else fails like an unreachable API."""

    def __init__(self) -> None:
        self.nlu = KeywordMatcher()
        self.clock = 1_000_000.0
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def now(self) -> float:
        return self.clock

    async def call(self, op: str, args: dict[str, Any], session: Session) -> Any:
        self.calls.append((op, args))
        if op == "ensure_citizen":
            session.user_id = 42
            return {"known_locale": "no", "has_name": "no", "employee": "no"}
        if op == "update_profile":
            session.name = args.get("name", session.name)
            return {}
        raise ServiceError("unavailable", "down", 503)


@pytest.fixture
def engine() -> Engine:
    slices = load_slices()
    return Engine(slices.flows, slices.helpers)


def text(body: str, channel: str = "sms") -> Inbound:
    return Inbound(channel=channel, sender="+919876500077", kind="text", text=body)


async def run(engine: Engine, services: FakeServices, *messages: Inbound | str,
              session: Session | None = None) -> tuple[Session, list[str]]:
    replies: list[str] = []
    for message in messages:
        inbound = text(message) if isinstance(message, str) else message
        turn = await engine.turn(session, inbound, services)
        session = turn.session
        replies = [reply.text for reply in turn.replies]
    assert session is not None
    return session, replies


async def test_first_contact_in_hindi_registers_and_asks_the_name_once(engine):
    services = FakeServices()
    session, replies = await run(engine, services, "नमस्ते", "हाँ", "गीता")
    assert session.locale == "hi_IN" and session.flow == "main_menu"
    assert replies[0] == "धन्यवाद, गीता।"
    assert ("update_profile", {"name": "गीता"}) in services.calls
    assert len(session.dumps()) < 300


async def test_an_unknown_step_restarts_politely(engine):
    services = FakeServices()
    session, _ = await run(engine, services, "hi", "1", "Asha")
    session.step = "a_step_that_was_removed"
    session, replies = await run(engine, services, "1", session=session)
    assert replies[0].startswith("Sorry, we had to start again")
    assert session.flow == "main_menu" and session.step == "menu"


async def test_idle_for_thirty_minutes_offers_continue_or_start_over(engine):
    services = FakeServices()
    session, _ = await run(engine, services, "hi", "1", "Asha", "language")
    assert session.flow == "change_language"
    services.clock += IDLE_SECONDS + 1
    session, replies = await run(engine, services, "2", session=session)
    assert "continue where you left off" in replies[0]
    assert session.locale == "en_IN"  # the answer was not taken as the language choice
    session, replies = await run(engine, services, "1", session=session)
    assert replies[0].startswith("Choose your language")
    session, replies = await run(engine, services, "2", session=session)
    assert session.locale == "hi_IN"


async def test_stop_silences_everything_until_start(engine):
    services = FakeServices()
    session, _ = await run(engine, services, "hi", "1", "Asha")
    session, replies = await run(engine, services, "STOP", session=session)
    assert session.opted_out and "no more messages" in replies[0]
    assert ("update_profile", {"opted_out": True}) in services.calls
    session, replies = await run(engine, services, "hello?", session=session)
    assert replies == []
    session, replies = await run(engine, services, "start", session=session)
    assert not session.opted_out and replies[0].startswith("Welcome back")


@pytest.mark.parametrize(("inbound", "hint"), [
    (Inbound(channel="whatsapp", sender="+919876500077", kind="sticker"),
     "hint.unsupported_media"),
    (Inbound(channel="whatsapp", sender="+919876500077", kind="audio"), "hint.unsupported_media"),
    (text("x" * 3000), "hint.too_long"),
    (text("🙏🙏🙏"), "hint.emoji_only"),
    (text("   "), "hint.empty"),
    (text("२"), None),
])
def test_unreadable_input_is_recognised(inbound, hint):
    assert unreadable(inbound) == hint


async def test_a_very_long_message_gets_a_hint_and_the_question_again(engine):
    services = FakeServices()
    session, _ = await run(engine, services, "hi", "1", "Asha")
    session, replies = await run(engine, services, "x" * 3000, session=session)
    assert "too long" in replies[0] and replies[1].startswith("How can we help")


async def test_session_round_trips_through_compact_json():
    session = Session(flow="pay_bill", step="confirm", slots={"bill": "B-1"}, locale="hi_IN",
                      user_id=5, channel="sms", last_at=12.34)
    raw = session.dumps()
    assert Session.loads(raw) == Session(**{**session.__dict__, "last_at": 12.3})
    assert Session.loads(b"not json") is None
    assert Session.loads(b'{"v": 99}') is None


async def test_a_request_as_the_first_message_is_answered_after_onboarding(engine):
    services = FakeServices()
    session, replies = await run(engine, services, "भाषा बदलें", "हाँ", "गीता")
    assert session.pending is None
    assert session.flow == "change_language", replies  # the request, not the menu
    assert replies[0] == "धन्यवाद, गीता।"


class UnsureNLU:
    """An NLU that is only fairly sure: the engine must ask before acting."""

    async def understand(self, text: str, locale: str | None):
        from bot.nlu import Understanding

        return Understanding("pay_bill", 0.6, {}, source="rasa", confirm=True)


async def test_a_middling_guess_is_confirmed_before_acting(engine):
    services = FakeServices()
    session, _ = await run(engine, services, "hi", "1", "Asha")
    services.nlu = UnsureNLU()  # type: ignore[assignment]
    session, replies = await run(engine, services, "i wanna settle dues", session=session)
    assert replies == ["Did you mean: Pay a bill?"]
    session, replies = await run(engine, services, "no", session=session)
    assert replies[0].startswith("How can we help") and session.step == "menu"
    session, replies = await run(engine, services, "settle my dues", "yes", session=session)
    # "yes" entered pay_bill, whose first step asks the (here unreachable) core API.
    assert ("call", "unpaid_bills") in [("call", op) for op, _ in services.calls]
    assert replies[0].startswith("We could not") and "_maybe" not in session.slots
