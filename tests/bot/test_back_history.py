"""BACK through the engine's history (``bot.history``): question by question with the
answers given before kept, a bounded number of steps, pages as positions, and big lists
fetched again rather than kept in the session. A small flow of its own, fake services."""

from __future__ import annotations

from typing import Any

import pytest

from bot.engine import Engine
from bot.flowspec import FlowDef
from bot.history import MAX_BACK, SESSION_BYTES
from bot.messages import Inbound, Outgoing
from bot.session import Session

QUESTIONS = 6
ROWS = 5  # per page, then "More"
PAGES = 3

MENU = {"spec_version": 1, "id": "main_menu", "start": "menu", "steps": {
    "menu": {"ask": "t.menu", "input": {"type": "choice", "options": [
        {"id": "survey", "label": "t.survey"}]}, "next": {"survey": "@survey"}}}}


def _survey() -> dict[str, Any]:
    """A paged list (the page is dropped once an item is picked), then text questions."""
    steps: dict[str, Any] = {
        "load": {"call": "pages", "args": {"after": "{page.p}"}, "save": "page", "next": "pick"},
        "pick": {"ask": "t.pick", "input": {"type": "choice", "options_from": {
            "source": "page.items", "id": "i", "label": "l"}}, "save": "picked",
            "next": {"more": "load", "*": "picked"}},
        "picked": {"do": "forget_page", "next": "q1"},
    }
    for n in range(1, QUESTIONS + 1):
        steps[f"q{n}"] = {"ask": f"t.q{n}", "input": {"type": "text"}, "save": f"a{n}",
                          "next": f"q{n + 1}" if n < QUESTIONS else "@main_menu"}
    return {"spec_version": 1, "id": "survey", "start": "load", "steps": steps}


def _forget_page(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    slots.pop("page", None)
    return {}


class Services:
    """Pages of long option labels; every call recorded."""

    def __init__(self) -> None:
        self.nlu = _NoNLU()
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def now(self) -> float:
        return 1_000_000.0

    async def call(self, op: str, args: dict[str, Any], session: Session) -> Any:
        self.calls.append((op, args))
        page = (int(args.get("after") or 0)) % PAGES + 1
        items = [{"i": f"p{page}r{row}", "l": f"Page {page} row {row}, a long label"}
                 for row in range(1, ROWS + 1)]
        return {"p": page, "items": [*items, {"i": "more", "l": "More"}]}


class _NoNLU:
    async def understand(self, text: str, locale: str | None) -> Any:
        from bot.nlu import Understanding

        return Understanding(None, 0.0, {})


@pytest.fixture
def engine() -> Engine:
    flows = {f["id"]: FlowDef.model_validate(f) for f in (MENU, _survey())}
    return Engine(flows, {"forget_page": _forget_page})


class Chat:
    def __init__(self, engine: Engine) -> None:
        self.engine, self.services = engine, Services()
        self.session = Session(locale="en_IN", user_id=1, channel="whatsapp")

    async def send(self, text: str) -> Outgoing:
        inbound = Inbound(channel="whatsapp", sender="+919876500099", kind="text", text=text)
        turn = await self.engine.turn(self.session, inbound, self.services)
        self.session = turn.session
        return turn.replies[-1]

    def loads(self) -> list[dict[str, Any]]:
        return [args for op, args in self.services.calls if op == "pages"]


def _labels(reply: Outgoing) -> list[str]:
    return [option.label for option in reply.options]


async def test_back_goes_question_by_question_keeping_earlier_answers_and_is_bounded(engine):
    chat = Chat(engine)
    await chat.send("hi")
    await chat.send("1")  # the survey's list
    await chat.send("Page 1 row 2, a long label")
    for n in range(1, QUESTIONS):
        await chat.send(f"answer {n}")
    assert chat.session.step == f"q{QUESTIONS}"
    assert len(chat.session.back) == MAX_BACK  # the oldest answers fell out of the history

    for n in range(QUESTIONS - 1, QUESTIONS - 1 - MAX_BACK, -1):
        reply = await chat.send("back")
        assert (chat.session.step, reply.text) == (f"q{n}", f"t.q{n}")
        kept = {key: value for key, value in chat.session.slots.items() if key.startswith("a")}
        assert kept == {f"a{m}": f"answer {m}" for m in range(1, n)}  # earlier answers kept
    assert chat.session.back == []
    reply = await chat.send("back")  # nothing older is remembered: the way out
    assert (chat.session.flow, reply.text) == ("main_menu", "t.menu")


async def test_a_page_is_a_position_and_a_big_list_is_fetched_again_not_kept(engine):
    chat = Chat(engine)
    await chat.send("hi")
    first = await chat.send("1")
    assert _labels(first)[0] == "Page 1 row 1, a long label"
    await chat.send("More")
    third = await chat.send("More")
    assert _labels(third)[0] == "Page 3 row 1, a long label"

    second = await chat.send("back")
    assert (chat.session.step, _labels(second)[0]) == ("pick", "Page 2 row 1, a long label")
    assert chat.loads()[-1] == {"after": 1}  # page 2 is fetched again as it was loaded

    first = await chat.send("back")
    assert _labels(first)[0] == "Page 1 row 1, a long label"
    assert chat.loads()[-1] == {"after": None}

    question = await chat.send("Page 1 row 3, a long label")
    assert question.text == "t.q1" and "page" not in chat.session.slots
    assert b"long label" not in chat.session.dumps()  # the history names how to fetch it
    again = await chat.send("back")
    assert (chat.session.step, _labels(again)[2]) == ("pick", "Page 1 row 3, a long label")
    assert "picked" not in chat.session.slots  # the answer being undone is gone


async def test_back_when_the_list_cannot_be_fetched_stays_at_the_question(engine):
    chat = Chat(engine)
    await chat.send("hi")
    await chat.send("1")
    await chat.send("Page 1 row 1, a long label")

    async def down(op: str, args: dict[str, Any], session: Session) -> Any:
        from bot.services import ServiceError

        raise ServiceError("unavailable", "down", 503)

    chat.services.call = down  # type: ignore[method-assign]
    reply = await chat.send("back")
    assert chat.session.step == "q1" and reply.text == "t.q1"
    assert len(chat.session.back) == 1  # kept for when the list can be fetched again


async def test_long_answers_shorten_the_history_to_keep_the_session_small(engine):
    chat = Chat(engine)
    await chat.send("hi")
    await chat.send("1")
    await chat.send("Page 1 row 1, a long label")
    long = "x" * 150
    for n in range(1, QUESTIONS):
        await chat.send(f"{n} {long}")
    assert 1 <= len(chat.session.back) < MAX_BACK
    assert len(chat.session.dumps()) <= SESSION_BYTES
    reply = await chat.send("back")  # the newest answers can still be undone
    assert reply.text == f"t.q{QUESTIONS - 1}" and f"a{QUESTIONS - 1}" not in chat.session.slots
    assert chat.session.slots[f"a{QUESTIONS - 2}"] == f"{QUESTIONS - 2} {long}"
