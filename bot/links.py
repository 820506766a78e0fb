"""Short ``/r/<code>`` links for the bot: what an SMS carries instead of a long URL.

The core API builds the target itself from ``kind`` + ``ref`` (no caller-supplied URL, so no
open redirect); the bot only names the case. ``phone`` is the acting citizen: the API refuses a
case that is not theirs.
"""

from __future__ import annotations

from bot.core_client import CoreClient
from bot.services import ServiceError

SHORT_LINKS_PATH = "/api/v1/short-links"
KINDS = frozenset({"receipt", "certificate", "complaint", "payment"})
# Answers meaning "there is no such page (yet)", not "the service is broken".
NOTHING_TO_LINK = frozenset({404, 409, 410})


class ShortLinks:
    """Asks the core API for a short link to a citizen's receipt, certificate, complaint or bill."""

    def __init__(self, client: CoreClient) -> None:
        self.client = client

    async def shorten(self, kind: str, ref: str, phone: str | None = None) -> str | None:
        """An absolute /r/<code> URL for the case ``ref`` of ``kind`` (receipt | certificate
        | complaint | payment), or None when there is nothing to link to."""
        if kind not in KINDS or not ref:
            return None
        try:
            body = await self.client.request(
                "POST", SHORT_LINKS_PATH, phone, json={"kind": kind, "ref": ref})
        except ServiceError as exc:
            if exc.status in NOTHING_TO_LINK:
                return None
            raise
        return (body or {}).get("url") or None
