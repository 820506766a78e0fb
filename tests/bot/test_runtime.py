"""The conversation runtime on the real stack: round trips, dedupe, concurrency, failures."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from sqlalchemy import select

from bot.messages import Inbound
from bot.session import Session
from bot.session_store import conversation_key
from core_api.complaints.models import Complaint
from core_api.users.models import User
from tests.redis_counting import round_trips

CITIZEN = "+919876500002"  # English demo citizen


def message(text: str, message_id: str | None = None, channel: str = "sms") -> Inbound:
    return Inbound(channel=channel, sender=CITIZEN, kind="text", text=text,
                   message_id=message_id, received_at=time.time())


async def _at_menu(app: Any) -> None:
    turn = await app.state.conversations.handle(message("hi", "m-0"))
    assert turn is not None and turn.session.flow == "main_menu"


async def test_a_menu_turn_costs_two_redis_round_trips(app, redis_client):
    """Begin and commit, as the simulator and the console run a turn; the inbound worker
    folds both into its mailbox's steps (tests/channels/test_pipeline_round_trips.py)."""
    await _at_menu(app)
    async with round_trips(redis_client) as counted:
        turn = await app.state.conversations.handle(message("7", "m-1"))  # Help, then the menu
    assert turn is not None
    assert "Samvad lets you" in turn.replies[0].text
    assert counted.writes == 2, counted
    assert counted.server.get("evalsha") == 2, counted.server


async def test_a_repeated_provider_message_is_handled_once(app):
    await _at_menu(app)
    first = await app.state.conversations.handle(message("7", "SM-repeat"))
    again = await app.state.conversations.handle(message("7", "SM-repeat"))
    assert first is not None and first.replies
    assert again is None


async def test_two_messages_at_once_are_handled_in_turn(app, redis_client):
    await _at_menu(app)
    turns = await asyncio.gather(
        app.state.conversations.handle(message("99", "m-a")),
        app.state.conversations.handle(message("98", "m-b")),
    )
    assert all(t is not None and "pick one of the options" in t.replies[0].text for t in turns)
    key = app.state.conversations.store.keys(conversation_key("sms", CITIZEN)).session
    saved = Session.loads(await redis_client.get(key))
    assert saved is not None
    assert saved.retries == 2  # neither turn overwrote the other


async def test_a_crashing_turn_answers_politely_and_keeps_the_session(app, redis_client):
    await _at_menu(app)
    engine = app.state.conversations.engine

    async def broken(*_args: Any) -> Any:
        raise RuntimeError("bug")

    original = engine.turn
    engine.turn = broken
    try:
        turn = await app.state.conversations.handle(message("1", "m-crash"))
    finally:
        engine.turn = original
    assert turn is not None and "Nothing you entered is lost" in turn.replies[0].text
    retry = await app.state.conversations.handle(message("7", "m-crash"))  # the provider retries
    assert retry is not None and "Samvad lets you" in retry.replies[0].text


async def test_simulator_reports_duplicates_and_validates_input(client):
    body = {"from": CITIZEN, "channel": "whatsapp", "text": "hi", "message_id": "wamid.X1"}
    first = await client.post("/simulator/messages", json=body)
    second = await client.post("/simulator/messages", json=body)
    assert first.json()["flow"] == "main_menu"
    assert second.json() == {"replies": [], "flow": None, "step": None, "locale": None,
                             "duplicate": True}
    bad = await client.post("/simulator/messages", json={"from": "12", "text": "hi"})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_phone"


async def test_a_turn_run_again_after_a_worker_died_files_its_complaint_once(app, session):
    """A worker that died after filing but before saving the turn leaves the message to
    be handled again (its lease runs out); the same message's request key finds the same
    complaint instead of filing a second one."""
    conversations = app.state.conversations
    for n, text in enumerate(["hi", "1", "1", "1", "1", "1", "rajpur", "1", "skip"]):
        turn = await conversations.handle(message(text, f"m-file-{n}"))
        assert turn is not None
    assert "Problem: Streetlight not working" in turn.replies[0].text, turn.replies

    store = conversations.store
    commit = store.commit

    async def killed(key: str, token: str, *_args: Any, **_kwargs: Any) -> bool:
        # The process dies here: nothing saved; the lease running out frees the lock.
        await store.release(key, token, "m-file-yes")
        raise SystemExit("worker killed")

    store.commit = killed
    try:
        try:
            await conversations.handle(message("yes", "m-file-yes"))
        except SystemExit:
            pass
        else:
            raise AssertionError("the kill did not happen")
    finally:
        store.commit = commit
    again = await conversations.handle(message("yes", "m-file-yes"))
    assert again is not None and again.session.flow == "main_menu"
    filed = re.search(r"PG-UK-DDN-\d{4}-\d{6}", again.replies[0].text)
    assert filed is not None, again.replies

    citizen = await session.scalar(select(User.id).where(User.phone == CITIZEN))
    numbers = list(await session.scalars(
        select(Complaint.complaint_no).where(Complaint.citizen_user_id == citizen)))
    assert numbers == [filed.group(0)]
