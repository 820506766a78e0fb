"""A reply continues the case (bot.followup, flows/case_reply.yaml): the citizen's answer
to "Is the problem fixed now?" acts on that complaint through the real core API. Yes rates
it and so closes it; no reopens it with the citizen's words as the comment; anything else
is handled as usual and the question stays; once answered or expired, "1" is the menu's
first item again."""

from __future__ import annotations

from typing import Any

import httpx

from bot.notifier import Notifier, SimulatorInbox
from channels.queues import simulator_delivery
from core_api.events.relay import relay_once

RAHUL = "+919876500002"  # English citizen of the demo


class Citizen:
    """Rahul's complaint, resolved by the staff, and his chat turns over SMS."""

    def __init__(self, client: httpx.AsyncClient, app: Any, auth: Any) -> None:
        self.client, self.app, self.auth = client, app, auth
        self.number = ""

    async def staff(self, who: str, action: dict[str, Any]) -> None:
        response = await self.client.post(f"/api/v1/complaints/{self.number}/actions",
                                          json=action, headers=await self.auth.staff(who))
        assert response.status_code == 200, response.text

    async def resolved_and_told(self) -> list[str]:
        """File a complaint, have it assigned and resolved, run the notifier once."""
        headers = self.auth.service(RAHUL)
        filed = await self.client.post("/api/v1/complaints", headers=headers, json={
            "type_code": "StreetLightNotWorking", "tenant_code": "uk.dehradun",
            "lat": 30.378, "lng": 78.089})
        assert filed.status_code == 201, filed.text
        self.number = filed.json()["id"]
        lmes = await self.client.get("/api/v1/employees", headers=await self.auth.staff(
            "gro.dehradun"), params={"tenant": "uk.dehradun", "role": "LME",
                                     "department": "DEPT_STREETLIGHT"})
        await self.staff("gro.dehradun", {"action": "ASSIGN", "assignee_id": lmes.json()[0]["id"]})
        await self.staff("lme.electrical.dehradun", {"action": "RESOLVE",
                                                     "comment": "Bulb replaced"})
        return await self.notified()

    async def notified(self) -> list[str]:
        await relay_once(self.app.state.db, self.app.state.redis)
        inbox = SimulatorInbox(self.app.state.redis)
        redis, store = self.app.state.redis, self.app.state.conversations.store
        notifier = Notifier(redis, store, inbox, router=simulator_delivery(redis, store),
                            follow_ups=self.follow_ups)
        await notifier.consume_once()
        return [m.text for channel in ("whatsapp", "sms") for m in await inbox.take(channel, RAHUL)]

    @property
    def follow_ups(self) -> Any:
        return self.app.state.conversations.client.follow_ups

    async def says(self, text: str, **extra: Any) -> dict[str, Any]:
        response = await self.client.post("/simulator/messages", json={
            "from": RAHUL, "channel": "sms", "text": text, **extra})
        assert response.status_code == 200, response.text
        return response.json()

    async def complaint(self) -> dict[str, Any]:
        response = await self.client.get(f"/api/v1/complaints/{self.number}",
                                          headers=self.auth.service(RAHUL))
        assert response.status_code == 200, response.text
        return response.json()


async def test_yes_rates_the_complaint_and_closes_it(client, app, auth) -> None:
    rahul = Citizen(client, app, auth)
    *_assigned, told = await rahul.resolved_and_told()
    assert told == (f"Your complaint {rahul.number} has been resolved. Bulb replaced\n"
                    "Is the problem fixed now?")
    assert (await rahul.follow_ups.pending(RAHUL)).complaint_id == rahul.number
    assert (await rahul.says("1"))["step"] == "ask_rating"
    assert (await rahul.says("4"))["step"] == "ask_feedback"
    done = await rahul.says("Quick work, thanks")
    assert done["flow"] == "main_menu"
    assert f"You rated complaint {rahul.number} 4 out of 5" in done["replies"][0]["rendered"]
    complaint = await rahul.complaint()
    assert (complaint["status"], complaint["rating"]) == ("CLOSEDAFTERRESOLUTION", 4)
    assert await rahul.follow_ups.pending(RAHUL) is None  # answered: asked no more


async def test_no_reopens_the_complaint_with_the_citizens_words(client, app, auth) -> None:
    rahul = Citizen(client, app, auth)
    await rahul.resolved_and_told()
    asked = await rahul.says("No, still broken")  # the option's label, typed
    assert (asked["flow"], asked["step"]) == ("case_reply", "ask_broken")
    assert f"What is still wrong with complaint {rahul.number}?" in asked["replies"][0]["rendered"]
    reopened = await rahul.says("The light still goes off at night")
    assert reopened["flow"] == "main_menu"
    complaint = await rahul.complaint()
    assert (complaint["status"], complaint["reopen_count"]) == ("PENDINGFORASSIGNMENT", 1)
    assert complaint["history"][-1]["action"] == "REOPEN"
    assert complaint["history"][-1]["comment"] == "The light still goes off at night"
    assert await rahul.follow_ups.pending(RAHUL) is None


async def test_anything_else_is_handled_as_usual_and_the_question_stays(
        client, app, auth) -> None:
    rahul = Citizen(client, app, auth)
    await rahul.resolved_and_told()
    assert (await rahul.says("hi"))["flow"] == "main_menu"
    assert (await rahul.says("3"))["flow"] == "pay_bill"  # a menu item, not an answer
    # A button of the notification is an answer even in the middle of another flow.
    tapped = await rahul.says("Yes, fixed", option_id="case_yes")
    assert (tapped["flow"], tapped["step"]) == ("feedback", "ask_rating")
    assert (await rahul.complaint())["status"] == "RESOLVED"  # not rated yet


async def test_an_expired_question_leaves_1_to_the_menu(client, app, auth) -> None:
    rahul = Citizen(client, app, auth)
    await rahul.resolved_and_told()
    assert await app.state.redis.delete(rahul.follow_ups.key(RAHUL)) == 1  # its TTL ran out
    assert (await rahul.says("hi"))["flow"] == "main_menu"
    assert (await rahul.says("1"))["flow"] == "file_complaint"
    assert (await rahul.complaint())["status"] == "RESOLVED"
