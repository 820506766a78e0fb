"""Meta WhatsApp Cloud API message payloads.

Layout chosen for the options of one ``Outgoing``:

- none: a ``text`` message;
- 1-3 without descriptions and with distinct titles: reply buttons;
- up to 10 (or fewer that need descriptions or longer titles): a list in one section;
- more than 10: a ``text`` message with numbered lines, answered by number
  (see ``option_from_reply``); several lists would scatter one question;
- ``request_location``: a location request whose body carries the numbered options.

Where the options (or the location) are tapped, the message's ``tap_text`` is shown
when it has one ("choose", "tap" instead of "reply with a number"); numbered text keeps
``text``. Buttons and rows carry ``wire_option_id``: the question they answer, then the
option id. Text longer than an interactive body allows goes ahead as ``text`` messages, so
nothing is lost. Media are separate messages: before an interactive prompt (the question stays
last in the chat), after plain text, or a single medium carries the text as its caption.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from bot.messages import Media, Option, Outgoing
from channels.render._limits import (
    BODY_MAX,
    BUTTON_ID_MAX,
    BUTTON_TITLE_MAX,
    BUTTONS_MAX,
    CAPTION_MAX,
    FOOTER_MAX,
    LIST_BUTTON_MAX,
    LIST_ROW_DESCRIPTION_MAX,
    LIST_ROW_ID_MAX,
    LIST_ROW_TITLE_MAX,
    LIST_ROWS_MAX,
    TEXT_MAX,
)
from channels.render._plain import option_lines
from channels.render._replies import wire_option_id
from channels.render._text import (
    ELLIPSIS,
    has_url,
    join_lines,
    one_line,
    split,
    split_tail,
    truncate,
)

Payload = dict[str, Any]

DEFAULT_LIST_BUTTON = "Choose"  # callers pass a localized label; this is the last resort

_IMAGE_TYPES = frozenset({"image/jpeg", "image/png"})
_VIDEO_TYPES = frozenset({"video/mp4", "video/3gpp"})
_AUDIO_TYPES = frozenset({"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"})


def meta_recipient(to: str) -> str:
    """The Cloud API ``to``: the E.164 number's digits without ``+`` (``whatsapp:`` dropped)."""
    number = to.strip().removeprefix("whatsapp:")
    digits = "".join(char for char in number if char not in "+ -()")
    if not digits.isascii() or not digits.isdigit():
        raise ValueError(f"not a phone number: {to!r}")
    return digits


def render_meta(msg: Outgoing, to: str, *, list_button: str | None = None) -> list[Payload]:
    """The Cloud API ``/messages`` payloads that deliver ``msg`` to ``to``, in order.

    ``list_button`` is the localized label for the list opener when ``msg.list_button``
    is not set. Raises ``ValueError`` for option ids WhatsApp would reject (empty, too
    long, padded, duplicated) and empty labels: those are flow bugs.
    """
    return envelope(meta_recipient(to), meta_messages(msg, list_button=list_button))


def envelope(recipient: str, messages: Sequence[Payload]) -> list[Payload]:
    head = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": recipient}
    return [{**head, **message} for message in messages]


def meta_messages(msg: Outgoing, *, list_button: str | None = None) -> list[Payload]:
    """The payloads of ``msg`` without the envelope (``messaging_product``, ``to``)."""
    for option in msg.options:
        if not one_line(option.label):
            raise ValueError(f"option {option.id!r} has an empty label")
    prompt = bool(msg.options) or msg.request_location
    numbered = len(msg.options) > LIST_ROWS_MAX and not msg.request_location
    text = (msg.text if numbered else msg.tap_text or msg.text).strip()
    if not prompt and len(msg.media) == 1:
        caption = join_lines(text, msg.footer)
        if _media_kind(msg.media[0]) != "audio" and len(caption) <= CAPTION_MAX:
            return [_media(msg.media[0], caption)]
    media = [_media(item, "") for item in msg.media]
    if not prompt:
        return _texts(join_lines(text, msg.footer)) + media
    return media + _prompt(msg, text, list_button)


def _texts(text: str) -> list[Payload]:
    return [
        {"type": "text", "text": {"body": piece, "preview_url": has_url(piece)}}
        for piece in split(text, TEXT_MAX)
    ]


def _media_kind(media: Media) -> str:
    content_type = media.content_type.split(";")[0].strip().lower()
    if content_type in _IMAGE_TYPES:
        return "image"
    if content_type in _VIDEO_TYPES:
        return "video"
    if content_type in _AUDIO_TYPES:
        return "audio"
    return "document"


