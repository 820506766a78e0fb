"""Phone numbers: every spelling of one Indian number is one E.164 identity."""

from __future__ import annotations

import pytest

from core_api.errors import BadRequest
from core_api.phones import mask_phone, normalize_phone


@pytest.mark.parametrize(
    "raw",
    ["9876500001", "09876500001", "+919876500001", "+91 98765 00001", "+91-98765-00001",
     "919876500001", "whatsapp:+919876500001", "WhatsApp:+91 98765 00001", "sms:9876500001",
     "tel:+91-9876500001", "  98765 00001  ", "(+91) 98765-00001"],
)
def test_spellings_of_one_number(raw):
    assert normalize_phone(raw) == "+919876500001"


@pytest.mark.parametrize(
    "raw", ["", "   ", "12345", "abc", "9876500", "98765000011234", "+1 555 0100",
            "whatsapp:", "+91 00000 00000", "+91 98765 0000"],
)
def test_invalid_numbers(raw):
    with pytest.raises(BadRequest) as refused:
        normalize_phone(raw)
    assert refused.value.code == "invalid_phone"
    assert refused.value.status_code == 400


def test_other_countries_keep_their_code():
    assert normalize_phone("+44 20 7946 0958") == "+442079460958"


@pytest.mark.parametrize(
    ("e164", "masked"),
    [("+919876500001", "+91******0001"), (None, ""), ("", ""), ("+12345", "******")],
)
def test_mask_phone(e164, masked):
    assert mask_phone(e164) == masked
