"""Pure helpers flows run with ``do:``: they read slots and return slot updates.

A helper may return ``_next`` to choose the following step. Helpers do no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from bot.i18n import LOCALES
from bot.inputs import ascii_digits
from bot.media import is_media_link
from bot.session import Session

Helper = Callable[[dict[str, Any], Session], dict[str, Any]]
HELPERS: dict[str, Helper] = {}


def helper(fn: Helper) -> Helper:
    """Register ``fn`` under its name for ``do:`` steps."""
    HELPERS[fn.__name__] = fn
    return fn


@helper
def set_locale(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """Switch the conversation to the chosen locale at once."""
    chosen = slots.get("chosen_locale")
    if chosen in LOCALES:
        session.locale = chosen
    return {}


# --- births and deaths certificates ---------------------------------------------------------

_REGISTRATION_NUMBER = re.compile(r"([BD])([A-Z]{2,5})(\d{4})(\d{1,6})")


@helper
def normalize_registration_number(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """``typed_number`` ("b ddn 2019 123") -> ``reg_number`` "B-DDN-2019-00123", or "" when
    it is not a birth (B) or death (D) registration number."""
    typed = re.sub(r"[^A-Z0-9]", "", ascii_digits(str(slots.get("typed_number") or "")).upper())
    match = _REGISTRATION_NUMBER.fullmatch(typed)
    if match is None:
        return {"reg_number": ""}
    kind, ulb, year, serial = match.groups()
    return {"reg_number": f"{kind}-{ulb}-{year}-{serial.zfill(5)}"}


@helper
def certificate_match(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """The record the citizen means (``picked`` among the search results, else the only
    one) as ``match``. A single result is dropped from ``found`` to keep the session small;
    several stay, so that "back" can show the choice again."""
    results = (slots.get("found") or {}).get("results") or []
    picked = slots.get("picked")
    match = next((r for r in results if r.get("number") == picked), results[0] if results else None)
    return {"match": match, "found": None} if len(results) <= 1 else {"match": match}


# --- complaints (flow track_complaint) ------------------------------------------------------


@helper
def complaint_shown(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """Once a complaint's details are shown only its ``stage`` (act/open/closed) is kept:
    the details ``c`` and an earlier action's answers are dropped to keep the session small
    (the complaint's number stays in ``complaint_id``)."""
    details = slots.get("c") or {}
    return {"stage": details.get("stage") or "open", "c": None, "done": None, "reason": None,
            "feedback": None, "rating": None}


# --- filing a complaint (flow file_complaint) -----------------------------------------------

FILE_COMPLAINT = "file_complaint"
# The list questions of file_complaint and the slot that holds each one's options.
_COMPLAINT_LISTS = {"category": "cats", "subtype": "types", "city": "cities",
                    "pick_place": "found", "pick_nlu_place": "found", "pick_area": "areas"}


def _forget(slots: dict[str, Any], session: Session, *keys: str) -> None:
    """Drop slots no longer needed (in place, so the session keeps no empty keys), and the
    "back" entries of list questions whose options went with them: BACK then returns to the
    last question that can still be shown, never to a question without options (the same
    question answered twice in a row is kept once)."""
    for key in keys:
        slots.pop(key, None)
    back: list[list[str]] = []
    for entry in session.back:
        if entry[0] == FILE_COMPLAINT and entry[1] in _COMPLAINT_LISTS and (
                _COMPLAINT_LISTS[entry[1]] not in slots):
            continue
        if not back or back[-1] != entry:  # a question answered twice in a row: once
            back.append(entry)
    session.back = back


def _row(rows: Any, wanted: Any) -> dict[str, Any] | None:
    """The option row (``{i: id, l: label}``) whose id is ``wanted`` (the engine gives ids
    back as text)."""
    return next((row for row in rows or [] if str(row.get("i")) == str(wanted)), None)


@helper
def complaint_types_loaded(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """The types of the chosen category are at hand: the category list goes (the type
    question ends in an "Other category" row instead)."""
    _forget(slots, session, "cats", "category")
    return {}


@helper
def complaint_take_type(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """``type`` = ``{c: code, n: name}`` of the chosen subtype (or of a category's only
    one); the category and type lists go."""
    rows = slots.get("types") or []
    row = _row(rows, slots.get("type_code")) or (rows[0] if len(rows) == 1 else None)
    _forget(slots, session, "cats", "types", "category", "type_code", "nlu_complaint_type")
    return {"type": {"c": row["i"], "n": row["l"]}} if row else {}


@helper
def complaint_take_pin(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """The citizen confirmed the locality found at their pin: ``place`` and ``city``."""
    at = slots.get("at") or {}
    _forget(slots, session, "at", "cities", "found", "areas", "misses", "nlu_locality",
            "nlu_complaint_type")
    return {"place": {"i": at.get("i"), "n": at.get("n")}, "city": at.get("city")}


@helper
def complaint_pin_refused(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """Not that locality: the pin's city stays, and the area name is asked for (with no
    city known, the city question comes first)."""
    city = (slots.get("at") or {}).get("city")
    _forget(slots, session, "at", "pin", "city")
    return {"city": city} if city else {}


@helper
def complaint_take_city(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """``city`` = ``{c: code, n: name}`` of the chosen ULB (or of the only one). The city
    list stays until the area is found, so that BACK from the area question shows it again."""
    rows = (slots.get("cities") or {}).get("items") or []
    row = _row(rows, slots.get("tenant")) or (rows[0] if len(rows) == 1 else None)
    slots.pop("tenant", None)
    return {"city": {"c": row["i"], "n": row["l"]}} if row else {}


@helper
def complaint_take_place(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """``place`` = ``{i: id, n: name}`` of the locality picked from the "did you mean" rows
    or the city's list; a match found in every city brings its ``city``. The lists go."""
    picked = slots.get("place_id")
    row = (_row((slots.get("found") or {}).get("items"), picked)
           or _row((slots.get("areas") or {}).get("items"), picked))
    _forget(slots, session, "found", "areas", "cities", "place_id", "place_text", "misses",
            "nlu_locality", "nlu_complaint_type", "pin")
    if row is None:
        return {}
    updates: dict[str, Any] = {"place": {"i": row["i"], "n": row["l"]}}
    if row.get("city"):
        updates["city"] = row["city"]
    return updates


@helper
def complaint_miss(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """The typed area was not found (or none of the matches was it): ask again once, then
    offer the city's areas as a list (the city list goes then: the session holds one list)."""
    misses = int(slots.get("misses") or 0) + 1
    _forget(slots, session, "found", "place_id", "place_text",
            *(("cities",) if misses >= 2 else ()))
    return {"misses": misses}


@helper
def complaint_photos(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """Keep only the links of the photos sent (at most three); none when skipped. A link is
    an http(s) URL (Twilio, the simulator) or a provider's reference (Meta's
    ``meta-media:<id>``); which ones may be fetched is for ``bot.media`` to decide."""
    photos = slots.get("photos") or []
    links = [str(p["url"]) for p in photos if isinstance(p, dict)
             and is_media_link(str(p.get("url", "")))]
    return {"photos": links[:3]}


COMPLAINT_BRIEF = 50  # characters of the description the summary repeats (SMS budget)


@helper
def complaint_summary(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """How the summary shows the description, in slots that exclude each other so that a
    message can join them: ``description`` itself when short; else its start ``head``
    (whole words) with ``more`` = "…", the remainder kept in ``rest`` (``head + rest`` is
    the text as typed, stored once); or ``dash`` when it was skipped."""
    text = slots.pop("description", None)
    _forget(slots, session, "head", "rest", "more", "dash")
    if not text:
        return {"dash": "\u2014"}
    if len(text) <= COMPLAINT_BRIEF:
        return {"description": text}
    cut = COMPLAINT_BRIEF - 1
    if not text[cut].isspace() and " " in text[:cut]:  # the cut is inside a word: drop it
        cut = text.rindex(" ", 0, cut)
    cut = len(text[:cut].rstrip(" ,.;:-")) or cut
    return {"head": text[:cut], "rest": text[cut:], "more": "\u2026"}


@helper
def complaint_where(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """Before asking where the problem is: a place named in the request that was not
    found (or not the right one) is forgotten."""
    _forget(slots, session, "found", "nlu_locality", "nlu_complaint_type", "place_id")
    return {}


# --- employee tasks (flow employee_tasks) ---------------------------------------------------

EMPLOYEE_TASKS = "employee_tasks"
# The list questions of employee_tasks and the slot that holds each one's options.
_STAFF_LISTS = {"pick": "tasks", "pick_page": "tasks", "pick_lme": "lmes",
                "pick_category": "cats", "pick_type": "types"}


def _staff_forget(slots: dict[str, Any], session: Session, *keys: str) -> None:
    """Drop slots (in place) and the "back" entries of list questions whose options went."""
    for key in keys:
        slots.pop(key, None)
    session.back = [entry for entry in session.back
                    if not (entry[0] == EMPLOYEE_TASKS and entry[1] in _STAFF_LISTS
                            and _STAFF_LISTS[entry[1]] not in slots)]


@helper
def staff_task_picked(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """``task_kind`` of the task chosen from the list (``c`` complaint, ``r`` certificate
    request) and ``task_id`` its whole number (the rows' ids leave out the page's shared
    prefix ``x``)."""
    tasks = slots.get("tasks") or {}
    row = _row(tasks.get("items"), slots.get("task_id"))
    if row is None:
        return {"task_kind": "c"}
    return {"task_kind": row.get("k", "c"), "task_id": f"{tasks.get('x') or ''}{row['i']}"}


@helper
def staff_turn_page(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """A paging row was chosen (``task_id`` ``next``: "More tasks" / "Next", ``prev``:
    "Previous"): the ``page`` to load; the page after the last is the first again."""
    tasks = slots.get("tasks") or {}
    page, last = int(tasks.get("p") or 1), max(int(tasks.get("last") or 1), 1)
    step = -1 if slots.pop("task_id", None) == "prev" else 1
    return {"page": (page - 1 + step) % last + 1}


@helper
def staff_first_page(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """"My tasks" from the menu starts at the first page (after acting on a task the list
    comes back on the page the employee was on)."""
    slots.pop("page", None)
    return {}


@helper
def staff_change_start(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """Before the category menu: of the task only its number and type stay (the menu takes
    the room; the task is loaded again when the change is refused or changes nothing), and
    BACK no longer returns to its actions, which went with it."""
    task = slots.get("t") or {}
    _staff_forget(slots, session, "action", "task_kind")
    session.back = [entry for entry in session.back if entry != [EMPLOYEE_TASKS, "act"]]
    return {"t": {"id": task.get("id"), "ty": task.get("ty")}}


@helper
def staff_types_loaded(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """The chosen category's types are at hand: the category menu goes ("Other category"
    shows it again from its first page)."""
    _staff_forget(slots, session, "cats", "category")
    return {}


@helper
def staff_type_picked(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """The complaint's new type (the chosen one, or a category's only one) as ``type_code``,
    "" when it is the type the complaint has already; the type list goes."""
    rows = slots.get("types") or []
    row = _row(rows, slots.get("type_code")) or (rows[0] if len(rows) == 1 else None)
    _staff_forget(slots, session, "types", "type_code")
    if row is None or str(row["i"]) == str((slots.get("t") or {}).get("ty")):
        return {"type_code": ""}
    return {"type_code": row["i"]}


@helper
def staff_task_shown(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """Once a task is shown, only what acting on it needs stays (number, kind, state, city,
    department, actions); the task list and the details go, to keep the session small."""
    task = slots.get("t") or {}
    _staff_forget(slots, session, "tasks")
    return {"t": {key: task[key] for key in ("id", "k", "s", "tn", "dp", "ty", "a")
                  if key in task}}


@helper
def staff_reset(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """Before the task list (again): everything about the last task goes (the list's
    ``page`` stays)."""
    _staff_forget(slots, session, "tasks", "t", "lmes", "assignee", "reason", "note",
                  "photos", "done", "task_id", "task_kind", "error", "cats", "types",
                  "category", "type_code")
    return {}
