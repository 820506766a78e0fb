"""Menus on Twilio WhatsApp as Content API templates: quick-reply buttons and list pickers.

Twilio's Messages API sends no interactive messages of its own: buttons and lists are
content templates (``twilio/quick-reply``, ``twilio/list-picker``) created once through
the Content API and sent as ``ContentSid`` + ``ContentVariables``. Inside the 24-hour
session they need no WhatsApp approval (list pickers cannot even be approved). Samvad uses
generic ones, one per number of options, whose every text is a variable:

- ``quick-reply-N`` (N = 1..3, WhatsApp's limit in the session): body ``{{1}}``; button
  i (from 0) has title ``{{2+2i}}`` and id ``{{3+2i}}``;
- ``list-picker-N`` (N = 1..10): body ``{{1}}``, list button ``{{2}}``; item i has item
  ``{{3+3i}}``, id ``{{4+3i}}`` and description ``{{5+3i}}``.

``TWILIO_CONTENT_SIDS`` maps these names to the SIDs Twilio gave them
(``python -m channels.twilio.content`` prints the Content API request bodies that create
them). A message is sent as one of them when its name is configured and the message fits:
options without media or a location request, the body within 1 024 characters, the same
buttons or list rows Meta's renderer would draw (``channels.render``), ids carrying their
question (``wire_option_id``). Twilio refuses an empty variable, and a list picker's item
needs a description: a row without one is described by its number, which the person may
also type. Anything else goes as numbered text, whose wording speaks of numbers.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from bot.messages import Outgoing
from channels.render import (
    BODY_MAX,
    BUTTON_ID_MAX,
    DEFAULT_LIST_BUTTON,
    LIST_BUTTON_MAX,
    LIST_ROW_ID_MAX,
    LIST_ROWS_MAX,
    button_titles,
    list_rows,
    wire_ids,
)
from channels.render._text import one_line, truncate

QUICK_REPLY = "quick-reply"
LIST_PICKER = "list-picker"
QUICK_REPLY_MAX = 3  # buttons WhatsApp shows in the session without an approved template
_NAME = re.compile(rf"({QUICK_REPLY})-([1-{QUICK_REPLY_MAX}])|({LIST_PICKER})-([1-9]|10)")
_SID = re.compile(r"HX[0-9a-fA-F]{32}")


@dataclass(frozen=True)
class Content:
    """One message as a content template: its SID and its ``ContentVariables``."""

    sid: str
    variables: dict[str, str]

    def form(self) -> dict[str, str]:
        """The Messages API fields that send it (besides To, From, StatusCallback)."""
        return {"ContentSid": self.sid, "ContentVariables": orjson.dumps(self.variables).decode()}


def check_content_sids(sids: Mapping[str, str]) -> None:
    """Raise ``ValueError`` for a name that is no template of this module or a value that
    is no Content SID (``TWILIO_CONTENT_SIDS`` is checked at start)."""
    for name, sid in sids.items():
        if not _NAME.fullmatch(name):
            raise ValueError(f"TWILIO_CONTENT_SIDS: {name!r} is not quick-reply-1..3 or "
                             "list-picker-1..10")
        if not _SID.fullmatch(sid):
            raise ValueError(f"TWILIO_CONTENT_SIDS: {name} must be a Content SID (HX...)")


def session_content(msg: Outgoing, sids: Mapping[str, str], *,
                    list_button: str = DEFAULT_LIST_BUTTON) -> Content | None:
    """``msg`` as a quick-reply or list-picker template, or None (send numbered text)."""
    options = msg.options
    if not options or msg.media or msg.request_location or len(options) > LIST_ROWS_MAX:
        return None
    body = (msg.tap_text or msg.text).strip()
    if msg.footer:
        body = f"{body}\n{one_line(msg.footer)}"
    if not body or len(body) > BODY_MAX:
        return None
    titles = button_titles(options)
    if titles is not None:
        sid = sids.get(f"{QUICK_REPLY}-{len(options)}")
        if sid is None:
            return None
        variables = {"1": body}
        for index, (title, wire) in enumerate(
                zip(titles, wire_ids(msg, BUTTON_ID_MAX), strict=True)):
            variables[str(2 + 2 * index)] = title
            variables[str(3 + 2 * index)] = wire
        return Content(sid, variables)
    sid = sids.get(f"{LIST_PICKER}-{len(options)}")
    if sid is None:
        return None
    label = one_line(msg.list_button or list_button) or DEFAULT_LIST_BUTTON
    variables = {"1": body, "2": truncate(label, LIST_BUTTON_MAX)}
    rows = list_rows(options, wire_ids(msg, LIST_ROW_ID_MAX))
    for index, row in enumerate(rows):
        variables[str(3 + 3 * index)] = row["title"]
        variables[str(4 + 3 * index)] = row["id"]
        variables[str(5 + 3 * index)] = row.get("description") or str(index + 1)
    return Content(sid, variables)


def definition(name: str) -> dict[str, Any]:
    """The Content API request body (``POST https://content.twilio.com/v1/Content``) that
    creates the template ``name`` (``quick-reply-3``, ``list-picker-10``, ...)."""
    match = _NAME.fullmatch(name)
    if match is None:
        raise ValueError(f"no template {name!r}")
    count = int(match[2] or match[4])
    samples = {"1": "How can we help you?"}
    if match[1]:
        actions = []
        for index in range(count):
            title, wire = str(2 + 2 * index), str(3 + 2 * index)
            samples[title], samples[wire] = f"Option {index + 1}", f"menu.menu~o{index + 1}"
            actions.append({"title": f"{{{{{title}}}}}", "id": f"{{{{{wire}}}}}"})
        kind: dict[str, Any] = {"twilio/quick-reply": {"body": "{{1}}", "actions": actions}}
    else:
        samples["2"] = "Choose"
        items = []
        for index in range(count):
            item, wire, about = (str(3 + 3 * index + offset) for offset in range(3))
            samples[item], samples[wire] = f"Option {index + 1}", f"menu.menu~o{index + 1}"
            samples[about] = str(index + 1)
            items.append({"item": f"{{{{{item}}}}}", "id": f"{{{{{wire}}}}}",
                          "description": f"{{{{{about}}}}}"})
        kind = {"twilio/list-picker": {"body": "{{1}}", "button": "{{2}}", "items": items}}
    return {"friendly_name": f"samvad-{name}", "language": "en", "variables": samples,
            "types": kind}


def template_names() -> list[str]:
    """Every template this module can use, in the order an operator creates them."""
    return ([f"{QUICK_REPLY}-{n}" for n in range(1, QUICK_REPLY_MAX + 1)]
            + [f"{LIST_PICKER}-{n}" for n in range(1, LIST_ROWS_MAX + 1)])


if __name__ == "__main__":
    # One request body a line, to create each template with the Content API.
    for template in template_names():
        sys.stdout.write(orjson.dumps(definition(template)).decode() + "\n")
