"""core_api.privacy.redact: personal data out of citizens' text, everything else as typed."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core_api.privacy.redact import EMAIL, ID_NUMBER, NAME, PHONE, VEHICLE, redact

EXAMPLES = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

PHONES = [
    "+91 98765 43210", "+919876543210", "+91-98765-43210", "+91 9876543210", "919876543210",
    "0091 98765 43210", "(+91) 98765 43210", "09876543210", "0 98765 43210", "98765-43210",
    "9876543210", "98765 43210", "98 76 54 32 10", "987 654 3210", "9876-543-210",
    "98765.43210", "6123456789", "७८९०१२३४५६", "+९१ ९८७६५ ४३२१०", "੯੮੭੬੫੪੩੨੧੦",
    "୯୮୭୬୫୪୩୨୧୦", "0135-2712345", "0135 271 2345",
]
IDS = ["1234 5678 9012", "123456789012", "1234-5678-9012", "2345 6789 0123 4567",
       "9876 5432 1098"]
VEHICLES = ["UK07AB1234", "UK 07 AB 1234", "UK-07-AB-1234", "DL3CAB1234", "uk07ab1234",
            "HR26DQ5551", "MH 12 DE 1433", "22 BH 1234 AA", "UP14 1234"]
KEPT = [
    "PGR-DDN-2026-000123", "PG-UK-DDN-2026-000123", "PG-UK-HDW-2026-999999", "₹1,200",
    "Rs. 12,50,000", "₹ 1,00,000.50", "2026-06-14", "14/06/2026 10:30", "Pole 14",
    "ward 12", "house 34/5678", "B-DDN-2019-00123", "12345", "pin code 248001",
    "up to 12 lamps", "as of 2026", "at 9 pm", "Sector 12 1st floor", "NH 58",
    "30.3781, 78.0892", "Ram Jhula", "3 out of 10 lights", "98765", "1234 5678",
]


@pytest.mark.parametrize("phone", PHONES)
def test_every_spelling_of_a_phone_number_goes(phone):
    assert redact(f"Call me on {phone} please") == f"Call me on {PHONE} please"
    assert redact(f"mob:{phone}.") == f"mob:{PHONE}."
    assert redact(phone) == PHONE


@pytest.mark.parametrize("number", IDS)
def test_aadhaar_like_and_longer_numbers_go(number):
    assert redact(f"Aadhaar {number}, ok") == f"Aadhaar {ID_NUMBER}, ok"


@pytest.mark.parametrize("plate", VEHICLES)
def test_vehicle_numbers_go(plate):
    assert redact(f"Car {plate} parked on the footpath") == (
        f"Car {VEHICLE} parked on the footpath")


@pytest.mark.parametrize("email", ["asha@example.org", "asha.rawat+complaints@mail.co.in",
                                   "a_b-c@sub.domain.gov.in", "ASHA@EXAMPLE.ORG"])
def test_email_addresses_go(email):
    assert redact(f"write to {email}.") == f"write to {EMAIL}."


@pytest.mark.parametrize("text", KEPT)
def test_numbers_that_are_not_personal_stay(text):
    assert redact(f"{text} (see {text})", ["Asha Rawat"]) == f"{text} (see {text})"


def test_a_complaint_as_citizens_write_it():
    text = ("I am Asha Rawat, call 98765 43210 or +91-91234-56789 or asha.r@example.org. "
            "Aadhaar 2345 6789 0123. Truck UK 07 CA 4321 dumped garbage near PG-UK-DDN-2026-"
            "000123's site; I paid ₹1,200 on 14-06-2026. Asha")
    assert redact(text, ["Asha Rawat"]) == (
        f"I am {NAME}, call {PHONE} or {PHONE} or {EMAIL}. Aadhaar {ID_NUMBER}. Truck "
        f"{VEHICLE} dumped garbage near PG-UK-DDN-2026-000123's site; I paid ₹1,200 on "
        f"14-06-2026. {NAME}")


def test_names_whole_words_any_case_any_script():
    names = ["Asha Rawat"]
    assert redact("asha rawat here, RAWAT family", names) == f"{NAME} here, {NAME} family"
    assert redact("Asha  Rawat and A. Rawat", names) == f"{NAME} and A. {NAME}"
    # Only whole words: a place or word that contains the name stays.
    assert redact("Rawatpur, Ashanagar, Mashal", names) == "Rawatpur, Ashanagar, Mashal"
    assert redact("सुनीता देवी ने शिकायत की, सुनीता।", ["सुनीता देवी"]) == (
        f"{NAME} ने शिकायत की, {NAME}।")
    # Devanagari vowel signs belong to the word: सुनीताजी is not cut at सुनीता.
    assert redact("सुनीताजी", ["सुनीता"]) == "सुनीताजी"
    # Short name parts (Om) are redacted only as part of the full name.
    assert redact("Om Prakash says om", ["Om Prakash"]) == f"{NAME} says om"
    assert redact("Nobody named", [None, "", "  "]) == "Nobody named"
    assert redact("D'Souza called", ["Maria D'Souza"]) == f"{NAME} called"


def test_none_and_empty_and_replacement_words():
    assert redact(None, ["Asha"]) is None
    assert redact("") == ""
    # A citizen called "Phone Name" does not break the replacements.
    assert redact("Phone: 9876543210, Name", ["Phone Name"]) == f"{NAME}: {PHONE}, {NAME}"


def test_long_hostile_text_is_fast():
    """Descriptions are at most 1000 characters; no pattern backtracks badly on them."""
    samples = ["a@" + "b." * 500, "9 " * 500, "1" * 1000, "UK07" * 250, "+91 " * 250,
               "x" * 999 + "@", ("Asha " * 200)]
    started = time.perf_counter()
    for sample in samples:
        redact(sample, ["Asha Rawat", "x" * 120])
    assert time.perf_counter() - started < 1.0


# Text around the personal data: words, punctuation, and numbers that are not personal.
FILLER = st.lists(st.sampled_from(
    ["lamp", "out", "near", "the", "school", ",", ".", "\n", "बत्ती", "खराब", "है", "₹1,200",
     "PG-UK-DDN-2026-000123", "pole 14", "ward 12", "2026-06-14", "(", ")", ":", "-"]),
    max_size=8).map(" ".join)


def _mobile() -> st.SearchStrategy[str]:
    """A mobile number in any of the ways people write one."""
    subscriber = st.tuples(st.sampled_from("6789"),
                           st.text("0123456789", min_size=9, max_size=9)).map("".join)
    prefix = st.sampled_from(["", "+91", "+91 ", "+91-", "91", "0", "0091 ", "(+91) "])
    splits = st.sampled_from([(), (5,), (3, 6), (2, 4, 6, 8), (4, 7)])
    separator = st.sampled_from([" ", "-", ""])

    def spell(parts: tuple[str, str, tuple[int, ...], str]) -> str:
        number, lead, cuts, sep = parts
        pieces, last = [], 0
        for cut in (*cuts, 10):
            pieces.append(number[last:cut])
            last = cut
        return lead + sep.join(pieces)

    return st.tuples(subscriber, prefix, splits, separator).map(spell)


@EXAMPLES
@given(before=FILLER, after=FILLER, phone=_mobile())
def test_property_no_phone_number_survives(before, after, phone):
    out = redact(f"{before} {phone} {after}")
    digits = "".join(c for c in phone if c.isdigit())[-10:]
    assert digits not in "".join(c for c in out if c.isdigit())
    assert PHONE in out


@EXAMPLES
@given(before=FILLER, after=FILLER,
       aadhaar=st.text("0123456789", min_size=12, max_size=12),
       sep=st.sampled_from([" ", "-", ""]))
def test_property_no_aadhaar_number_survives(before, after, aadhaar, sep):
    written = sep.join((aadhaar[:4], aadhaar[4:8], aadhaar[8:]))
    out = redact(f"{before} {written} {after}")
    assert aadhaar not in "".join(c for c in out if c.isdigit())


@EXAMPLES
@given(text=FILLER)
def test_property_text_without_personal_data_is_unchanged(text):
    assert redact(text, ["Asha Rawat"]) == text


@EXAMPLES
@given(text=st.text(max_size=300), name=st.text(max_size=30))
def test_property_redacting_twice_changes_nothing_more(text, name):
    once = redact(text, [name])
    assert redact(once, [name]) == once
