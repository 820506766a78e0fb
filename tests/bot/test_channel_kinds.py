"""The channel-capabilities table: one row per kind, rows that agree with themselves, and
kinds that are refused wherever one arrives unregistered."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.channel_kinds import (
    CHANNEL_KINDS,
    Capabilities,
    UnknownChannel,
    capabilities,
    channel_kinds,
    registered_kind,
)
from bot.flowspec import OptionDef
from bot.messages import Inbound
from bot.session import Session


def test_the_registered_kinds_are_whatsapp_then_sms() -> None:
    assert channel_kinds() == ("whatsapp", "sms")
    assert all(row.kind == kind for kind, row in CHANNEL_KINDS.items())


@pytest.mark.parametrize("kind", ["telegram", "SMS", "", "whatsapp:"])
def test_an_unregistered_kind_is_an_error_never_a_guess(kind: str) -> None:
    with pytest.raises(UnknownChannel, match="unknown channel kind"):
        capabilities(kind)
    with pytest.raises(UnknownChannel):
        registered_kind(kind)
    with pytest.raises(UnknownChannel):
        Inbound(channel=kind, sender="+919876500001", text="hi")


def test_flow_options_name_only_registered_kinds() -> None:
    assert OptionDef(id="map", label="x.map", channels=["whatsapp"]).channels == ["whatsapp"]
    with pytest.raises(ValidationError, match="unknown channel kind 'fax'"):
        OptionDef(id="map", label="x.map", channels=["fax"])


def test_a_session_kept_on_a_kind_no_longer_registered_starts_afresh() -> None:
    kept = Session(flow="main_menu", step="menu", channel="sms").dumps()
    assert Session.loads(kept) is not None
    assert Session.loads(kept.replace(b'"sms"', b'"fax"')) is None


@pytest.mark.parametrize("row", CHANNEL_KINDS.values(), ids=lambda row: row.kind)
def test_each_row_is_consistent(row: Capabilities) -> None:
    # A page and its "More" line fit where the whole list did not.
    assert row.page_size is None or 0 < row.page_size < row.list_rows
    assert 0 <= row.buttons <= row.list_rows
    # Buttons, location requests and lists exist only as interactive messages.
    if not row.interactive:
        assert row.buttons == 0 and not row.location_request
    assert row.reply_window_s is None or row.reply_window_s > 0
    assert row.segment_budget is None or row.segment_budget >= 1


def test_sms_is_text_only_and_billed_by_segment() -> None:
    sms = capabilities("sms")
    assert (sms.media, sms.interactive, sms.reply_window_s) == (False, False, None)
    assert sms.segment_budget == 3 and sms.page_size == 6 and sms.list_rows == 7


def test_whatsapp_has_the_customer_care_window_and_no_pages() -> None:
    whatsapp = capabilities("whatsapp")
    assert whatsapp.reply_window_s == 24 * 3600
    assert whatsapp.page_size is None and whatsapp.segment_budget is None
    assert whatsapp.media and whatsapp.location_request
