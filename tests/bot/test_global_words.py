"""Global words and language names work in every conversation, whatever its language
(issue 20): every word of every locale's ``words.*`` lists and every name of every
language is typed at the main menu of a conversation in each locale, and must do what it
means there. STOP is confirmed once (naming START in every language), then nothing is
answered until START, in any language."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.engine import Engine
from bot.flowcheck import check_flows
from bot.i18n import (
    GLOBAL_WORDS,
    global_word,
    language_named,
    load_catalog,
    locale_codes,
    translate,
)
from bot.i18n import locales as registered_locales
from bot.session import Session
from bot.slices import load_slices
from tests.bot.test_engine import FakeServices, run

CODES = locale_codes()
WORDS = sorted({(kind, code, word.strip())
                for code in CODES for kind in GLOBAL_WORDS
                for word in load_catalog(code).get(f"words.{kind}", "").split(",")
                if word.strip()})
NAMES = sorted({(locale.code, name) for locale in registered_locales()
                for name in locale.names})


@pytest.fixture(scope="module")
def engine() -> Engine:
    slices = load_slices()
    return Engine(slices.flows, slices.helpers)


async def at_menu(engine: Engine, code: str) -> tuple[FakeServices, Session]:
    """A citizen who chose ``code`` at onboarding and gave a name: at the main menu."""
    services = FakeServices()
    session, replies = await run(engine, services, "hi", str(CODES.index(code) + 1), "Asha")
    assert session.flow == "main_menu" and session.locale == code, replies
    return services, session


def test_the_locales_have_global_words_of_every_kind_and_none_means_two_things() -> None:
    kinds: dict[str, set[str]] = {}
    for kind, _code, word in WORDS:
        kinds.setdefault(word.casefold(), set()).add(kind)
    assert {word: found for word, found in kinds.items() if len(found) > 1} == {}
    for code in CODES:
        assert all(load_catalog(code).get(f"words.{kind}") for kind in GLOBAL_WORDS), code
    assert {name for _code, name in NAMES if global_word(name)} == set()


@pytest.mark.parametrize("variant", ["रुकें", "रोकें", "बंद", "ਰੁਕੋ", "ଭାଷା", "ਭਾਸ਼ਾ",
                                     "bhasha", "शुरू", "चालू", "ਸ਼ੁਰੂ", "ଆରମ୍ଭ"])
def test_the_common_variants_the_issue_names_are_global_words(variant: str) -> None:
    assert global_word(variant) is not None


@pytest.mark.parametrize(("typed", "code"), [
    ("hindi", "hi_IN"), ("Hindi me", "hi_IN"), ("हिंदी", "hi_IN"), ("हिन्दी में", "hi_IN"),
    ("punjabi", "pa_IN"), ("ਪੰਜਾਬੀ", "pa_IN"), ("odia", "or_IN"), ("Oriya", "or_IN"),
    ("ଓଡ଼ିଆ", "or_IN"), ("english", "en_IN"), ("अंग्रेज़ी", "en_IN")])
def test_language_names_are_recognised_in_every_script(typed: str, code: str) -> None:
    assert language_named(typed) == code


@pytest.mark.parametrize("current", CODES)
async def test_every_global_word_of_every_locale_works_in_every_locale(engine, current):
    services, base = await at_menu(engine, current)
    menu = translate(current, "menu.prompt")
    for kind, code, word in WORDS:
        where = f"{word!r} ({kind}, {code}) in a {current} conversation"
        session, replies = await run(engine, services, word,
                                     session=Session.loads(base.dumps()))
        assert session.locale == current, where
        assert translate(current, "hint.pick_option") not in replies, where
        if kind in ("menu", "back", "start"):
            assert (session.flow, session.step) == ("main_menu", "menu"), where
            assert replies[-1] == menu, where
        elif kind == "help":
            assert replies == [translate(current, "global.help"), menu], where
        elif kind == "language":
            assert (session.flow, session.step) == ("change_language", "language"), where
        else:
            assert kind == "stop" and session.opted_out, where
            assert len(replies) == 1 and "START" in replies[0], where


@pytest.mark.parametrize("current", CODES)
async def test_every_language_name_switches_at_once_and_asks_again(engine, current):
    services, base = await at_menu(engine, current)
    for code, name in NAMES:
        where = f"{name!r} in a {current} conversation"
        session, replies = await run(engine, services, name,
                                     session=Session.loads(base.dumps()))
        assert session.locale == code, where
        assert (session.flow, session.step) == ("main_menu", "menu"), where
        assert replies == [translate(code, "language.changed"),
                           translate(code, "menu.prompt")], where
        assert ("update_profile", {"locale": code}) in services.calls


@pytest.mark.parametrize(("typed", "code"), [("punjabi", "pa_IN"), ("odia", "or_IN"),
                                             ("hindi", "hi_IN"), ("ଇଂରାଜୀ", "en_IN")])
async def test_a_language_named_at_the_language_question_is_the_answer(engine, typed, code):
    services, session = await at_menu(engine, "hi_IN")
    session, _ = await run(engine, services, "भाषा", session=session)
    assert (session.flow, session.step) == ("change_language", "language")
    session, replies = await run(engine, services, typed, session=session)
    assert session.locale == code and session.flow == "main_menu"
    assert replies == [translate(code, "language.changed"), translate(code, "menu.prompt")]


async def test_a_word_in_another_script_at_the_name_question_opens_the_language_question(
        engine):
    services = FakeServices()
    session, _ = await run(engine, services, "hi", "English")
    assert session.step == "ask_name"
    session, _ = await run(engine, services, "भाषा", session=session)
    assert (session.flow, session.step) == ("change_language", "language")
    session, replies = await run(engine, services, "odia", session=session)
    assert (session.flow, session.step, session.locale) == ("onboarding", "ask_name", "or_IN")
    assert replies == [translate("or_IN", "language.changed"),
                       translate("or_IN", "onboarding.ask_name")]
    assert session.name is None


async def test_a_romanised_word_of_another_language_at_a_free_text_question_is_the_answer(
        engine):
    """"Madad" (help in Hindi and Punjabi) can be a name: at the English name question it
    is taken as one; the conversation's own words still work there."""
    services = FakeServices()
    session, _ = await run(engine, services, "hi", "English", "madad")
    assert session.name == "madad" and session.flow == "main_menu"
    session, _ = await run(engine, services, "hi", "English", "help")
    assert session.name is None and session.step == "ask_name"


