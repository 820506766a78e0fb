"""Channel kinds and what each can show: the one table the engine, actions and renderers read.

A channel kind is a string (``"whatsapp"``, ``"sms"``) registered here once. Everything
that differs between kinds (how many options one message can offer, whether there are
buttons, how long a title may be, whether media can be sent, the SMS segment budget, the
customer-care window) is a field of its row, so a flow or renderer asks
``capabilities(session.channel).list_rows`` instead of comparing the kind to a literal.

Adding a kind (say Telegram): one row in ``CHANNEL_KINDS`` below, a renderer and a
provider folder in ``channels/``. Example::

    >>> capabilities("sms").page_size
    6
    >>> capabilities("whatsapp").buttons
    3
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Capabilities:
    """What one channel kind can show and send."""

    kind: str
    # Options offered in one message; longer lists are paged by the engine ("More").
    list_rows: int
    # Options per page when a list is paged (None: lists are never paged, only cut).
    page_size: int | None
    # Reply buttons in one message (0: options are numbered text).
    buttons: int
    button_title_max: int
    list_row_title_max: int
    list_row_description_max: int
    # Longest text one message may carry.
    text_max: int
    # Pictures and documents can be sent (else a link is sent instead).
    media: bool
    # A location can be asked for with a "send location" request.
    location_request: bool
    # Segments an SMS prompt may cost (None: the kind is not billed by segment).
    segment_budget: int | None
    # Seconds after the person's last message during which free-form messages are allowed;
    # after it only approved templates may be sent (None: no window).
    reply_window_s: int | None
    # Rich interactive messages (lists, buttons, location requests) render natively.
    interactive: bool


CHANNEL_KINDS: dict[str, Capabilities] = {
    row.kind: row
    for row in (
        Capabilities(
            kind="whatsapp", list_rows=10, page_size=None, buttons=3, button_title_max=20,
            list_row_title_max=24, list_row_description_max=72, text_max=4096, media=True,
            location_request=True, segment_budget=None, reply_window_s=24 * 3600,
            interactive=True,
        ),
        Capabilities(
            kind="sms", list_rows=7, page_size=6, buttons=0, button_title_max=24,
            list_row_title_max=34, list_row_description_max=0, text_max=1600, media=False,
            location_request=False, segment_budget=3, reply_window_s=None, interactive=False,
        ),
    )
}


class UnknownChannel(ValueError):
    """A channel kind no row of ``CHANNEL_KINDS`` describes."""


def capabilities(kind: str) -> Capabilities:
    """The row for ``kind``; an unregistered kind is an error, never guessed."""
    try:
        return CHANNEL_KINDS[kind]
    except KeyError:
        known = ", ".join(CHANNEL_KINDS)
        raise UnknownChannel(f"unknown channel kind {kind!r} (known: {known})") from None


def registered_kind(kind: str) -> str:
    """``kind`` itself when a row describes it (a pydantic ``AfterValidator`` for kinds
    that come from outside: the simulator, flow files)."""
    return capabilities(kind).kind


def channel_kinds() -> tuple[str, ...]:
    """Every registered kind, in registration order."""
    return tuple(CHANNEL_KINDS)
