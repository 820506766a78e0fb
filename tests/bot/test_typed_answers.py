"""Typed answers: names at choice prompts in any language, dates in natural forms, dates
written day first in every locale, and the SMS budget measured as deployed."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from bot.flowcheck import DEPLOYED_PUBLIC_URL, check_flows
from bot.i18n import format_day, format_moment
from bot.inputs import read_date
from bot.steps.options import closest, named
from channels.render import message_segments

CITIES = {"uk.dehradun": ["Dehradun", "Dehradun Municipal Corporation", "देहरादून",
                          "ਦੇਹਰਾਦੂਨ", "ଦେହରାଦୁନ"],
          "uk.haridwar": ["Haridwar", "हरिद्वार", "ਹਰਿਦੁਆਰ", "ହରିଦ୍ୱାର"],
          "uk.rishikesh": ["Rishikesh", "ऋषिकेश"]}
PLACES = {"7": ["Nehru Colony", "नेहरू कॉलोनी", "ਨਹਿਰੂ ਕਲੋਨੀ", "nehru coloni"],
          "9": ["Indira Colony", "इंदिरा कॉलोनी"],
          "none": ["None of these", "इनमें से कोई नहीं", "ਇਨ੍ਹਾਂ ਵਿੱਚੋਂ ਕੋਈ ਨਹੀਂ"]}


@pytest.mark.parametrize(("typed", "option"), [
    ("dehradun", "uk.dehradun"),  # the English name at a Hindi list
    ("DEHRADUN ", "uk.dehradun"),
    ("ਹਰਿਦੁਆਰ", "uk.haridwar"),  # Gurmukhi
    ("ଦେହରାଦୁନ", "uk.dehradun"),  # Odia
    ("इनमें से कोई नहीं", "none"),  # a fixed option's label in another language
    ("nehru coloni", "7"),  # a romanised spelling the data carries
])
def test_a_name_in_any_language_or_spelling_names_its_option(typed: str, option: str):
    names = {**CITIES, **PLACES}
    assert named(typed, names) == option


@pytest.mark.parametrize(("typed", "option"), [
    ("dehradoon", "uk.dehradun"),
    ("dehra dun", "uk.dehradun"),
    ("haridwaar", "uk.haridwar"),
    ("देहरादुन", "uk.dehradun"),  # a vowel sign wrong
    ("rishikes", "uk.rishikesh"),
])
def test_a_name_typed_with_mistakes_finds_the_closest_option(typed: str, option: str):
    assert named(typed, CITIES) is None
    assert closest(typed, CITIES) == option


def test_part_of_one_name_picks_it_but_part_of_two_picks_neither():
    assert closest("नेहरू", PLACES) == "7"
    assert closest("colony", PLACES) is None  # Nehru or Indira: ask again
    assert closest("Rajpur Road", PLACES) is None  # another place: no guess
    assert closest("no", PLACES) is None  # too short to guess from


def test_a_missing_nukta_still_names_the_place():
    assert named("पलटन बाजार", {"1": ["पलटन बाज़ार"]}) == "1"


@pytest.mark.parametrize("text", [
    "3 अगस्त 2024", "३ अगस्त २०२४", "3 अग॰ 2024", "3 ਅਗਸਤ 2024", "੩ ਅਗਸਤ ੨੦੨੪", "3 ਅਗ 2024",
    "3 ଅଗଷ୍ଟ 2024", "୩ ଅଗଷ୍ଟ ୨୦୨୪", "3 Aug 2024", "3 august 2024", "Aug 3, 2024",
    "3rd of August 2024", "03-08-2024", "3/8/24", "3.8.2024", "03 08 2024", "03082024",
    "2024-08-03", "०३/०८/२०२४",
])
def test_dates_in_natural_forms_are_read_day_first(text: str):
    assert read_date(text) == date(2024, 8, 3)


@pytest.mark.parametrize(("text", "expected"), [
    ("12 सितम्बर 1990", date(1990, 9, 12)),  # a common spelling babel does not have
    ("12 ਸਿਤੰਬਰ 1990", date(1990, 9, 12)),
    ("12 sept 1990", date(1990, 9, 12)),
    ("1 febuary 2001", date(2001, 2, 1)),  # a typo
    ("5/1/95", date(1995, 1, 5)),  # a two-digit year in the past century
    ("31 दिसंबर 2023", date(2023, 12, 31)),
])
def test_month_spellings_and_short_years(text: str, expected: date):
    assert read_date(text) == expected


@pytest.mark.parametrize("text", [
    "अगस्त 2024", "31/02/2024", "3 8", "32/1/2024", "3 blah 2024", "last monsoon", "",
    "3 अगस्त जुलाई 2024",
])
def test_what_is_not_a_whole_date_is_not_guessed(text: str):
    assert read_date(text) is None


@pytest.mark.parametrize(("locale", "written"), [
    ("en_IN", "7 Dec 2026"),
    ("hi_IN", "7 दिसंबर 2026"),
    ("pa_IN", "7 ਦਸੰਬਰ 2026"),  # babel's data clips it to ਦਸੰ
    ("or_IN", "7 ଡିସେମ୍ବର 2026"),  # babel's data puts the month first
])
def test_dates_are_written_day_first_with_whole_month_names(locale: str, written: str):
    assert format_day(date(2026, 12, 7), locale) == written
    assert format_moment("2026-12-07T10:00:00+05:30", locale).startswith(written + ", ")


def test_every_month_round_trips_in_every_locale():
    """What the bot writes, a citizen may copy back: every date reads as itself."""
    for locale in ("en_IN", "hi_IN", "pa_IN", "or_IN"):
        for month in range(1, 13):
            day = date(2025, month, 28)
            assert read_date(format_day(day, locale)) == day, (locale, month)


PAY_FLOW = """\
spec_version: 1
id: pay_demo
start: link
steps:
  link:
    say: certificate_request.pay_link
    params: {number: "{request.number}", fee: "{request.fee|amount}", url: "{payment.url}"}
    next: "@pay_demo"
"""


def _budget_problems(flows: Path, public_url: str = "") -> list[str]:
    _flows, problems = check_flows(flows, segments=message_segments, public_url=public_url)
    return [str(p) for p in problems if "segments (budget" in p.message]


def test_the_sms_budget_check_measures_links_with_the_public_address(tmp_path: Path):
    """The fee message fits 3 segments with the deployed address of a city, and the check
    fails it once the configured address is long enough to need a fourth."""
    (tmp_path / "pay_demo").mkdir()
    (tmp_path / "pay_demo" / "flow.yaml").write_text(PAY_FLOW, encoding="utf-8")
    assert _budget_problems(tmp_path) == []
    long_address = "https://samvad.municipal-corporation-of-dehradun.uttarakhand.gov.in"
    assert len(long_address) > len(DEPLOYED_PUBLIC_URL) + 20
    over = _budget_problems(tmp_path, long_address)
    assert over and all("pay_demo.link: SMS message in" in p for p in over)
    assert any("hi_IN takes 4 segments" in p for p in over)


def test_a_future_date_is_still_read():
    """The parser reads it; the ``date`` input refuses it as in the future."""
    tomorrow = date.today() + timedelta(days=1)
    assert read_date(tomorrow.strftime("%d/%m/%Y")) == tomorrow