async def test_a_language_named_at_onboarding_is_taken_as_its_choice(engine):
    services = FakeServices()
    session, replies = await run(engine, services, "ਪੰਜਾਬੀ")  # the first message
    assert (session.step, session.locale, session.pending) == ("confirm_language", "pa_IN",
                                                              None)
    session, replies = await run(engine, services, "odia re", session=session)
    assert (session.step, session.locale) == ("ask_name", "or_IN")
    assert replies == [translate("or_IN", "onboarding.ask_name")]


@pytest.mark.parametrize(("current", "stop", "start"), [
    ("en_IN", "रुकें", "ਸ਼ੁਰੂ"), ("hi_IN", "बंद", "START"), ("pa_IN", "stop", "ଆରମ୍ଭ"),
    ("or_IN", "ବନ୍ଦ", "चालू"), ("hi_IN", "रोकें", "शुरू")])
async def test_stop_is_confirmed_once_then_silence_until_start_in_any_language(
        engine, current, stop, start):
    services, session = await at_menu(engine, current)
    session, replies = await run(engine, services, stop, session=session)
    assert session.opted_out and replies == [translate(current, "global.stopped",
                                                       start="START / शुरू / ਸ਼ੁਰੂ / ଆରମ୍ଭ")]
    for later in ("hello", "menu", "1", "भाषा", "hindi", "stop", "help"):
        session, replies = await run(engine, services, later, session=session)
        assert replies == [] and session.opted_out, later
    session, replies = await run(engine, services, start, session=session)
    assert not session.opted_out and session.locale == current
    assert replies == [translate(current, "global.started"), translate(current, "menu.prompt")]
    assert ("update_profile", {"opted_out": False}) in services.calls


def test_a_flow_naming_an_unknown_relabel_operation_is_reported(tmp_path: Path) -> None:
    (tmp_path / "ask_once").mkdir()
    (tmp_path / "ask_once" / "flow.yaml").write_text(
        "spec_version: 1\nid: ask_once\nstart: ask\nrelabel: no_such_operation\nsteps:\n"
        "  ask:\n    ask: menu.prompt\n    input: {type: text}\n    next: '@ask_once'\n",
        encoding="utf-8")
    _flows, problems = check_flows(tmp_path, operations={"update_profile"}, helpers=set())
    assert [p.message for p in problems] == ["unknown relabel operation no_such_operation"]
