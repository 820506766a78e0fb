"""The messages a fake Twilio accepted, served as Twilio serves them: the Message
resource's fields (RFC 2822 dates, string counts) and ``GET .../Messages.json`` pages
filtered by ``To``, ``From`` and ``DateSent`` (``DateSent<`` / ``DateSent>``: on or
before / after; a date or a date-time), newest first, ``PageSize`` and ``Page`` with
``next_page_uri``. Shared by the in-process fake (``twilio_testkit``) and the fault
tests' HTTP fake (``tests/faults/cluster.py``)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

DEFAULT_PAGE_SIZE = 50


def rfc2822(at: float) -> str:
    """Twilio's date format: ``Sat, 15 Jun 2024 13:42:10 +0000``."""
    return format_datetime(datetime.fromtimestamp(int(at), UTC)).replace("-0000", "+0000")


def _first(value: str | list[str] | None) -> str | None:
    return value[0] if isinstance(value, list) else value


class TwilioMessageLog:
    """Messages of one account, oldest first; ``now`` is Twilio's clock."""

    def __init__(self, account_sid: str, now: Callable[[], float] = time.time) -> None:
        self.account_sid = account_sid
        self.now = now
        self.messages: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    @property
    def path(self) -> str:
        return f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"

    def accept(self, form: Mapping[str, str | list[str]], sid: str | None = None,
               status: str = "queued") -> dict[str, Any]:
        """Record a message created from the POSTed ``form``; its resource."""
        at = self.now()
        sid = sid or "SM" + uuid.uuid4().hex
        media = form.get("MediaUrl")
        message = {
            "account_sid": self.account_sid, "api_version": "2010-04-01",
            "body": _first(form.get("Body")) or "", "date_created": rfc2822(at),
            "date_sent": None, "date_updated": rfc2822(at), "direction": "outbound-api",
            "error_code": None, "error_message": None, "from": _first(form.get("From")),
            "messaging_service_sid": _first(form.get("MessagingServiceSid")),
            "num_media": str(len(media) if isinstance(media, list) else int(bool(media))),
            "num_segments": "1", "price": None, "price_unit": "USD", "sid": sid,
            "status": status, "subresource_uris": {
                "media": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}/Media.json"},
            "to": _first(form.get("To")), "uri": f"{self.path[:-5]}/{sid}.json",
            "_at": at}
        with self.lock:
            self.messages.append(message)
        return _public(message)

    def mark_sent(self, sid: str, status: str = "sent") -> None:
        """Twilio handed the message on: ``date_sent`` is set (the ``DateSent`` filters)."""
        with self.lock:
            for message in self.messages:
                if message["sid"] == sid:
                    message.update(status=status, date_sent=rfc2822(self.now()))

    def page(self, query: Mapping[str, str]) -> dict[str, Any]:
        """The list page Twilio answers ``GET Messages.json?<query>`` with."""
        size = int(query.get("PageSize") or DEFAULT_PAGE_SIZE)
        number = int(query.get("Page") or 0)
        with self.lock:
            found = [m for m in reversed(self.messages) if _wanted(m, query)]
        chunk = found[number * size:(number + 1) * size]
        base = {k: v for k, v in query.items() if k not in ("Page", "PageToken", "PageSize")}

        def uri(page: int) -> str:
            return self.path + "?" + urlencode({**base, "PageSize": size, "Page": page,
                                                "PageToken": f"PA{page}"})

        more = (number + 1) * size < len(found)
        return {
            "messages": [_public(m) for m in chunk], "page": number, "page_size": size,
            "start": number * size, "end": number * size + max(len(chunk) - 1, 0),
            "uri": uri(number), "first_page_uri": uri(0),
            "next_page_uri": uri(number + 1) if more else None,
            "previous_page_uri": uri(number - 1) if number > 0 else None}


def _public(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if not k.startswith("_")}


def _when(value: str) -> datetime | date:
    """A ``DateSent`` filter value: ``YYYY-MM-DD`` or an ISO 8601 date-time."""
    if len(value) == 10:
        return date.fromisoformat(value)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _wanted(message: dict[str, Any], query: Mapping[str, str]) -> bool:
    if "To" in query and message["to"] != query["To"]:
        return False
    if "From" in query and message["from"] != query["From"]:
        return False
    for key, compare in (("DateSent", "eq"), ("DateSent<", "le"), ("DateSent>", "ge")):
        if key not in query:
            continue
        if message["date_sent"] is None:
            return False  # not handed on yet: no sent date to match
        limit = _when(query[key])
        sent = datetime.strptime(message["date_sent"], "%a, %d %b %Y %H:%M:%S %z")
        mine: datetime | date = sent.date() if not isinstance(limit, datetime) else sent
        if (compare == "eq" and mine != limit) or (compare == "le" and mine > limit) or (
                compare == "ge" and mine < limit):
            return False
    return True
