"""Whole conversations through POST /simulator/messages with the real core API behind.

Each example is a new citizen (a fresh number) sending up to 8 arbitrary turns (after
onboarding, or from the first message) — text in any script, option ids, menu picks,
pins, media of every kind — on SMS or WhatsApp. The full
stack answers (session store in Redis, the engine, core-API calls to PostgreSQL/SQLite,
the channel renderers): every turn must be a 200 with a reply (unless the person opted
out), and every SMS reply must fit the 3-segment budget.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bot.i18n import available_locales, words
from channels.render import SMS_SEGMENT_BUDGET
from tests.fuzz.strategies import sim_turn

_numbers = itertools.count(40000)
STOP_WORDS = {w for locale in available_locales() for w in words(locale, "words.stop")}
ONBOARDED = ({"text": "hi"}, {"text": "1"}, {"text": "Asha"})  # English, named: at the menu
pick = st.sampled_from(("1", "2", "3", "4", "5", "6", "7", "yes", "no", "menu", "back"))
conversation = st.tuples(
    st.sampled_from(("sms", "whatsapp")), st.booleans(),
    st.lists(st.one_of(sim_turn, pick.map(lambda t: {"text": t})), min_size=1, max_size=8))


@pytest.mark.reliability
@pytest.mark.timeout(300)
async def test_simulated_conversations_always_answer_within_budget(client, backend,
                                                                  reliability):
    loop = asyncio.get_running_loop()
    stats = {"conversations": 0, "turns": 0, "replies": 0, "max_segments": 0}
    statuses: dict[int, int] = {}
    flows: set[str] = set()

    async def converse(channel: str, onboard: bool, turns: list[dict[str, Any]]) -> None:
        phone = f"+9198765{next(_numbers) % 100000:05d}"  # a new citizen each time
        stats["conversations"] += 1
        opted_out = False
        for body in [*ONBOARDED, *turns] if onboard else turns:
            response = await client.post("/simulator/messages",
                                         json={"from": phone, "channel": channel, **body})
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            assert response.status_code == 200, (body, response.text)
            turn = response.json()
            stats["turns"] += 1
            stats["replies"] += len(turn["replies"])
            if turn["flow"]:
                flows.add(turn["flow"])
            if not turn["replies"]:
                assert opted_out, (body, turn)  # silence only after STOP
            said = (body.get("text") or "").strip().casefold()
            opted_out = opted_out or said in STOP_WORDS
            for reply in turn["replies"]:
                assert reply["text"].strip()
                if channel == "sms":
                    segments = reply["sms"]["segments"]
                    stats["max_segments"] = max(stats["max_segments"], segments)
                    assert segments <= SMS_SEGMENT_BUDGET, reply["rendered"]

    @hsettings(max_examples=25)
    @given(conversation)
    def check(case: tuple[str, bool, list[dict[str, Any]]]) -> None:
        asyncio.run_coroutine_threadsafe(converse(*case), loop).result(timeout=120)

    await asyncio.to_thread(check)  # the app lives on this loop; hypothesis runs beside it
    reliability.record(
        area="fuzz", case=f"simulator conversations through the real stack (hypothesis, {backend})",
        sent=f"{stats['conversations']} new citizens, {stats['turns']} turns: any text, "
             "option ids, pins, media of every kind; SMS and WhatsApp",
        did=f"{stats['replies']} replies, statuses "
            + ", ".join(f"{code}×{n}" for code, n in sorted(statuses.items()))
            + f"; SMS replies ≤ {stats['max_segments']} segments (budget {SMS_SEGMENT_BUDGET});"
            f" flows reached: {', '.join(sorted(flows))}",
        lost="nothing: no error, every turn answered (except after STOP)",
    )
