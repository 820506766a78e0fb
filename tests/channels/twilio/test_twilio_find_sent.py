"""``TwilioSender.find_sent``: was a job whose answer was lost sent? Asked of a fake that
lists what it accepted as Twilio's ``GET Messages.json`` does (pages, filters, dates)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bot.messages import Media, Outgoing
from channels.base import OutboundJob, SendError, SendErrorKind, outgoing_to_dict
from channels.twilio.sender import LOOKUP_PAGE_SIZE, TwilioSender
from tests.channels.twilio.twilio_testkit import (
    ACCOUNT_SID,
    API_BASE,
    AUTH_TOKEN,
    PUBLIC_URL,
    FakeTwilio,
)

T0 = 1_800_000_000.0
CITIZEN = "+919876500002"
CONTENT_SID = "HX0123456789abcdef0123456789abcdef"
MESSAGING_SERVICE = "MG0123456789abcdef0123456789abcdef"


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def now(self) -> float:
        return self.t


def rig(**overrides: Any) -> tuple[TwilioSender, FakeTwilio, Clock]:
    clock = Clock()
    fake = FakeTwilio(keep_accepting=True, now=clock.now)
    options: dict[str, Any] = {
        "account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "api_base": API_BASE,
        "public_url": PUBLIC_URL, "sms_from": "+12025550143",
        "whatsapp_from": "whatsapp:+14155238886", **overrides}
    sender = TwilioSender(httpx.AsyncClient(transport=httpx.MockTransport(fake)), **options)
    return sender, fake, clock


def job(text: str, channel: str = "whatsapp", **fields: Any) -> OutboundJob:
    return OutboundJob(provider="twilio", channel=channel, to=CITIZEN,
                       message=outgoing_to_dict(Outgoing(text)), **fields)


async def test_the_message_sent_since_the_call_is_found_with_its_status() -> None:
    sender, fake, clock = rig()
    earlier = await sender.send(job("Your complaint is filed."))
    clock.t += 30
    ours = job("Your complaint is filed.")  # the same words again, 30 s later
    sent = await sender.send(ours)
    fake.log.mark_sent(sent.provider_message_id, "delivered")
    clock.t += 20
    found = await sender.find_sent(ours, T0 + 30)
    assert found is not None and found.provider_message_id == sent.provider_message_id
    assert found.provider_message_id != earlier.provider_message_id
    assert found.status == "delivered"
    [query] = fake.lookups
    assert (query["To"], query["From"]) == ("whatsapp:" + CITIZEN, "whatsapp:+14155238886")


async def test_nothing_like_it_since_the_call_means_not_sent() -> None:
    sender, _fake, clock = rig()
    await sender.send(job("Choose a language"))
    await sender.send(job("Something else", channel="sms"))  # another address
    clock.t += 60
    assert await sender.find_sent(job("Choose a language"), T0 + 60) is None
    # Another text to the same address since then is not ours either.
    await sender.send(job("Thank you"))
    assert await sender.find_sent(job("Choose a language"), T0 + 60) is None


async def test_a_medium_must_be_there_when_one_was_sent() -> None:
    sender, fake, _clock = rig()
    photo = Outgoing("Photo of the site", media=(
        Media(PUBLIC_URL + "/files/p.jpg?sig=a", "image/jpeg", "p.jpg"),))
    with_photo = OutboundJob(provider="twilio", channel="whatsapp", to=CITIZEN,
                             message=outgoing_to_dict(photo))
    assert await sender.find_sent(with_photo, T0) is None
    fake.log.accept({"To": "whatsapp:" + CITIZEN, "From": "whatsapp:+14155238886",
                     "Body": "Photo of the site"})  # the text alone: not ours
    assert await sender.find_sent(with_photo, T0) is None
    sent = await sender.send(with_photo)
    found = await sender.find_sent(with_photo, T0)
    assert found is not None and found.provider_message_id == sent.provider_message_id


async def test_templates_and_messaging_services_are_found_too() -> None:
    sender, fake, _clock = rig(whatsapp_from=MESSAGING_SERVICE)
    notice = job("", kind="complaint_update",
                 params={"template": CONTENT_SID, "1": "PG-1", "2": "resolved"})
    # Twilio lists a Content template's rendered text; the service picked the number.
    fake.log.accept({"To": "whatsapp:" + CITIZEN, "From": "whatsapp:+14155238886",
                     "Body": "Complaint PG-1 is now resolved."}, sid="SM" + "7" * 32)
    found = await sender.find_sent(notice, T0)
    assert found is not None and found.provider_message_id == "SM" + "7" * 32
    assert "From" not in fake.lookups[0]


async def test_pages_are_followed_back_to_the_call() -> None:
    sender, fake, clock = rig()
    ours = job("Your token is 42")
    sent = await sender.send(ours)
    for n in range(LOOKUP_PAGE_SIZE + 5):  # a busy person: ours is on the second page
        await sender.send(job(f"Update {n}"))
    clock.t += 5
    found = await sender.find_sent(ours, T0)
    assert found is not None and found.provider_message_id == sent.provider_message_id
    assert len(fake.lookups) == 2 and fake.lookups[1]["Page"] == "1"


async def test_twilio_down_is_retryable_and_credentials_refused_are_not() -> None:
    sender, fake, _clock = rig()
    fake.list_down = True
    with pytest.raises(SendError) as down:
        await sender.find_sent(job("Hi"), T0)
    assert down.value.retryable
    fake.list_down = False

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    cut_off = TwilioSender(httpx.AsyncClient(transport=httpx.MockTransport(unreachable)),
                           account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, api_base=API_BASE,
                           public_url=PUBLIC_URL, whatsapp_from="whatsapp:+14155238886")
    with pytest.raises(SendError) as cut:
        await cut_off.find_sent(job("Hi"), T0)
    assert cut.value.kind == SendErrorKind.CONNECTION and cut.value.retryable

    wrong = TwilioSender(httpx.AsyncClient(transport=httpx.MockTransport(
        lambda request: httpx.Response(401, json={"code": 20003, "status": 401}))),
        account_sid=ACCOUNT_SID, auth_token="wrong", api_base=API_BASE,
        public_url=PUBLIC_URL, whatsapp_from="whatsapp:+14155238886")
    with pytest.raises(SendError) as refused:
        await wrong.find_sent(job("Hi"), T0)
    assert not refused.value.retryable  # cannot tell: the worker sends once more


async def test_the_fake_list_honours_twilios_date_sent_filters() -> None:
    sender, fake, clock = rig()
    first = await sender.send(job("One"))
    fake.log.mark_sent(first.provider_message_id)
    clock.t += 2 * 86400
    await sender.send(job("Two"))  # still queued: no sent date
    page = fake.log.page({"To": "whatsapp:" + CITIZEN, "DateSent>": "2027-01-15"})
    assert [m["body"] for m in page["messages"]] == ["One"]
    assert fake.log.page({"DateSent<": "2027-01-14"})["messages"] == []
    everything = fake.log.page({"To": "whatsapp:" + CITIZEN, "PageSize": "1"})
    assert [m["body"] for m in everything["messages"]] == ["Two"]  # newest first
    assert everything["next_page_uri"].startswith(fake.log.path + "?")
    assert everything["messages"][0]["date_created"].endswith("+0000")
