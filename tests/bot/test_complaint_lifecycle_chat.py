"""A complaint's whole life in the chat (SPEC §4, §5): a Hindi citizen files it by SMS, the GRO
assigns it from WhatsApp, the LME hears about it and resolves it from WhatsApp, the citizen
hears "resolved" in Hindi by SMS (outbox relay and notifier, delivered to the simulator
inbox) and rates it in the chat; the complaint ends closed with her rating."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from bot.notifier import Notifier, SimulatorInbox
from channels.queues import simulator_delivery
from core_api.events.relay import relay_once

SUNITA = "+919876500001"  # Hindi citizen
GRO = "+919876510001"  # मीना रावत, Hindi
LME = "+919876510002"  # Ramesh Negi, Hindi, streetlights


class People:
    """Everyone's chat turns and notifications, with a readable log of the conversation."""

    def __init__(self, client: httpx.AsyncClient, app: Any) -> None:
        self.client = client
        self.app = app
        self.log: list[str] = []

    async def say(self, phone: str, channel: str, text: str, step: str) -> str:
        response = await self.client.post("/simulator/messages",
                                          json={"from": phone, "channel": channel, "text": text})
        assert response.status_code == 200, response.text
        turn = response.json()
        seen = "\n".join(r["rendered"] if isinstance(r["rendered"], str)
                         else " | ".join(_texts(r["rendered"])) for r in turn["replies"])
        self.log.append(f"{phone} ({channel}) > {text}\n{seen}")
        assert turn["step"] == step, f"{text!r} -> {turn['flow']}.{turn['step']}:\n{seen}"
        return seen

    async def notified(self, phone: str, channel: str) -> list[str]:
        """Relay the committed events, run the notifier once, read the person's inbox."""
        await relay_once(self.app.state.db, self.app.state.redis)
        redis, store = self.app.state.redis, self.app.state.conversations.store
        notifier = Notifier(redis, store, SimulatorInbox(redis),
                            router=simulator_delivery(redis, store))
        await notifier.consume_once()
        inbox = await self.client.get("/simulator/messages",
                                      params={"from": phone, "channel": channel})
        texts = [reply["text"] for reply in inbox.json()["replies"]]
        self.log.extend(f"{phone} ({channel}) <- notification: {text}" for text in texts)
        return texts


def _texts(payloads: list[dict[str, Any]]) -> list[str]:
    """The visible text of WhatsApp Cloud API payloads (bodies, buttons, rows)."""
    found = []
    for payload in payloads:
        if payload["type"] == "text":
            found.append(payload["text"]["body"])
        elif payload["type"] == "interactive":
            found.append(payload["interactive"]["body"]["text"])
            action = payload["interactive"]["action"]
            found += [b["reply"]["title"] for b in action.get("buttons", [])]
            found += [r["title"] for s in action.get("sections", []) for r in s["rows"]]
        else:
            found.append(json.dumps(payload, ensure_ascii=False))
    return found


async def test_filed_by_sms_assigned_and_resolved_in_staff_chat_rated_by_the_citizen(
        client: httpx.AsyncClient, app: Any, auth: Any) -> None:
    people = People(client, app)
    # The citizen files by SMS.
    await people.say(SUNITA, "sms", "नमस्ते", "menu")
    await people.say(SUNITA, "sms", "स्ट्रीट लाइट खराब है", "confirm_type")
    await people.say(SUNITA, "sms", "हाँ", "city")
    await people.say(SUNITA, "sms", "देहरादून", "ask_locality")
    await people.say(SUNITA, "sms", "राजपुर", "pick_place")
    await people.say(SUNITA, "sms", "1", "ask_description")
    await people.say(SUNITA, "sms", "खंभा 14 की बत्ती बंद है", "confirm_sms")
    filed = await people.say(SUNITA, "sms", "हाँ", "menu")
    found = re.search(r"शिकायत (PG-UK-DDN-\d{4}-\d{6}) दर्ज हो गई है", filed)
    assert found, filed
    number = found.group(1)
    assert await people.notified(SUNITA, "sms") == []  # she saw the number in the chat

    # The GRO assigns it from WhatsApp to the streetlight LME.
    await people.say(GRO, "whatsapp", "नमस्ते", "menu")
    tasks = await people.say(GRO, "whatsapp", "मेरे काम", "pick")
    assert "आपके काम: 1" in tasks and "स्ट्रीट लाइट" in tasks
    details = await people.say(GRO, "whatsapp", "1", "act")
    assert f"शिकायत {number}" in details and "सुनीता देवी, +91" in details
    assert "विवरण: खंभा 14 की बत्ती बंद है" in details
    await people.say(GRO, "whatsapp", "सौंपें", "pick_lme")
    assigned = await people.say(GRO, "whatsapp", "Ramesh Negi", "none")
    assert f"शिकायत {number} Ramesh Negi को सौंप दी गई है" in assigned

    # The LME hears of the new task (by SMS: he has no WhatsApp conversation yet) and so
    # does the citizen.
    [task] = await people.notified(LME, "sms")
    assert task.startswith(f"नया काम: शिकायत {number} आपको सौंपी गई है, समय-सीमा ")
    assert await people.notified(SUNITA, "sms") == [
        f"आपकी शिकायत {number} हमारे फ़ील्ड कर्मचारी को सौंप दी गई है।"]

    # He resolves it from WhatsApp with a note and no photo.
    await people.say(LME, "whatsapp", "मेनू", "menu")
    await people.say(LME, "whatsapp", "1", "pick")
    assert "स्थिति: कर्मचारी को सौंपी गई" in await people.say(LME, "whatsapp", "1", "act")
    await people.say(LME, "whatsapp", "हल हो गई", "ask_resolution")
    await people.say(LME, "whatsapp", "बल्ब बदल दिया गया", "ask_photo")
    resolved = await people.say(LME, "whatsapp", "छोड़ें", "none")
    assert f"शिकायत {number} हल के रूप में दर्ज हो गई" in resolved

    # The citizen hears it in Hindi by SMS, and rates the work in the chat.
    [notice] = await people.notified(SUNITA, "sms")
    assert notice.startswith(f"आपकी शिकायत {number} का समाधान हो गया है। बल्ब बदल दिया गया")
    assert notice.endswith("क्या समस्या अब ठीक हो गई है?")  # answered in tests/bot/test_case_reply.py
    await people.say(SUNITA, "sms", "2", "pick")
    shown = await people.say(SUNITA, "sms", "1", "act")
    assert "स्थिति: हल हो गई" in shown and "बल्ब बदल दिया गया" in shown
    await people.say(SUNITA, "sms", "रेटिंग दें", "ask_rating")
    await people.say(SUNITA, "sms", "5", "ask_feedback")
    rated = await people.say(SUNITA, "sms", "बहुत जल्दी ठीक हुआ", "menu")
    assert f"आपने शिकायत {number}" in rated and "5 में से 5 अंक" in rated
    # Her own rating closed it: the chat said so, no notification repeats it.
    assert await people.notified(SUNITA, "sms") == []

    complaint = (await client.get(f"/api/v1/complaints/{number}",
                                  headers=await auth.staff("gro.dehradun"))).json()
    assert (complaint["status"], complaint["rating"], complaint["source"]) == (
        "CLOSEDAFTERRESOLUTION", 5, "sms")
    assert [h["action"] for h in complaint["history"]] == ["APPLY", "ASSIGN", "RESOLVE", "RATE"]
    print("\n\n".join(people.log))  # the conversation, for the record (-s)
