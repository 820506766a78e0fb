"""The built-in matcher: menu words in three scripts/styles and complaint types from text."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.i18n import LOCALES_DIR, locale_codes
from bot.nlu import KEYWORDS_FILE, KeywordMatcher, locale_keywords, locality_hint, normalize

TYPES = [
    {"code": "StreetLightNotWorking", "names": {"en": "Street light not working",
                                                "hi": "स्ट्रीट लाइट खराब"},
     "keywords": {"en": ["street light", "streetlight", "lamp post"],
                  "hi": ["स्ट्रीट लाइट", "बत्ती"], "hinglish": ["bijli ka khamba", "batti"]}},
    {"code": "GarbageNeedsTobeCleared", "names": {"en": "Garbage not cleared",
                                                  "hi": "कचरा नहीं उठा"},
     "keywords": {"en": ["garbage", "trash"], "hi": ["कचरा", "कूड़ा"],
                  "hinglish": ["kachra", "kooda"]}},
]


@pytest.mark.parametrize(("text", "intent"), [
    ("track", "track_complaint"),
    ("शिकायत देखें", "track_complaint"),
    ("shikayat dekho", "track_complaint"),
    ("my complaints", "track_complaint"),
    ("pay water bill", "pay_bill"),
    ("बिल भरना है", "pay_bill"),
    ("purani raseed", "view_receipts"),
    ("janm praman patra chahiye", "request_certificate"),
    ("भाषा बदलें", "change_language"),
    ("namaste", "greet"),
    ("qwertyuiop", None),
])
def test_intents(text, intent):
    assert KeywordMatcher(TYPES).understand_now(text, None).intent == intent


@pytest.mark.parametrize(("text", "code", "place"), [
    ("street light not working near rajpur road", "StreetLightNotWorking", "rajpur road"),
    ("स्ट्रीट लाइट खराब है", "StreetLightNotWorking", None),
    ("mere ghar ke paas kachra pada hai", "GarbageNeedsTobeCleared", None),
    ("कचरा नहीं उठाया गया", "GarbageNeedsTobeCleared", None),
])
def test_complaint_types_route_to_filing(text, code, place):
    result = KeywordMatcher(TYPES).understand_now(text, None)
    assert result.intent == "file_complaint"
    assert result.entities["complaint_type"] == code
    assert result.entities.get("locality") == place


def test_normalize_and_locality_hint():
    assert normalize("  Street-Light!!  ") == "street light"
    assert locality_hint("garbage in clement town") == "clement town"
    assert locality_hint("garbage everywhere") is None


def test_every_locale_has_keywords_for_every_intent():
    intents = set(locale_keywords("en_IN"))
    assert {"greet", "file_complaint", "change_language", "affirm", "deny"} <= intents
    for code in locale_codes():
        assert set(locale_keywords(code)) == intents, code
    assert "bhasha badlo" in locale_keywords("hi_IN")["change_language"]  # romanised Hindi


def test_a_locale_brings_its_own_keywords(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    root = tmp_path / "locales"
    shutil.copytree(LOCALES_DIR, root, ignore=shutil.ignore_patterns("LC_MESSAGES"))
    (root / "mr_IN").mkdir()
    (root / "mr_IN" / "locale.yaml").write_text(
        "name: मराठी\nenglish_name: Marathi\nlanguage: mr\nscript: Devanagari\norder: 5\n",
        encoding="utf-8")
    (root / "mr_IN" / KEYWORDS_FILE).write_text(
        "intents:\n  file_complaint: [तक्रार नोंदवा]\n", encoding="utf-8")
    matcher = KeywordMatcher(TYPES)
    assert matcher.understand_now("तक्रार नोंदवा", None).intent is None
    monkeypatch.setenv("SAMVAD_LOCALES_DIR", str(root))
    assert matcher.understand_now("तक्रार नोंदवा", None).intent == "file_complaint"
    assert matcher.understand_now("भाषा बदलें", None).intent == "change_language"
