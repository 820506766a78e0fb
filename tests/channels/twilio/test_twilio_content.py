"""Menus on Twilio WhatsApp as Content API quick-reply and list-picker templates inside the
session, numbered text otherwise (issue 20, part 7). The fakes speak Twilio's wire
format: Messages API form fields, the Content API's template bodies and the webhook fields
of a tapped button or row."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from bot.messages import Inbound, Media, Option, Outgoing
from channels.twilio import TwilioSender, parse_inbound
from channels.twilio.content import (
    check_content_sids,
    definition,
    session_content,
    template_names,
)
from channels.twilio.sender import _is_ours
from samvad.settings import ConfigurationError, Settings
from tests.channels.twilio.test_twilio_sender import job, make_sender
from tests.channels.twilio.twilio_testkit import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FakeTwilio,
    created,
    payload,
)

SIDS = {name: "HX" + f"{index:032x}" for index, name in enumerate(template_names(), start=1)}
YES_NO = Outgoing("Pay ₹634.00 now?", options=(Option("yes", "Yes"), Option("no", "No")),
                  question="pay_bill.confirm")
MENU = Outgoing("How can we help you? Reply with a number.", tap_text=(
    "How can we help you? Choose an option."), list_button="Choose", question="main_menu.menu",
    options=tuple(Option(code, label) for code, label in (
        ("file_complaint", "File a complaint"), ("track_complaint", "Track a complaint"),
        ("pay_bill", "Pay a bill"), ("receipts", "Past receipts"),
        ("certificate_request", "Birth or death certificate copy"))))


def _filled(template: Any, variables: dict[str, str]) -> Any:
    """A template's definition with ``{{n}}`` replaced, as Twilio renders it."""
    text = json.dumps(template, ensure_ascii=False)
    return json.loads(re.sub(r"\{\{(\d+)\}\}",
                             lambda m: json.dumps(variables[m[1]], ensure_ascii=False)[1:-1],
                             text))


def test_two_options_go_as_quick_reply_buttons_with_their_question() -> None:
    content = session_content(YES_NO, SIDS)
    assert content is not None and content.sid == SIDS["quick-reply-2"]
    types = _filled(definition("quick-reply-2")["types"], content.variables)
    assert types == {"twilio/quick-reply": {"body": "Pay ₹634.00 now?", "actions": [
        {"title": "Yes", "id": "pay_bill.confirm~yes"},
        {"title": "No", "id": "pay_bill.confirm~no"}]}}


def test_a_menu_goes_as_a_list_picker_speaking_of_choosing() -> None:
    content = session_content(MENU, SIDS)
    assert content is not None and content.sid == SIDS["list-picker-5"]
    picker = _filled(definition("list-picker-5")["types"], content.variables)["twilio/list-picker"]
    assert picker["body"] == "How can we help you? Choose an option."
    assert picker["button"] == "Choose"
    assert picker["items"][0] == {"item": "File a complaint", "id": "main_menu.menu~file_complaint",
                                  "description": "1"}
    # A label longer than a row title (24) is cut there and shown whole below.
    assert picker["items"][4] == {"item": "Birth or death certific…",
                                  "id": "main_menu.menu~certificate_request",
                                  "description": "Birth or death certificate copy"}
    assert all(value for value in content.variables.values())  # Twilio refuses empty ones


@pytest.mark.parametrize(("case", "message", "sids"), [
    ("no template for that size", MENU, {"quick-reply-2": SIDS["quick-reply-2"]}),
    ("media", Outgoing("Receipt", options=YES_NO.options,
                       media=(Media("https://x.in/r.pdf", "application/pdf"),)), SIDS),
    ("location request", Outgoing("Send the location", request_location=True), SIDS),
    ("more than ten options", Outgoing("Pick", options=tuple(
        Option(f"o{n}", f"Option {n}") for n in range(11))), SIDS),
    ("body longer than a template allows", Outgoing("x" * 1100, options=YES_NO.options), SIDS),
    ("no options", Outgoing("Hello"), SIDS),
])
def test_other_messages_go_as_numbered_text(case: str, message: Outgoing,
                                           sids: dict[str, str]) -> None:
    assert session_content(message, sids) is None


