"""Every pushed SMS fits 3 segments in every locale: ``fit_sms`` and the notification jobs
(long comments, long names, a short link instead of the receipt or certificate PDF)."""

from __future__ import annotations

import pytest

from bot.i18n import available_locales, placeholders, translate
from bot.messages import Media, Outgoing
from bot.notifier import NOTIFICATION_KINDS, Notification, Route, notifications_for
from channels.queues import NotificationJobs
from channels.render import fit_sms, render_sms, sms_segments
from tests.channels.delivery_fakes import FakeLinks
from tests.event_examples import example

LINK = "https://city.example/r/Ab3dE9xZ"
PHONE = "+919876500001"
# Realistic long values: an LME's 390-character note, long names and numbers.
COMMENTS = {
    "en_IN": ("The streetlight pole near the temple gate had a burnt cable; the line was "
              "replaced, the pole earthed again and the two lamps on either side were "
              "changed as well. ") * 3,
    "hi_IN": "मंदिर के गेट के पास खंभे की तार जल गई थी, नई तार लगाई गई, खंभे की अर्थिंग "
             "दोबारा की गई और दोनों तरफ़ के बल्ब भी बदल दिए गए। " * 4,
    "pa_IN": "ਮੰਦਰ ਦੇ ਗੇਟ ਕੋਲ ਖੰਭੇ ਦੀ ਤਾਰ ਸੜ ਗਈ ਸੀ, ਨਵੀਂ ਤਾਰ ਲਗਾਈ ਗਈ ਅਤੇ ਦੋਵੇਂ ਪਾਸੇ ਦੇ ਬੱਲਬ "
             "ਵੀ ਬਦਲ ਦਿੱਤੇ ਗਏ। " * 5,
    "or_IN": "ମନ୍ଦିର ଫାଟକ ପାଖରେ ଖୁଣ୍ଟର ତାର ପୋଡ଼ି ଯାଇଥିଲା, ନୂଆ ତାର ଲଗାଗଲା ଏବଂ ଦୁଇ ପାଖର "
             "ବଲ୍ବ ମଧ୍ୟ ବଦଳାଗଲା। " * 5,
}
LONG_VALUES = {
    "id": "PG-UK-DDN-2026-000123", "number": "BND-DDN-2026-000456",
    "bill": "BILL-DDN-2026-000789", "receipt": "RCPT-DDN-2026-000789",
    "amount": "₹1,23,456.50", "assignee": "Venkata Satya Narayana Murthy Chakravarthy",
    "name": "Venkata Satya Narayana Murthy Chakravarthy", "due": "28 Nov 2026, 11:30 pm",
    "category": "Streetlight not working / damaged pole", "level": "Executive Officer",
    "locality": "Rajpur Road, near Clock Tower, Ward 14 (Dehradun)",
}
LOCALES = available_locales()


def _comment(locale: str) -> str:
    return COMMENTS.get(locale, COMMENTS["en_IN"])[:390]


def _filled(locale: str, msgid: str) -> str:
    text = translate(locale, msgid)
    values = {name: LONG_VALUES.get(name, _comment(locale) if name in ("comment", "reason")
                                    else "X" * 40)
              for name in placeholders(text)}
    for name, value in values.items():
        text = text.replace("{" + name + "}", str(value))
    return text


def test_fit_sms_keeps_short_text_and_the_link_last():
    assert fit_sms("Receipt RCPT-1 is ready.", LINK) == f"Receipt RCPT-1 is ready.\n{LINK}"
    english = fit_sms("Resolved: " + "the cable was replaced " * 40, LINK,
                      rest=["1. Yes, fixed", "2. No, still broken"])
    assert english.endswith(f"...\n1. Yes, fixed\n2. No, still broken\n{LINK}")
    assert sms_segments(english).encoding == "GSM-7"  # no "…" forcing UCS-2
    assert sms_segments(english).segments == 3
    hindi = fit_sms(COMMENTS["hi_IN"], LINK, max_segments=2)
    assert hindi.endswith(f"…\n{LINK}") and sms_segments(hindi).segments == 2


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", sorted(NOTIFICATION_KINDS))
async def test_every_notification_message_fits_three_segments(kind: str, locale: str):
    jobs = NotificationJobs(FakeLinks())
    for msgid in NOTIFICATION_KINDS[kind]:
        message = Outgoing(_filled(locale, msgid), media=(
            Media("https://samvad.example.in/files/receipt.pdf?exp=1&sig=" + "f" * 64,
                  "application/pdf", "receipt.pdf"),))
        notification = Notification(PHONE, locale, kind, message, "ev-1",
                                    details=("complaint", LONG_VALUES["id"]))
        job = await jobs.sms(notification, Route("sms", "case_channel"), "twilio")
        body = render_sms(job.outgoing)
        assert sms_segments(body).segments <= 3, (kind, locale, msgid, body)
        assert body.endswith("\nhttps://city.example/r/" + body[-8:])
        assert job.outgoing.media == ()  # the PDF is behind the short link


@pytest.mark.parametrize("locale", LOCALES)
async def test_a_resolved_complaint_with_a_long_note_fits_with_its_answers(locale: str):
    event = example("complaint.status_changed", complaint_id=LONG_VALUES["id"],
                    status="RESOLVED", action="RESOLVE", citizen_phone=PHONE,
                    citizen_locale=locale, comment=_comment(locale), channel="sms",
                    assignee_phone=None, gros=[],
                    photo_urls=["https://samvad.example.in/files/p.jpg?sig=" + "a" * 80])
    [resolved] = [n for n in notifications_for("ev-2", "complaint.status_changed", event)
                  if n.phone == PHONE]
    links = FakeLinks()
    job = await NotificationJobs(links).sms(resolved, Route("sms", "case_channel"), "twilio")
    body = render_sms(job.outgoing)
    assert sms_segments(body).segments <= 3, body
    assert links.asked == [("complaint", LONG_VALUES["id"], PHONE)]
    assert LONG_VALUES["id"] in body
    for option in resolved.message.options:  # "reply 1 / 2" survives the shortening
        assert option.label in body
