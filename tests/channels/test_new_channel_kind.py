"""Adding a channel kind is its capabilities row, its renderer and one ``RENDERERS`` line
(plus its provider folder): proven with throwaway kinds registered for one test. A
conversation runs on "telegram" through the simulator, the engine pages its menus by its
row, and ``flows check`` holds a kind with a segment budget to it. The rows of the real
kinds agree with the providers' wire limits."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from typing import Any

import httpx
import pytest

from bot.channel_kinds import CHANNEL_KINDS, Capabilities, capabilities, channel_kinds
from bot.flowcheck import check_flows
from bot.messages import Option, Outgoing
from channels.console.chat import render
from channels.render import (
    RENDERERS,
    TWILIO_BODY_MAX,
    message_segments,
    render_meta,
    render_simulator,
)

PAGE = 2  # telegram's options per page, in the throwaway row below
TELEGRAM = Capabilities(
    kind="telegram", list_rows=3, page_size=PAGE, buttons=0, button_title_max=64,
    list_row_title_max=64, list_row_description_max=0, text_max=4096, media=True,
    location_request=False, segment_budget=None, reply_window_s=None, interactive=False,
)


class TelegramRenderer:
    """Bot API ``sendMessage``: the text, and the options as a one-column reply keyboard."""

    def text(self, msg: Outgoing, *, menu_hint: str | None = None) -> str:
        return "\n".join([msg.text, *(f"[{option.label}]" for option in msg.options)])

    def delivered(self, msg: Outgoing, *, to: str | None = None, menu_hint: str | None = None,
                  list_button: str | None = None) -> dict[str, Any]:
        keyboard = [[{"text": option.label}] for option in msg.options]
        return {"chat_id": to, "text": msg.text, "reply_markup": {"keyboard": keyboard}}


@pytest.fixture
def telegram(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(CHANNEL_KINDS, "telegram", TELEGRAM)
    monkeypatch.setitem(RENDERERS, "telegram", TelegramRenderer())


def _keyboard(reply: dict[str, Any]) -> list[str]:
    return [row[0]["text"] for row in reply["rendered"]["reply_markup"]["keyboard"]]


async def _say(client: httpx.AsyncClient, text: str) -> list[dict[str, Any]]:
    answer = await client.post("/simulator/messages", json={
        "from": "+919876500061", "channel": "telegram", "text": text})
    assert answer.status_code == 200, answer.text
    replies: list[dict[str, Any]] = answer.json()["replies"]
    return replies


async def test_a_conversation_runs_on_a_new_kind_paged_by_its_row(
        telegram: None, client: httpx.AsyncClient) -> None:
    [languages] = await _say(client, "hi")
    assert languages["rendered"]["chat_id"] == "+919876500061"
    assert "Choose your language" in languages["rendered"]["text"]
    assert languages["sms"] is None  # not billed by segment
    first_page = _keyboard(languages)
    assert len(first_page) == PAGE + 1 and first_page[0] == "English"
    [next_page] = await _say(client, str(len(first_page)))  # "More options", by its number
    assert _keyboard(next_page)[0] not in first_page

    await _say(client, "English")
    *_, menu = await _say(client, "Asha")
    assert "How can we help you?" in menu["rendered"]["text"]
    assert len(_keyboard(menu)) == PAGE + 1  # the main menu, paged the same


def test_the_console_and_the_simulator_render_through_the_registry(telegram: None) -> None:
    msg = Outgoing("Pick one", options=(Option("a", "Alpha"), Option("b", "Beta")))
    assert render(msg, "telegram") == "Pick one\n[Alpha]\n[Beta]"
    shown = render_simulator(msg, "telegram", to="+919876500061")
    assert _keyboard(shown) == ["Alpha", "Beta"] and shown["options"][1]["id"] == "b"


def test_flows_check_holds_a_kind_with_a_segment_budget_to_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A text-only "ussd" kind (SMS-like rendering, pages of 2, one segment): every flow is
    measured on it, its paged prompts as it pages them, and over-long ones are reported."""
    ussd = replace(capabilities("sms"), kind="ussd", list_rows=3, page_size=2, segment_budget=1)
    monkeypatch.setitem(CHANNEL_KINDS, "ussd", ussd)
    monkeypatch.setitem(RENDERERS, "ussd", RENDERERS["sms"])
    data_rows: dict[str, set[int]] = defaultdict(set)

    def segments(kind: str, msg: Outgoing) -> int:
        ids = [option.id for option in msg.options]
        rows = sum(option_id.startswith("row") for option_id in ids)  # sample rows from data
        if rows and ids[-1] == "more":  # a paged prompt
            data_rows[kind].add(rows)
        return message_segments(kind, msg)

    _flows, problems = check_flows(segments=segments)
    assert data_rows == {"sms": {6}, "ussd": {2}}  # whatsapp has no budget to measure
    over = [problem.message for problem in problems if "segments (budget" in problem.message]
    assert over and all(message.startswith("USSD message in ") for message in over)
    assert all("(budget 1)" in message for message in over)


def test_every_kind_has_a_renderer() -> None:
    assert set(RENDERERS) == set(channel_kinds())


def test_the_rows_fit_the_providers_wire_limits() -> None:
    # Twilio carries SMS: a body as long as the sms row allows is one Twilio message.
    assert capabilities("sms").text_max <= TWILIO_BODY_MAX
    # Meta: as many list rows and buttons as the whatsapp row says, and no more.
    whatsapp = capabilities("whatsapp")
    rows = tuple(Option(f"o{n}", f"Option {n}") for n in range(whatsapp.list_rows))
    [as_list] = render_meta(Outgoing("Pick", options=rows), "+919876500001")
    assert len(as_list["interactive"]["action"]["sections"][0]["rows"]) == whatsapp.list_rows
    [as_text] = render_meta(Outgoing("Pick", options=(*rows, Option("x", "X"))), "+919876500001")
    assert as_text["type"] == "text"
    [as_buttons] = render_meta(Outgoing("Pick", options=rows[:whatsapp.buttons]), "+919876500001")
    assert len(as_buttons["interactive"]["action"]["buttons"]) == whatsapp.buttons
