"""``GET /r/{code}``: where a short link from an SMS lands (no login: the code is the key).

- a receipt or certificate: 303 to a freshly signed ``/files/...`` URL (one hour);
- a payment: 303 to the bill's ``/pay/<token>`` page (UPI app button and gateway);
- a complaint: the public status page, rendered here (number, type, status, dates and the
  public staff note, redacted; never a name, phone number, address or description);
- expired: 410, a small page in English, Hindi, Punjabi and Odia; unknown: 404, the same
  kind of page. Both look alike to a stranger and cost one database read.

An address that misses ``MISSES_PER_HOUR`` times is answered 429 for the rest of the hour:
codes are random, and walking them should not be cheap either.
"""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from core_api.complaints.models import Complaint, ComplaintType
from core_api.complaints.service import ANSWERED_STATES, PGR
from core_api.db import SessionDep, utcnow
from core_api.documents import format_moment
from core_api.links.models import ShortLink
from core_api.links.service import COMPLAINT_PREFIX, find, redirect_location
from core_api.open311.service import NOTE_CLEARING_ACTIONS, PUBLIC_NOTE_ACTIONS, public_note
from core_api.privacy.redact import redact
from core_api.tenants.models import Tenant
from core_api.users.models import User
from core_api.workflow.models import ProcessHistory, ProcessInstance

router = APIRouter(tags=["short links"])

MISSES_PER_HOUR = 30
_MISS_KEY = "samvad:links:miss:"
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "frame-ancestors 'none'; base-uri 'none'",
}
_CSS = """
body{font-family:system-ui,"Noto Sans","Noto Sans Devanagari","Noto Sans Gurmukhi",
"Noto Sans Oriya",sans-serif;margin:0;background:#f3f5f8;color:#141414}
main{max-width:30rem;margin:1.5rem auto;background:#fff;border-radius:.6rem;
padding:1.2rem 1.4rem;box-shadow:0 1px 4px #0002}
h1{font-size:1.3rem;margin:.2rem 0 .8rem}p{margin:.4rem 0}.muted{color:#5f5f5f;font-size:.9rem}
dl{display:grid;grid-template-columns:auto 1fr;gap:.45rem 1rem;margin:.8rem 0}
dt{color:#5f5f5f}dd{margin:0;font-weight:600}
.box{padding:.7rem .9rem;border-radius:.4rem;margin:.8rem 0;background:#eef3fb}
"""
# (en, hi, pa, or): a stranger's phone may show any of them; one page says it in all four.
_EXPIRED = ("This link has expired. Ask for a new one in the chat.",
            "यह लिंक समाप्त हो गया है। चैट में नया लिंक माँगें।",
            "ਇਹ ਲਿੰਕ ਦੀ ਮਿਆਦ ਖਤਮ ਹੋ ਗਈ ਹੈ। ਚੈਟ ਵਿੱਚ ਨਵਾਂ ਲਿੰਕ ਮੰਗੋ।",
            "ଏହି ଲିଙ୍କର ସମୟସୀମା ସରିଯାଇଛି। ଚାଟ୍‌ରେ ନୂଆ ଲିଙ୍କ ମାଗନ୍ତୁ।")
_UNKNOWN = ("This link is not valid. Check that the whole link was opened.",
            "यह लिंक मान्य नहीं है। जाँचें कि पूरा लिंक खोला गया है।",
            "ਇਹ ਲਿੰਕ ਸਹੀ ਨਹੀਂ ਹੈ। ਜਾਂਚੋ ਕਿ ਪੂਰਾ ਲਿੰਕ ਖੋਲ੍ਹਿਆ ਗਿਆ ਹੈ।",
            "ଏହି ଲିଙ୍କ ବୈଧ ନୁହେଁ। ପୂରା ଲିଙ୍କ ଖୋଲାଯାଇଛି କି ନାହିଁ ଦେଖନ୍ତୁ।")
_TOO_MANY = ("Too many invalid links from this connection. Try again in an hour.",
             "इस कनेक्शन से बहुत सारे अमान्य लिंक खोले गए। एक घंटे बाद फिर कोशिश करें।",
             "ਇਸ ਕਨੈਕਸ਼ਨ ਤੋਂ ਬਹੁਤ ਸਾਰੇ ਗਲਤ ਲਿੰਕ ਖੋਲ੍ਹੇ ਗਏ। ਇੱਕ ਘੰਟੇ ਬਾਅਦ ਫਿਰ ਕੋਸ਼ਿਸ਼ ਕਰੋ।",
             "ଏହି ସଂଯୋଗରୁ ଅନେକ ଅବୈଧ ଲିଙ୍କ ଖୋଲାଗଲା। ଏକ ଘଣ୍ଟା ପରେ ପୁଣି ଚେଷ୍ଟା କରନ୍ତୁ।")
_LANGS = ("en", "hi", "pa", "or")
# The citizen's words for the workflow states, as in the chat (track_complaint.status.*).
_STATUS = {
    "PENDINGFORASSIGNMENT": ("Received", "प्राप्त हुई"),
    "PENDINGATLME": ("Assigned to staff", "कर्मचारी को सौंपी गई"),
    "PENDINGFORREASSIGNMENT": ("Being reassigned", "दोबारा सौंपी जा रही है"),
    "RESOLVED": ("Resolved", "हल हो गई"),
    "REJECTED": ("Rejected", "अस्वीकार की गई"),
    "CLOSEDAFTERRESOLUTION": ("Closed", "बंद"),
    "CLOSEDAFTERREJECTION": ("Closed", "बंद"),
}


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )
    return HTMLResponse(html, status_code=status, headers=_HEADERS)


