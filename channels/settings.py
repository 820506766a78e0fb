"""The settings the channels build their senders from, as the channels see them.

``samvad.settings.Settings`` (the composition root's) has every one of these; the channels
read them through this protocol and never import ``samvad`` (lint-imports). A provider
that needs another setting adds it here and in ``Settings``.
"""

from __future__ import annotations

from typing import Protocol


class ChannelSettings(Protocol):
    """What ``from_settings`` of a sender reads (read-only)."""

    @property
    def public_url(self) -> str: ...

    @property
    def simulator_enabled(self) -> bool: ...

    @property
    def twilio_account_sid(self) -> str | None: ...

    @property
    def twilio_auth_token(self) -> str | None: ...

    @property
    def twilio_api_base(self) -> str: ...

    @property
    def twilio_sms_from(self) -> str | None: ...

    @property
    def twilio_whatsapp_from(self) -> str | None: ...

    @property
    def twilio_content_sids(self) -> dict[str, str]: ...
