"""The bot forgets a number (``bot.personal_keys.conversation_keys``): every key its code
wrote about it, written here by that code — a committed turn on each channel (session,
dedupe mark, kept replies), a held turn's lock, a notification marker, the simulator's
inbox and a pending "is it fixed?" question — and none of another person's."""

from __future__ import annotations

from typing import Any

import pytest

from bot.followup import CaseFollowUps
from bot.messages import Outgoing
from bot.notifier import NOTIFIED_PREFIX, Notification, SimulatorInbox
from bot.personal_keys import conversation_keys
from bot.session_store import SessionStore, conversation_key
from tests.redis_keys import keys_naming

pytestmark = pytest.mark.redis  # on one Redis and on a Redis Cluster

P, Q = "+919876500001", "+919876500002"


async def _traces(redis: Any, phone: str) -> None:
    """What the bot keeps about ``phone`` after a few turns and a notification."""
    sessions = SessionStore(redis)
    for channel in ("whatsapp", "sms"):
        key = conversation_key(channel, phone)
        turn = await sessions.begin(key, f"SM-{channel}")
        assert await sessions.commit(key, turn.token or "", b'{"v": 1}', f"SM-{channel}",
                                     replies=b"[]")
    held = await sessions.begin(conversation_key("sms", phone), "SM-running")  # lock held
    assert held.token is not None
    await redis.set(f"{NOTIFIED_PREFIX}ev-1:{phone}", 1)
    await SimulatorInbox(redis).deliver(
        "whatsapp", Notification(phone, "hi", "complaint_update", Outgoing("Namaste"), "ev-1"))
    await CaseFollowUps(redis).offer(phone, "PGR-1", "hi")


async def test_forget_removes_every_bot_key_of_the_number_only(redis_client):
    await _traces(redis_client, P)
    await _traces(redis_client, Q)
    keys = conversation_keys(redis_client)
    held = await keys.keys(P)
    assert len(held) == 11 and all(P in key for key in held)
    others = await keys_naming(redis_client, Q)

    assert await keys.forget(P) == len(held)

    assert await keys_naming(redis_client, P) == []
    assert await keys_naming(redis_client, Q) == others
    assert await keys.keys(Q) == others
