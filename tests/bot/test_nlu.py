"""The built-in matcher: menu words and complaint types in every language, yes/no only as
an answer, and a floor under its held-out figures."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.i18n import LOCALES_DIR, locale_codes
from bot.nlu import (
    KEYWORDS_FILE,
    KeywordMatcher,
    Understanding,
    is_yes_no_answer,
    locale_keywords,
    locality_hint,
    normalize,
    script_of,
)
from bot.nlu_eval import STYLES, evaluate, read_examples, seed_complaint_types, split_path

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


# ------------------------------------------------ the seed catalogue, every language

@pytest.fixture(scope="module")
def seeded() -> KeywordMatcher:
    return KeywordMatcher(seed_complaint_types())


@pytest.mark.parametrize(("text", "intent", "code"), [
    # a negation inside a complaint is no "no", in any script
    ("ਗਲੀ ਵਿੱਚ ਲਾਈਟ ਨਹੀਂ ਜਗਦੀ", "file_complaint", "StreetLightNotWorking"),
    ("ଆମ ଘରେ ପାଣି ଆସୁନାହିଁ", "file_complaint", "NoWaterSupply"),
    ("the light in our lane is not working since monday", "file_complaint",
     "StreetLightNotWorking"),
    ("ਕੂੜਾ ਨਹੀਂ ਚੁੱਕਿਆ ਤਿੰਨ ਦਿਨ ਹੋ ਗਏ", "file_complaint", "GarbageNeedsTobeCleared"),
    ("ରାସ୍ତାରେ ଗାତ ଅଛି", "file_complaint", "PotHoles"),
    ("kude ka dher laga hai mandir ke peeche", "file_complaint", "GarbageNeedsTobeCleared"),
    ("the public toilet is dirty and stinks", "file_complaint", "DirtyOrSmellyPublicToilet"),
    ("dead dog near the bus stop", "file_complaint", "DeadAnimals"),
    ("मुझे शिकायत करनी है", "file_complaint", None),  # names no type (not "Others")
    # what became of an earlier complaint is tracking, whatever problem it names
    ("what happened to the complaint i made about garbage", "track_complaint", None),
    ("meri pichli complaint ka kya hua", "track_complaint", None),
    ("पिछली शिकायत पर क्या कार्रवाई हुई", "track_complaint", None),
    ("ਮੇਰੀ ਸ਼ਿਕਾਇਤ ਦਾ ਕੀ ਬਣਿਆ ਜੀ", "track_complaint", None),
    # a language asked for in a sentence
    ("please talk to me in english", "change_language", None),
    ("मुझसे पंजाबी में बात कीजिए", "change_language", None),
    ("ଦୟାକରି ହିନ୍ଦୀରେ ଲେଖନ୍ତୁ", "change_language", None),
    # dues are paid; a receipt of a payment is a receipt
    ("how much are my dues", "pay_bill", None),
    ("mera kitna bakaya baaki hai", "pay_bill", None),
    ("send the receipt of my bill payment", "view_receipts", None),
    ("sat sri akal paji", "greet", None),
    # yes and no, as answers
    ("ਹਾਂ ਜੀ", "affirm", None),
    ("जी नहीं", "deny", None),
    ("nahi yeh galat hai", "deny", None),
    ("ନାହିଁ", "deny", None),
])
def test_every_language_with_the_seed_catalogue(seeded, text, intent, code):
    result = seeded.understand_now(text, None)
    assert (result.intent, result.entities.get("complaint_type")) == (intent, code)


@pytest.mark.parametrize(("text", "answer"), [
    ("haan", True), ("ji haan theek hai", True), ("no that is wrong", True), ("ਨਹੀਂ", True),
    ("ਲਾਈਟ ਨਹੀਂ ਜਗਦੀ", False), ("light is not working", False),
    ("nahi nahi bilkul galat hai bhai ye", False),  # too long to be an answer
])
def test_a_yes_or_no_is_an_answer_only_when_shaped_like_one(text, answer):
    assert is_yes_no_answer(normalize(text)) is answer


def test_scripts():
    assert [script_of(t) for t in ("नमस्ते", "ਸਤ ਸ੍ਰੀ", "ନମସ୍କାର", "hello", "PG-1 नमस्ते")] == [
        "devanagari", "gurmukhi", "odia", "latin", "devanagari"]


# Floors under the built-in matcher's held-out figures (issue 20 targets: >= 90 % of flows
# in every language, complaint type >= 80 %), a little under what it reads today so that a
# keyword change that makes it worse fails here. `samvad nlu eval` prints the table.
FLOW_FLOOR = 0.95
LANGUAGE_FLOOR = 0.92
TYPE_FLOOR = 0.86


async def test_the_heldout_figures_do_not_fall(seeded):
    async def builtin(text: str) -> Understanding:
        return seeded.understand_now(text, None)

    figures = (await evaluate(read_examples(split_path("heldout")), builtin)).figures()
    assert figures["all"]["flow_accuracy"] >= FLOW_FLOOR, figures["misses"]
    assert figures["all"]["type_accuracy"] >= TYPE_FLOOR, figures["misses"]
    for style, row in figures["styles"].items():
        assert row["flow_accuracy"] >= LANGUAGE_FLOOR, (style, figures["misses"])
    assert set(figures["styles"]) == set(STYLES)


def test_the_eval_command_prints_the_tables_and_says_when_rasa_is_missing():
    import socket

    from typer.testing import CliRunner

    from samvad.cli import app

    shown = CliRunner().invoke(app, ["nlu", "eval", "--reader", "builtin", "--split", "dev"])
    assert shown.exit_code == 0, shown.output
    for line in ("Per language", "Punjabi", "Odia", "All", "Per flow", "track_complaint",
                 "Confusion, built-in"):
        assert line in shown.output
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{sock.getsockname()[1]}"
    missing = CliRunner().invoke(app, ["nlu", "eval", "--reader", "rasa", "--rasa-url", nowhere])
    assert missing.exit_code == 1
    assert "Rasa is not answering" in missing.output and "samvad nlu serve" in missing.output
