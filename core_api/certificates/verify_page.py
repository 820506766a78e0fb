"""The public page a certificate's QR code opens: /verify/{code} (English and Hindi).

Anyone holding the certificate can check it is genuine; the page shows just enough to
compare with the paper (masked name), never the full record.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from core_api.certificates.models import Certificate, Registration
from core_api.certificates.records import mask_name
from core_api.certificates.verification import code_id, code_matches
from core_api.db import SessionDep
from core_api.documents import format_day, format_moment
from core_api.tenants.models import Tenant

router = APIRouter(tags=["verify"])

_HEADERS = {
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
}
_KIND = {"birth": ("Birth certificate", "जन्म प्रमाण पत्र"),
         "death": ("Death certificate", "मृत्यु प्रमाण पत्र")}
_STYLE = """
body{font-family:system-ui,"Noto Sans","Noto Sans Devanagari",sans-serif;margin:0;
background:#f4f6f8;color:#141414}
main{max-width:34rem;margin:2rem auto;background:#fff;border-radius:8px;padding:1.5rem 2rem;
box-shadow:0 1px 4px rgba(0,0,0,.12)}
h1{font-size:1.4rem;margin:.2rem 0 1rem}
.ok{color:#17692f}.bad{color:#a21c1c}
dl{display:grid;grid-template-columns:auto 1fr;gap:.45rem 1rem;margin:0}
dt{color:#5f5f5f}dd{margin:0;font-weight:600}
p.note{color:#5f5f5f;font-size:.9rem;margin-top:1.4rem}
"""


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def _not_found() -> HTMLResponse:
    body = (
        "<h1 class=\"bad\">✗ Not genuine / not found<br>"
        "<span lang=\"hi\">✗ असली नहीं / नहीं मिला</span></h1>"
        "<p>No certificate issued through Samvad matches this code. Check that the whole "
        "link was scanned or typed, or ask the issuing municipal body.</p>"
        "<p lang=\"hi\">इस कोड से मेल खाता कोई प्रमाण पत्र नहीं मिला। जाँचें कि पूरा लिंक "
        "स्कैन या टाइप किया गया है, या जारी करने वाले नगर निकाय से संपर्क करें।</p>"
    )
    return HTMLResponse(_page("Not genuine / not found", body), status_code=404,
                        headers=_HEADERS)


def _row(label_en: str, label_hi: str, value: str | None) -> str:
    if not value:
        return ""
    return (f"<dt>{escape(label_en)} / <span lang=\"hi\">{escape(label_hi)}</span></dt>"
            f"<dd>{escape(value)}</dd>")


@router.get("/verify/{code}", response_class=HTMLResponse,
            summary="Public check that a certificate is genuine (HTML)")
async def verify_certificate(code: str, request: Request, session: SessionDep) -> HTMLResponse:
    """Genuine: the certificate's number, kind, masked name, dates and issuing ULB.
    Unknown or altered codes answer 404."""
    certificate_id = code_id(code)
    if certificate_id is None:
        return _not_found()
    found = (await session.execute(
        select(Certificate, Registration, Tenant)
        .join(Registration, Registration.id == Certificate.registration_id)
        .join(Tenant, Tenant.code == Certificate.tenant_code)
        .where(Certificate.id == certificate_id)
    )).first()
    secret = request.app.state.settings.secret_key
    if found is None or not code_matches(secret, code, certificate_id,
                                         found[0].certificate_number):
        return _not_found()
    certificate, record, tenant = found
    kind_en, kind_hi = _KIND[certificate.kind]
    name = " / ".join(n for n in (mask_name(record.name_en), mask_name(record.name_hi)) if n)
    rows = "".join((
        _row("Certificate No.", "प्रमाण पत्र संख्या", certificate.certificate_number),
        _row("Certificate", "प्रमाण पत्र", f"{kind_en} / {kind_hi}"),
        _row("Name", "नाम", name),
        _row(f"Date of {certificate.kind}", f"{kind_hi} तिथि", format_day(record.event_date)),
        _row("Issued by", "जारीकर्ता", f"{tenant.name_en} / {tenant.name_hi}"),
        _row("Issued on", "जारी करने की तिथि", format_moment(certificate.issued_at)),
    ))
    body = (
        "<h1 class=\"ok\">✓ Genuine certificate<br>"
        "<span lang=\"hi\">✓ असली प्रमाण पत्र</span></h1>"
        f"<dl>{rows}</dl>"
        "<p class=\"note\">Compare these details with the paper. Names are partly hidden "
        "for privacy.<br><span lang=\"hi\">इन विवरणों का काग़ज़ से मिलान करें। गोपनीयता "
        "के लिए नाम आंशिक रूप से छिपाए गए हैं।</span></p>"
    )
    return HTMLResponse(_page(f"Genuine: {certificate.certificate_number}", body),
                        headers=_HEADERS)
