"""Languages: the locale registry, babel formatting per locale, script detection (Hindi
told from Marathi by words), and the catalog check."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from bot.catalogs import check_catalogs
from bot.i18n import (
    LOCALES_DIR,
    LocaleError,
    format_amount,
    format_day,
    format_moment,
    guess_locale,
    lang,
    language_menu,
    locale_codes,
    locales,
)


def test_amounts_use_indian_grouping_in_every_locale():
    amount = Decimal("123456.00")
    assert format_amount(amount, "en_IN") == "₹1,23,456.00"
    for locale in locale_codes():
        text = format_amount(amount, locale)
        digits = "".join(c for c in text if c.isdigit())
        assert "₹" in text and text.count(",") == 2, (locale, text)
        assert len(digits) == 8, (locale, text)


def test_dates_are_in_the_citizens_language_and_in_india_time():
    assert format_day(date(2019, 4, 12), "en_IN") == "12 Apr 2019"
    assert "अप्रैल" in format_day(date(2019, 4, 12), "hi_IN")
    assert "ਅਪ੍ਰੈ" in format_day(date(2019, 4, 12), "pa_IN")
    assert "ଅପ୍ରେଲ" in format_day(date(2019, 4, 12), "or_IN")
    late_utc = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)  # 01:30 on the 24th in IST
    assert format_day(late_utc, "en_IN") == "24 Nov 2026"
    assert format_moment(late_utc, "en_IN") == "24 Nov 2026, 1:30 am"


@pytest.mark.parametrize(("locale", "morning", "afternoon"), [
    ("en_IN", "23 Nov 2026, 12:05 am", "23 Nov 2026, 12:35 pm"),
    ("hi_IN", "23 नवंबर 2026, 12:05 am", "23 नवंबर 2026, 12:35 pm"),
    ("pa_IN", "23 ਨਵੰਬਰ 2026, 12:05 ਪੂ.ਦੁ.", "23 ਨਵੰਬਰ 2026, 12:35 ਬਾ.ਦੁ."),
    ("or_IN", "23 ନଭେମ୍ବର 2026, 12:05 AM", "23 ନଭେମ୍ବର 2026, 12:35 PM"),
])
def test_the_time_of_day_is_written_as_the_product_decided(locale, morning, afternoon):
    """The am/pm marker comes from our catalogs, not from the CLDR data of whichever babel
    is installed (2.19 changed en_IN to "PM" and Punjabi to "AM"/"PM")."""
    just_after_midnight = datetime(2026, 11, 22, 18, 35, tzinfo=UTC)  # 00:05 IST
    just_after_noon = datetime(2026, 11, 23, 7, 5, tzinfo=UTC)  # 12:35 IST
    assert format_moment(just_after_midnight, locale) == morning
    assert format_moment(just_after_noon, locale) == afternoon


@pytest.mark.parametrize(("text", "locale"), [
    ("स्ट्रीट लाइट खराब है", "hi_IN"),
    ("ਸਤ ਸ੍ਰੀ ਅਕਾਲ", "pa_IN"),
    ("ନମସ୍କାର", "or_IN"),
    ("street light kharab hai", None),
    ("hi नमस्ते", "hi_IN"),
    ("12345", None),
    ("", None),
])
def test_the_script_of_the_first_message_suggests_the_language(text, locale):
    assert guess_locale(text) == locale


def test_the_registry_is_read_from_the_locale_folders():
    assert locale_codes() == ("en_IN", "hi_IN", "pa_IN", "or_IN")
    assert [(locale.language, locale.script) for locale in locales()] == [
        ("en", "Latin"), ("hi", "Devanagari"), ("pa", "Gurmukhi"), ("or", "Odia")]
    assert language_menu() == [{"i": "en_IN", "l": "English"}, {"i": "hi_IN", "l": "हिंदी"},
                               {"i": "pa_IN", "l": "ਪੰਜਾਬੀ"}, {"i": "or_IN", "l": "ଓଡ଼ିଆ"}]
    assert (lang("pa_IN"), lang(None), lang("xx_IN")) == ("pa", "en", "en")


MARATHI = """# Marathi shares Devanagari with Hindi: its words tell them apart.
name: मराठी
english_name: Marathi
language: mr
script: Devanagari
order: 5
words: [आहे, आहेत, नाही, माझा, माझी, माझे, माझ्या, मला, आणि, आम्ही, तुम्ही, झाला, झाले]
"""
NEPALI = """name: नेपाली
english_name: Nepali
language: ne
script: Devanagari
order: 6
words: [छ, छन्, छैन, मेरो, हो, भयो, गर्नुहोस्, हामी, तपाईं, पनि]
"""


def _registry_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **extra: str) -> Path:
    """A locales folder with the shipped registry files plus ``extra`` ({code: yaml})."""
    root = tmp_path / "locales"
    for code in locale_codes():
        (root / code).mkdir(parents=True)
        shutil.copy(LOCALES_DIR / code / "locale.yaml", root / code / "locale.yaml")
    for code, text in extra.items():
        (root / code).mkdir(parents=True)
        (root / code / "locale.yaml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("SAMVAD_LOCALES_DIR", str(root))
    return root


@pytest.mark.parametrize(("text", "locale"), [
    ("माझ्या घरासमोरचा दिवा बंद आहे", "mr_IN"),  # "the lamp in front of my house is off"
    ("कचरा उचलला नाही", "mr_IN"),
    ("मेरे घर के सामने की बत्ती बंद है", "hi_IN"),
    ("कचरा नहीं उठाया गया", "hi_IN"),
    ("मेरो घर अगाडिको बत्ती बलेको छैन", "ne_NP"),
    ("नमस्ते", "hi_IN"),  # no telling word: the first Devanagari locale of the menu
    ("ਸਤ ਸ੍ਰੀ ਅਕਾਲ", "pa_IN"),
])
def test_words_tell_locales_of_one_script_apart(text, locale, tmp_path, monkeypatch):
    _registry_with(tmp_path, monkeypatch, mr_IN=MARATHI, ne_NP=NEPALI)
    assert guess_locale(text) == locale


def test_with_hindi_alone_devanagari_is_hindi():
    assert guess_locale("माझ्या घरासमोरचा दिवा बंद आहे") == "hi_IN"


def test_a_new_locale_takes_its_place_in_the_menu(tmp_path, monkeypatch):
    _registry_with(tmp_path, monkeypatch, mr_IN=MARATHI)
    assert locale_codes() == ("en_IN", "hi_IN", "pa_IN", "or_IN", "mr_IN")
    assert language_menu()[-1] == {"i": "mr_IN", "l": "मराठी"}
    assert lang("mr_IN") == "mr"


def test_a_wrong_locale_file_is_refused_with_its_path(tmp_path, monkeypatch):
    _registry_with(tmp_path, monkeypatch, mr_IN=MARATHI.replace("Devanagari", "Modi"))
    with pytest.raises(LocaleError, match=r"mr_IN/locale.yaml: script 'Modi'"):
        locales()
    result = check_catalogs(tmp_path / "locales")
    assert any("script 'Modi'" in problem for problem in result.problems)


def test_the_shipped_catalogs_are_complete():
    result = check_catalogs()
    assert result.problems == []
    assert set(result.counts) == set(locale_codes())
    assert len(set(result.counts.values())) == 1  # every locale has every message


def test_the_catalog_check_catches_missing_and_broken_translations(tmp_path: Path):
    copy = tmp_path / "locales"
    shutil.copytree(LOCALES_DIR, copy, ignore=shutil.ignore_patterns("*.mo"))
    po = copy / "pa_IN" / "LC_MESSAGES" / "samvad.po"
    text = po.read_text(encoding="utf-8")
    # Drop the translation of one message and break the placeholder of another.
    text = text.replace('msgid "menu.help"\nmsgstr "', 'msgid "menu.help"\nmsgstr "" "#', 1)
    text = text.replace("{name}", "{naam}", 1)
    po.write_text(text, encoding="utf-8")
    template = set(check_catalogs().counts and _source_ids())
    result = check_catalogs(copy, template=template)
    assert any("pa_IN: " in p and "placeholders" in p for p in result.problems), result.problems
    assert result.problems, "a broken catalog must not pass"


def _source_ids() -> set[str]:
    from bot.catalogs import catalogs

    return set(catalogs()["en_IN"])