def _media(media: Media, caption: str) -> Payload:
    kind = _media_kind(media)
    body: dict[str, str] = {"link": media.url}
    if caption and kind != "audio":
        body["caption"] = caption
    if kind == "document":
        name = media.filename or urlsplit(media.url).path.rsplit("/", 1)[-1]
        if "." in name:  # a bare storage key is no help as a file name
            body["filename"] = name
    return {"type": kind, kind: body}


def _prompt(msg: Outgoing, text: str, list_button: str | None) -> list[Payload]:
    """The messages that end in the question: location request, buttons, list or numbered text."""
    options = msg.options
    footer = one_line(msg.footer or "")
    if msg.request_location or len(options) > LIST_ROWS_MAX:
        body = join_lines(text, *option_lines(options, descriptions=True), footer)
        if not msg.request_location:
            return _texts(body)
        head, tail = split_tail(body, BODY_MAX)
        request = {
            "type": "location_request_message",
            "body": {"text": tail or ELLIPSIS},
            "action": {"name": "send_location"},
        }
        return [*_texts(head), {"type": "interactive", "interactive": request}]

    if len(footer) > FOOTER_MAX:  # keep a long footer whole, in the body
        text, footer = join_lines(text, footer), ""
    head, tail = split_tail(text, BODY_MAX)
    buttons = button_titles(options)
    if buttons is not None:
        ids = wire_ids(msg, BUTTON_ID_MAX)
        interactive: Payload = {
            "type": "button",
            "body": {"text": tail or ELLIPSIS},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": wire, "title": title}}
                    for wire, title in zip(ids, buttons, strict=True)
                ]
            },
        }
    else:
        ids = wire_ids(msg, LIST_ROW_ID_MAX)
        label = one_line(msg.list_button or list_button or DEFAULT_LIST_BUTTON)
        interactive = {
            "type": "list",
            "body": {"text": tail or ELLIPSIS},
            "action": {
                "button": truncate(label, LIST_BUTTON_MAX),
                "sections": [{"rows": list_rows(options, ids)}],
            },
        }
    if footer:
        interactive["footer"] = {"text": footer}
    return [*_texts(head), {"type": "interactive", "interactive": interactive}]


def _distinct(titles: Sequence[str]) -> bool:
    return len({title.casefold() for title in titles}) == len(titles)


def button_titles(options: Sequence[Option]) -> list[str] | None:
    """Reply-button titles, or None when the options need a list instead."""
    if len(options) > BUTTONS_MAX or any(option.description for option in options):
        return None
    titles = [one_line(option.label) for option in options]
    # A label that would be cut reads better whole in a list row (24 characters).
    if any(len(title) > BUTTON_TITLE_MAX for title in titles):
        return None
    return titles if _distinct(titles) else None


def list_rows(options: Sequence[Option], ids: Sequence[str]) -> list[Payload]:
    """List rows ``{id, title, description?}``: titles cut to fit (numbered when the cut
    ones would look alike), a cut label shown whole as the description when it is free."""
    labels = [one_line(option.label) for option in options]
    titles = [truncate(label, LIST_ROW_TITLE_MAX) for label in labels]
    if not _distinct(titles):
        titles = [
            truncate(f"{number}. {label}", LIST_ROW_TITLE_MAX)
            for number, label in enumerate(labels, start=1)
        ]
    rows = []
    for option, wire, label, title in zip(options, ids, labels, titles, strict=True):
        row = {"id": wire, "title": title}
        # A cut label shows whole in the description line when that line is free.
        description = option.description or (None if title.endswith(label) else label)
        if description:
            row["description"] = truncate(one_line(description), LIST_ROW_DESCRIPTION_MAX)
        rows.append(row)
    return rows


def wire_ids(msg: Outgoing, limit: int) -> list[str]:
    """The ids the options are sent with (``wire_option_id``); ``ValueError`` for ids
    WhatsApp would refuse: empty, padded, too long with their question, or twice."""
    seen: set[str] = set()
    ids = []
    for option in msg.options:
        wire = wire_option_id(msg.question, option.id)
        if not option.id or option.id != option.id.strip() or len(wire) > limit:
            raise ValueError(f"option id {wire!r} must be 1-{limit} characters, unpadded")
        if option.id in seen:
            raise ValueError(f"option id {option.id!r} is used twice")
        seen.add(option.id)
        ids.append(wire)
    return ids