async def test_the_sender_posts_the_template_and_no_body() -> None:
    fake = FakeTwilio(created())
    await make_sender(fake, content_sids=SIDS).send(job("whatsapp", MENU, locale="en_IN"))
    [form] = fake.forms
    assert "Body" not in form and form["ContentSid"] == [SIDS["list-picker-5"]]
    variables = json.loads(form["ContentVariables"][0])
    assert variables["1"] == "How can we help you? Choose an option."
    assert variables["4"] == "main_menu.menu~file_complaint"


async def test_without_templates_the_menu_is_numbered_text_worded_for_numbers() -> None:
    fake = FakeTwilio(created())
    await make_sender(fake).send(job("whatsapp", MENU, locale="en_IN"))
    [form] = fake.forms
    assert "ContentSid" not in form
    body = form["Body"][0]
    assert body.startswith("How can we help you? Reply with a number.\n1. File a complaint")
    assert "Choose an option" not in body and "tap" not in body.lower()


async def test_an_unknown_outcome_of_a_menu_is_found_by_its_body() -> None:
    sender = make_sender(FakeTwilio(), content_sids=SIDS)
    form = sender.form_for(job("whatsapp", MENU, locale="en_IN"))
    listed = {"sid": "SM1", "body": "How can we help you? Choose an option.", "num_media": "0"}
    assert _is_ours(form, listed, sender._is_menu(form))
    assert not _is_ours(form, {**listed, "body": "Something else"}, sender._is_menu(form))


@pytest.mark.parametrize(("fields", "asked", "option_id"), [
    ({"ListId": "main_menu.menu~pay_bill", "ListTitle": "Pay a bill"}, "main_menu.menu",
     "pay_bill"),
    ({"ButtonPayload": "pay_bill.confirm~yes", "ButtonText": "Yes"}, "pay_bill.confirm", "yes"),
    ({"ButtonPayload": "track", "ButtonText": "Track complaint"}, None, "track"),
])
def test_a_tapped_row_or_button_names_its_question(fields: dict[str, str], asked: str | None,
                                                  option_id: str) -> None:
    base = dict(payload("whatsapp_list_reply"))
    base.pop("ListId"), base.pop("ListTitle")
    inbound = parse_inbound({**base, **fields})
    assert isinstance(inbound, Inbound)
    assert (inbound.asked, inbound.option_id) == (asked, option_id)


def test_every_definition_is_a_content_api_body_with_a_sample_for_each_variable() -> None:
    for name in template_names():
        body = definition(name)
        used = set(re.findall(r"\{\{(\d+)\}\}", json.dumps(body["types"])))
        assert used == set(body["variables"]), name
        assert body["friendly_name"] == f"samvad-{name}"
    picker = definition("list-picker-10")["types"]["twilio/list-picker"]
    assert len(picker["items"]) == 10 and set(picker["items"][0]) == {"item", "id", "description"}
    buttons = definition("quick-reply-3")["types"]["twilio/quick-reply"]["actions"]
    assert [set(action) for action in buttons] == [{"title", "id"}] * 3


@pytest.mark.parametrize("sids", [{"quick-reply-4": SIDS["quick-reply-2"]},
                                  {"list-picker-11": SIDS["quick-reply-2"]},
                                  {"list-picker-3": "MG0123"}])
def test_unknown_template_names_and_non_content_sids_are_refused_at_start(
        sids: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="TWILIO_CONTENT_SIDS"):
        check_content_sids(sids)
    monkeypatch.setenv("TWILIO_CONTENT_SIDS", json.dumps(sids))
    with pytest.raises(ConfigurationError, match="TWILIO_CONTENT_SIDS"):
        Settings(SAMVAD_ENV="development")


def test_the_setting_reaches_the_sender(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_CONTENT_SIDS", json.dumps(SIDS))  # JSON, as deployed
    settings = Settings(SAMVAD_ENV="development", TWILIO_ACCOUNT_SID=ACCOUNT_SID,
                        TWILIO_AUTH_TOKEN=AUTH_TOKEN)
    sender = TwilioSender.from_settings(settings, httpx.AsyncClient())
    assert sender is not None and sender.content_sids == SIDS
