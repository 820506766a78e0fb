"""Adding a locale is adding files: a throwaway Marathi (mr_IN) built as locales/README.md
tells a newcomer to build one, in a copy of locales/ that SAMVAD_LOCALES_DIR points to.

Its catalog is the template ``locales/samvad.pot`` with every msgstr filled (English text,
Marathi where the conversation below shows it), its NLU keywords are English's plus a few
Marathi ones, and its ``locale.yaml`` names it, its script and the words that tell Marathi
from Hindi. With nothing else changed, the catalog and flow checks pass for it, the
language menus offer it, a Marathi first message is taken for Marathi (not Hindi), and a
whole conversation runs in it.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from babel.messages.pofile import read_po, write_po

from bot.catalogs import TEMPLATE, check_catalogs, messages_of, read_catalog
from bot.flowcheck import check_flows
from bot.i18n import LOCALES_DIR, SOURCE_LOCALE, guess_locale, language_menu, translate
from bot.nlu import KEYWORDS_FILE, locale_keywords
from channels.render import message_segments
from tests.bot.test_transcripts import replay

LOCALE_FILE = """\
name: मराठी
english_name: Marathi
language: mr
script: Devanagari
order: 5
words: [आहे, आहेत, नाही, माझा, माझी, माझे, माझ्या, मला, मी, आणि, आम्ही, तुम्ही, झाला, झाले]
"""
# What the conversation below shows; the rest of the catalog stays English.
MARATHI = {
    "onboarding.confirm_language": "संवादमध्ये आपले स्वागत आहे. आपण मराठीत बोलूया का?",
    "onboarding.ask_name": "आपले नाव काय आहे?",
    "onboarding.welcome": "धन्यवाद, {name}.",
    "menu.prompt": "आम्ही आपली काय मदत करू? क्रमांक पाठवा.",
    "tap.menu.prompt": "आम्ही आपली काय मदत करू? एक पर्याय निवडा.",  # under a WhatsApp list
    "language.prompt": "आपली भाषा निवडा / Choose your language",
    "language.changed": "ठीक आहे, आता मी तुमच्याशी मराठीत बोलेन.",
    "common.yes": "होय",
    "common.no": "नाही",
    "words.yes": "होय,हो,yes",
    "words.no": "नाही,नको,no",
    "words.language": "भाषा,भाषा बदला,language",
    # Summaries with dates in Devanagari are UCS-2 SMS: translated, short, they fit 3
    # segments with every value at its longest (English text would not).
    "file_complaint.confirm_sms": "तक्रार तपासा:\nसमस्या: {type}\nठिकाण: {place}, {city}\n"
                                  "तपशील: {description}\nनोंदवू?",
    "pay_bill.summary": "{type} बिल\nग्राहक: {consumer}\n{owner}\n"
                        "कालावधी: {period}\nरक्कम: {amount}\nदेय: {due}\nभरायचे?",
    "employee_tasks.complaint_note": "तक्रार {id}\n{type}, {place}\n{who}, {phone}\n"
                                     "तपशील: {text}\nस्थिती: {status}\nमुदत: {due}\n"
                                     "टीप: {note}",
    "employee_tasks.certificate": "अर्ज {id}\n{kind}: {name}, {date}\nनोंदणी {reg}, "
                                  "{copies} प्रती, शुल्क {fee}\nअर्जदार: {relation}\n"
                                  "मुदत: {due}",
}
KEYWORDS = {
    "greet": ["नमस्कार"],
    "file_complaint": ["तक्रार नोंदवा", "नवीन तक्रार"],
    "change_language": ["भाषा बदला"],
    "affirm": ["होय", "ठीक आहे"],
    "deny": ["नाही", "नको"],
}
# A Marathi citizen's first conversation, in the transcripts' format (tests/bot/
# test_transcripts.py): the language is recognised by its words, the menu offers it.
CONVERSATION = """\
phone: "+919876500071"
turns:
  - send: "नमस्कार, मी सुनील आहे"
    expect: ["संवादमध्ये आपले स्वागत आहे", "मराठीत बोलूया का?", "होय", "नाही"]
    flow: onboarding
    step: confirm_language
    locale: mr_IN
  - send: "होय"
    expect: ["आपले नाव काय आहे?"]
    step: ask_name
  - send: "सुनील पाटील"
    expect: ["धन्यवाद, सुनील पाटील.", "आम्ही आपली काय मदत करू?"]
    flow: main_menu
  - send: "भाषा"
    expect: ["आपली भाषा निवडा", "English", "हिंदी", "ਪੰਜਾਬੀ", "ଓଡ଼ିଆ", "मराठी"]
    flow: change_language
    step: language
  - send: "1"
    expect: ["I will talk to you in English", "How can we help you?"]
    flow: main_menu
    locale: en_IN
  - send: "language"
    expect: ["Choose your language", "मराठी"]
    flow: change_language
  - send: "5"
    expect: ["आता मी तुमच्याशी मराठीत बोलेन", "आम्ही आपली काय मदत करू?"]
    flow: main_menu
    locale: mr_IN
