"""BACK: the questions a person answered, so that BACK asks the previous one again with
the answers given before it kept.

``Session.back`` holds the newest entries, oldest first, one per answered question (a
"More" that turned a list's page counts as one too): at most ``MAX_BACK`` of them, fewer
when the session would grow past ``SESSION_BYTES`` (long lists on show): the oldest go
first, down to the last one, which goes too when it is big itself (over ``ENTRY_BYTES``:
the question's own slots were big). BACK with none left is the menu. An entry::

    [where, drop, reload, restore]

``where`` is the question's step id, or ``flow:step`` when it is another flow's than the
question after it (a flow entered as a sub-task with carried slots; entering a flow
otherwise starts its history afresh). ``drop`` (keys), ``reload`` and ``restore`` (values)
turn the slots the next question was asked with into those this one was asked with, so
BACK applies the newest entry to the slots of now and the entries chain; the slot the
question saves its answer in is dropped without being named. Only small
values are kept that way: a big slot a call loaded (a page of categories, the places
found) is named in ``reload`` with the call step and the values of its arguments, in the
step's order (``{slot: [step, [value, ...]]}``), and is fetched again: the session stays
compact however long the lists were. Trailing empty parts are left out.

``Session.loaded`` remembers, for each big slot a call loaded, ``[step, values, crc]``:
the (16-bit) checksum tells whether the slot is still what the call gave (a helper may have
changed it; then its value is kept instead).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from bot.flowspec import StepDef
from bot.services import Services
from bot.session import Session

MAX_BACK = 5
SESSION_BYTES = 960  # older entries go first while a session is bigger (it stays < 1 KB)
ENTRY_BYTES = 128  # the last entry is kept in a session over SESSION_BYTES up to this size
RELOAD_BYTES = 48  # a slot loaded by a call and bigger than this is fetched again on BACK


@dataclass(frozen=True)
class Entry:
    """One answered question, unpacked."""

    flow: str
    step: str
    drop: list[str] = field(default_factory=list)
    reload: dict[str, list[Any]] = field(default_factory=dict)
    restore: dict[str, Any] = field(default_factory=dict)


def _json(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _checksum(value: Any) -> int:
    return zlib.crc32(_json(value)) & 0xFFFF


def snapshot(slots: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of the slots (helpers may change a slot's value in place)."""
    copied: dict[str, Any] = orjson.loads(orjson.dumps(slots))
    return copied


def arg_values(args: dict[str, Any]) -> list[Any]:
    """A call's arguments as their values in order, trailing empty ones left out."""
    values = list(args.values())
    while values and values[-1] is None:
        values.pop()
    return values


def call_args(names: Iterable[str], values: list[Any]) -> dict[str, Any]:
    """The arguments of a call step (its ``args`` names) from ``arg_values``."""
    return {name: values[i] if i < len(values) else None for i, name in enumerate(names)}


def note_load(session: Session, slot: str, step: str, values: list[Any]) -> None:
    """A call step saved ``slot`` (``values``: its ``arg_values``): remember how, when the
    slot is big enough to be fetched again rather than kept."""
    loaded = session.slots.get(slot)
    if len(_json(loaded)) > RELOAD_BYTES:
        session.loaded[slot] = [step, values, _checksum(loaded)]
    else:
        session.loaded.pop(slot, None)


def prune_loads(session: Session) -> None:
    """Forget how slots were loaded once they are gone or no longer what the call gave."""
    session.loaded = {k: v for k, v in session.loaded.items()
                      if k in session.slots and v[2] == _checksum(session.slots[k])}


def remember(session: Session, flow: str, step: str, save: str | None,
             before: dict[str, Any], loaded: dict[str, list[Any]]) -> None:
    """Question ``step`` (its answer saved in ``save``) was answered: ``before`` were the
    slots it was asked with, the session's slots are those of the question asked now.
    Nothing is kept when the same question is asked again with nothing changed."""
    after = session.slots
    restore: dict[str, Any] = {}
    reload: dict[str, list[Any]] = {}
    for key, old in before.items():
        if key in after and _json(after[key]) == _json(old):
            continue
        recipe = loaded.get(key)
        if recipe and recipe[2] == _checksum(old):
            reload[key] = recipe[:2]
        else:
            restore[key] = old
    drop = [key for key in after if key not in before]
    if (session.flow, session.step) == (flow, step) and not (restore or drop or reload):
        return
    drop = [key for key in drop if key != save]
    parts: list[Any] = [step if flow == session.flow else f"{flow}:{step}", drop, reload,
                        restore]
    while not parts[-1]:
        parts.pop()
    session.back = [*session.back, parts][-MAX_BACK:]
    while session.back and len(session.dumps()) > SESSION_BYTES:
        if len(session.back) == 1 and len(_json(session.back[0])) <= ENTRY_BYTES:
            break
        session.back = session.back[1:]  # the oldest answers go first


def last(session: Session) -> Entry | None:
    """The newest entry (the question BACK returns to), or None."""
    if not session.back:
        return None
    where, *rest = session.back[-1]
    flow, _, step = where.rpartition(":")
    drop, reload, restore = (rest + [[], {}, {}][len(rest):])[:3]
    return Entry(flow or session.flow or "", step, drop, reload, restore)


def go_back(session: Session, entry: Entry, save: str | None, fetched: dict[str, Any]) -> None:
    """Return to ``entry``'s question (its answer saved in ``save``): its slots as they
    were (``fetched``: the reloaded ones, loaded again by the entry's call steps), the
    entry taken off."""
    session.back = session.back[:-1]
    for key in [*entry.drop, *([save] if save else [])]:
        session.slots.pop(key, None)
    session.slots.update(entry.restore)
    session.slots.update(fetched)
    for slot, (step, values) in entry.reload.items():
        note_load(session, slot, step, values)
    session.flow, session.step, session.retries = entry.flow, entry.step, 0


async def step_back(session: Session, entry: Entry, steps: dict[str, StepDef],
                    services: Services) -> None:
    """Go back to ``entry``'s question in the flow whose ``steps`` these are, fetching
    again the lists it showed (a ``ServiceError`` of that call changes nothing)."""
    fetched: dict[str, Any] = {}
    for slot, (call_step, values) in entry.reload.items():
        call = steps[call_step]
        fetched[slot] = await services.call(call.call or "", call_args(call.args, values),
                                            session)
    go_back(session, entry, steps[entry.step].save, fetched)