def _in_every_language(title: str, sentences: tuple[str, ...], status: int) -> HTMLResponse:
    body = "".join(f'<p lang="{lang}">{escape(text)}</p>'
                   for lang, text in zip(_LANGS, sentences, strict=True))
    return _page(title, body, status)


def _client(request: Request) -> str:
    return request.client.host if request.client else "-"


async def _throttled(request: Request) -> bool:
    count = await request.app.state.redis.get(_MISS_KEY + _client(request))
    return count is not None and int(count) >= MISSES_PER_HOUR


async def _missed(request: Request) -> HTMLResponse:
    """Count a miss against the address; the plain 404 page."""
    redis, key = request.app.state.redis, _MISS_KEY + _client(request)
    if await redis.incr(key) == 1:
        await redis.expire(key, 3600)
    return _in_every_language("Link not valid", _UNKNOWN, 404)


@router.get("/r/{code}", response_class=HTMLResponse, summary="Open a short link",
            responses={303: {"description": "to the receipt, certificate or payment page"},
                       404: {"description": "no such link"}, 410: {"description": "expired"},
                       429: {"description": "too many invalid links from this address"}})
async def open_short_link(code: str, request: Request, session: SessionDep) -> Response:
    if await _throttled(request):
        return _in_every_language("Too many invalid links", _TOO_MANY, 429)
    link = await find(session, code)
    if link is None:
        return await _missed(request)
    if link.expires_at <= utcnow():
        return _in_every_language("Link expired", _EXPIRED, 410)
    location = redirect_location(link, request.app.state.settings.secret_key)
    if location is not None:
        return RedirectResponse(location, status_code=303, headers=_HEADERS)
    page = await _complaint_page(session, link)
    return page if page is not None else await _missed(request)


async def _complaint_page(session: Any, link: ShortLink) -> HTMLResponse | None:
    """The public status of the complaint a link names (None: not a complaint link, or
    the complaint is gone)."""
    if not link.target.startswith(COMPLAINT_PREFIX):
        return None
    number = link.target.removeprefix(COMPLAINT_PREFIX)
    row = (await session.execute(
        select(Complaint, ComplaintType, Tenant, User.name)
        .join(ComplaintType, ComplaintType.code == Complaint.type_code)
        .join(Tenant, Tenant.code == Complaint.tenant_code)
        .join(User, User.id == Complaint.citizen_user_id)
        .where(Complaint.complaint_no == number)
    )).first()
    if row is None:
        return None
    complaint, complaint_type, tenant, complainant = row
    note = redact(await _public_note(session, number), [complainant])
    return _page(f"Complaint {number} / शिकायत", _complaint_body(
        complaint, complaint_type, tenant, note))


async def _public_note(session: Any, number: str) -> str | None:
    """The staff note meant for the public (the last RESOLVE or REJECT comment, withdrawn
    by a REOPEN), as Open311 shows it; routing notes and the citizen's words never."""
    rows = await session.execute(
        select(ProcessHistory.action, ProcessHistory.comment)
        .join(ProcessInstance, ProcessInstance.id == ProcessHistory.process_id)
        .where(ProcessInstance.business_service == PGR, ProcessInstance.business_id == number,
               ProcessHistory.action.in_(PUBLIC_NOTE_ACTIONS | NOTE_CLEARING_ACTIONS))
        .order_by(ProcessHistory.id))
    return public_note(rows.all())


def _row(label_en: str, label_hi: str, value: str | None) -> str:
    if not value:
        return ""
    return (f'<dt>{escape(label_en)} / <span lang="hi">{escape(label_hi)}</span></dt>'
            f"<dd>{escape(value)}</dd>")


def _complaint_body(complaint: Complaint, complaint_type: ComplaintType, tenant: Tenant,
                    note: str | None) -> str:
    status_en, status_hi = _STATUS.get(complaint.status, (complaint.status, complaint.status))
    answered = complaint.status in ANSWERED_STATES
    rows = "".join((
        _row("Complaint No.", "शिकायत संख्या", complaint.complaint_no),
        _row("Type", "प्रकार", f"{complaint_type.name_en} / {complaint_type.name_hi}"),
        _row("Status", "स्थिति", f"{status_en} / {status_hi}"),
        _row("Filed on", "दर्ज", format_moment(complaint.created_at)),
        _row("Last update", "पिछला बदलाव", format_moment(complaint.updated_at)),
        _row("Resolved on", "हल हुई", format_moment(complaint.resolved_at)
             if answered and complaint.resolved_at else None),
        _row("Expected by", "अपेक्षित समय", None if answered
             else format_moment(complaint.sla_due_at)),
    ))
    body = (f'<p class="muted">{escape(tenant.name_en)} / {escape(tenant.name_hi)}</p>'
            f'<h1>Complaint status / <span lang="hi">शिकायत की स्थिति</span></h1><dl>{rows}</dl>')
    if note:
        body += ('<div class="box"><strong>Note from the city / नगर निकाय की टिप्पणी</strong>'
                 f"<br>{escape(note)}</div>")
    return body
