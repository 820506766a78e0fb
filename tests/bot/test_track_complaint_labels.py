"""Option labels of the track_complaint list: type and status within a WhatsApp row title."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.labels import ROW_TITLE_MAX, latest_note
from bot.session import Session
from flows.track_complaint.actions import _complaint_label, complaint_shown

CATALOGUE = Path(__file__).resolve().parents[2] / "core_api/seed/data/complaint_types.yaml"
STATES = ("PENDINGFORASSIGNMENT", "PENDINGATLME", "PENDINGFORREASSIGNMENT", "RESOLVED",
          "REJECTED", "CLOSEDAFTERRESOLUTION", "CLOSEDAFTERREJECTION")


def _row(code: str, category: str, names: dict[str, str], status: str) -> dict:
    return {"status": status, "type": {"code": code, "category_code": category,
                                       "names": names}}


def test_labels_fit_a_list_row_and_keep_the_status_whole() -> None:
    data = yaml.safe_load(CATALOGUE.read_text(encoding="utf-8"))
    categories = {c["code"]: {"en": c["name_en"], "hi": c["name_hi"]}
                  for c in data["categories"]}
    statuses = {"en_IN": ("Received", "Assigned", "Reassigning", "Resolved", "Rejected",
                          "Closed", "Closed"),
                "hi_IN": ("प्राप्त", "सौंपी गई", "पुनः आवंटन", "हल हुई", "अस्वीकृत", "बंद", "बंद")}
    for category in data["categories"]:
        for kind in category["subtypes"]:
            names = {"en": kind["name_en"], "hi": kind["name_hi"]}
            for locale, words in statuses.items():
                for state, word in zip(STATES, words, strict=True):
                    label = _complaint_label(_row(kind["code"], category["code"], names, state),
                                             locale, categories)
                    assert len(label) <= ROW_TITLE_MAX, label
                    assert label.endswith(f": {word}"), label

    streetlights = {"Streetlights": {"en": "Streetlights", "hi": "स्ट्रीट लाइट"}}
    whole = _row("DamagedRoad", "Roads", {"en": "Damaged road"}, "RESOLVED")
    assert _complaint_label(whole, "en_IN", {}) == "Damaged road: Resolved"
    long = _row("StreetLightNotWorking", "Streetlights",
                {"en": "Streetlight not working", "hi": "स्ट्रीट लाइट खराब है"}, "RESOLVED")
    assert _complaint_label(long, "en_IN", streetlights) == "Streetlights: Resolved"
    assert _complaint_label(long, "hi_IN", streetlights) == "स्ट्रीट लाइट: हल हुई"
    # No category that fits: the type is cut at a word, with an ellipsis.
    assert _complaint_label(long, "en_IN", {}) == "Streetlight…: Resolved"
    # A status the catalogs do not know yet shows as its code rather than failing.
    odd = _row("DamagedRoad", "Roads", {"en": "Damaged road"}, "ONHOLD")
    assert _complaint_label(odd, "en_IN", {}) == "Damaged road: ONHOLD"


def test_details_keep_the_latest_note_short_and_are_dropped_once_shown() -> None:
    history = [{"comment": "Please fix"}, {"comment": "  Bulb   replaced "}, {"comment": None}]
    assert latest_note(history) == "Bulb replaced"
    assert latest_note([{"comment": "word " * 40}]).endswith("…")
    assert len(latest_note([{"comment": "word " * 40}])) <= 80
    assert latest_note([]) == ""
    slots = {"complaint_id": "PG-UK-DDN-2026-000001", "c": {"id": "x", "stage": "act"},
             "reason": "still dark", "done": {"done": "no"}}
    updates = complaint_shown(slots, Session())
    assert updates["stage"] == "act"
    assert updates["c"] is None and updates["reason"] is None and updates["done"] is None
    assert "complaint_id" not in updates
