"""What the screen shows decides the words: tap wording under buttons, lists and location
buttons on Meta WhatsApp, number wording under numbered text; tapped ids carry their
question (issue 20, part 7)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.messages import Option, Outgoing
from bot.screen import said, tap_id
from channels.meta_whatsapp import parse_envelope
from channels.render import (
    read_option_id,
    render_meta,
    render_sms,
    render_whatsapp_text,
    wire_option_id,
)
from channels.render._replies import QUESTION_SEPARATOR

TEXT = "How can we help you? Reply with a number."
TAP = "How can we help you? Choose an option."


def options(count: int) -> tuple[Option, ...]:
    return tuple(Option(f"o{n}", f"Option {n}") for n in range(1, count + 1))


def _bodies(payloads: list[dict[str, Any]]) -> list[str]:
    bodies = []
    for payload in payloads:
        if payload["type"] == "text":
            bodies.append(payload["text"]["body"])
        elif payload["type"] == "interactive":
            bodies.append(payload["interactive"]["body"]["text"])
    return bodies


@pytest.mark.parametrize(("count", "layout"), [(2, "button"), (7, "list")])
def test_meta_buttons_and_lists_speak_of_tapping(count: int, layout: str) -> None:
    msg = Outgoing(TEXT, options=options(count), tap_text=TAP, question="main_menu.menu")
    [payload] = render_meta(msg, "+919876500001")
    assert payload["interactive"]["type"] == layout
    assert _bodies([payload]) == [TAP]


def test_meta_numbered_text_over_ten_options_keeps_the_number_wording() -> None:
    msg = Outgoing(TEXT, options=options(12), tap_text=TAP, question="main_menu.menu")
    payloads = render_meta(msg, "+919876500001")
    assert [p["type"] for p in payloads] == ["text"]
    assert payloads[0]["text"]["body"].startswith(TEXT + "\n1. Option 1")


def test_meta_location_request_and_plain_text_use_the_tap_wording() -> None:
    ask_pin = Outgoing("Send it: tap 📎 and choose Location.", request_location=True,
                       tap_text="Send it: tap the button below, or tap 📎.")
    [request] = render_meta(ask_pin, "+919876500001")
    assert request["interactive"]["type"] == "location_request_message"
    assert request["interactive"]["body"]["text"] == "Send it: tap the button below, or tap 📎."
    hint = Outgoing("Please pick one of the options by its number.",
                    tap_text="Please pick one of the options.")
    assert _bodies(render_meta(hint, "+919876500001")) == ["Please pick one of the options."]


@pytest.mark.parametrize("render", [render_sms, render_whatsapp_text])
def test_numbered_text_channels_keep_the_number_wording(render: Any) -> None:
    msg = Outgoing(TEXT, options=options(3), tap_text=TAP, question="main_menu.menu")
    body = render(msg)
    assert body.startswith(TEXT) and TAP not in body
    assert "main_menu.menu" not in body  # ids are not shown on numbered text


def test_meta_ids_carry_the_question_and_come_back_apart() -> None:
    msg = Outgoing("Pay now?", options=(Option("yes", "Yes"), Option("no", "No")),
                   question="pay_bill.confirm")
    [payload] = render_meta(msg, "+919876500001")
    ids = [b["reply"]["id"] for b in payload["interactive"]["action"]["buttons"]]
    assert ids == [f"pay_bill.confirm{QUESTION_SEPARATOR}yes",
                   f"pay_bill.confirm{QUESTION_SEPARATOR}no"]
    assert [read_option_id(wire) for wire in ids] == [("pay_bill.confirm", "yes"),
                                                      ("pay_bill.confirm", "no")]
    rows = render_meta(Outgoing("Which?", options=options(5), question="a.b"), "+91987650001")
    assert rows[0]["interactive"]["action"]["sections"][0]["rows"][4]["id"] == "a.b~o5"


@pytest.mark.parametrize("wire", ["yes", "uk.dehradun", "fixed~", "not a question~yes"])
def test_ids_without_a_question_are_read_as_they_are(wire: str) -> None:
    assert read_option_id(wire) == (None, wire)
    assert wire_option_id(None, wire) == wire


def test_an_id_with_its_question_must_fit_whatsapps_limit() -> None:
    long_id = "x" * 190  # fits 200 alone, not behind its question
    msg = Outgoing("Which?", options=tuple(Option(f"{long_id}{n}", f"Row {n}")
                                           for n in range(4)), question="file_complaint.pick")
    with pytest.raises(ValueError, match="1-200"):
        render_meta(msg, "+919876500001")


def test_a_meta_list_reply_names_its_question() -> None:
    envelope = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "919412055500",
                         "phone_number_id": "106540352242922"},
            "contacts": [{"profile": {"name": "Rahul"}, "wa_id": "919876500002"}],
            "messages": [{
                "from": "919876500002", "id": "wamid.HBgMOTE5ODc2NTAwMDAyFQIAEhgg",
                "timestamp": "1732350000", "type": "interactive",
                "interactive": {"type": "list_reply", "list_reply": {
                    "id": "main_menu.menu~pay_bill", "title": "Pay a bill"}},
                "context": {"from": "919412055500", "id": "wamid.OLDER"}}]}}]}]}
    [inbound] = parse_envelope(envelope).messages
    assert (inbound.option_id, inbound.asked, inbound.text) == (
        "pay_bill", "main_menu.menu", "Pay a bill")
    assert inbound.extra["reply_to"] == "wamid.OLDER"


@pytest.mark.parametrize(("msgid", "tap_words", "number_words"), [
    ("menu.prompt", "Choose an option", "Reply with a number"),
    ("hint.pick_option", "Please pick one of the options.", "by its number"),
    ("input.need_yes_no", "tap Yes or No", "reply 1 for Yes"),
    ("global.help", "Tap an option", "Reply with the number"),
])
def test_messages_that_say_how_to_answer_have_both_wordings(
        msgid: str, tap_words: str, number_words: str) -> None:
    message = said("en_IN", msgid)
    assert number_words in message.text and number_words not in (message.tap_text or "")
    assert tap_words in (message.tap_text or "")
    for locale in ("hi_IN", "pa_IN", "or_IN"):
        localized = said(locale, msgid)
        assert localized.tap_text and localized.tap_text != localized.text


def test_a_message_without_a_tap_wording_reads_the_same_everywhere() -> None:
    assert tap_id("global.resume") is None
    assert said("hi_IN", "global.resume").tap_text is None