"""


@pytest.fixture
def marathi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of locales/ with mr_IN added, in use for the test."""
    root = tmp_path / "locales"
    shutil.copytree(LOCALES_DIR, root, ignore=shutil.ignore_patterns("*.mo"))
    folder = root / "mr_IN"
    (folder / "LC_MESSAGES").mkdir(parents=True)
    (folder / "locale.yaml").write_text(LOCALE_FILE, encoding="utf-8")
    english = messages_of(read_catalog(root / SOURCE_LOCALE / "LC_MESSAGES" / "samvad.po"))
    with TEMPLATE.open("rb") as handle:
        catalog = read_po(handle, locale="mr_IN")
    for message in catalog:
        if message.id:
            message.string = MARATHI.get(str(message.id), english[str(message.id)])
    with (folder / "LC_MESSAGES" / "samvad.po").open("wb") as handle:
        write_po(handle, catalog)
    intents = locale_keywords(SOURCE_LOCALE, root)
    keywords = {intent: KEYWORDS.get(intent, phrases) for intent, phrases in intents.items()}
    (folder / KEYWORDS_FILE).write_text(
        yaml.safe_dump({"intents": keywords}, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("SAMVAD_LOCALES_DIR", str(root))
    return root


def test_the_checks_pass_for_the_new_locale(marathi: Path) -> None:
    with TEMPLATE.open("rb") as handle:
        template = {str(m.id) for m in read_po(handle) if m.id}
    result = check_catalogs(marathi, template=template)
    assert result.problems == []
    assert list(result.counts) == ["en_IN", "hi_IN", "pa_IN", "or_IN", "mr_IN"]
    _flows, problems = check_flows(segments=message_segments)  # SMS budgets in Marathi too
    assert problems == []
    assert language_menu()[-1] == {"i": "mr_IN", "l": "मराठी"}
    assert translate("mr_IN", "language.changed") == MARATHI["language.changed"]
    assert guess_locale("माझ्या घरासमोरचा दिवा बंद आहे") == "mr_IN"
    assert guess_locale("मेरे घर के सामने की बत्ती बंद है") == "hi_IN"


def test_without_its_keywords_the_check_names_what_is_missing(marathi: Path) -> None:
    (marathi / "mr_IN" / KEYWORDS_FILE).unlink()
    problems = check_catalogs(marathi, template=set()).problems
    assert "mr_IN: intent change_language has no keywords in mr_IN/nlu.yaml" in problems


async def test_the_simulator_offers_it(marathi: Path, client: httpx.AsyncClient) -> None:
    page = await client.get("/simulator")
    assert '<option value="mr_IN">मराठी · Marathi</option>' in page.text


@pytest.mark.parametrize("channel", ["whatsapp", "sms"])
async def test_a_conversation_in_the_new_locale(marathi: Path, channel: str,
                                                client: httpx.AsyncClient, app: Any,
                                                auth: Any) -> None:
    await replay(yaml.safe_load(CONVERSATION), "mr_IN conversation", channel, client, app,
                 auth)
    profile = await client.get("/api/v1/citizens/me", headers=auth.service("+919876500071"))
    assert profile.json()["locale"] == "mr_IN"  # the core API stored the new locale
