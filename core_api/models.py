"""Imports every table so that metadata (Alembic, tests) sees the whole schema."""

from core_api.bills.models import Bill, BillingSequence, BillLine
from core_api.certificates.models import (
    Certificate,
    CertificateCounter,
    CertificateRequest,
    Registration,
)
from core_api.complaints.models import (
    Complaint,
    ComplaintCategory,
    ComplaintCounter,
    ComplaintPhoto,
    ComplaintType,
    Department,
)
from core_api.dashboard.models import ChatActivity
from core_api.db import Base
from core_api.events.models import OutboxEvent
from core_api.links.models import ShortLink
from core_api.messaging.models import ChannelMessage
from core_api.payments.models import Payment, PaymentCallback, PaymentIntent, Receipt
from core_api.tenants.models import Boundary, Tenant
from core_api.users.models import User, UserRole
from core_api.workflow.models import BusinessService, ProcessHistory, ProcessInstance

__all__ = [
    "Base",
    "Bill",
    "BillLine",
    "BillingSequence",
    "Boundary",
    "BusinessService",
    "Certificate",
    "CertificateCounter",
    "CertificateRequest",
    "ChannelMessage",
    "ChatActivity",
    "Complaint",
    "ComplaintCategory",
    "ComplaintCounter",
    "ComplaintPhoto",
    "ComplaintType",
    "Department",
    "OutboxEvent",
    "Payment",
    "PaymentCallback",
    "PaymentIntent",
    "ProcessHistory",
    "ProcessInstance",
    "Receipt",
    "Registration",
    "ShortLink",
    "Tenant",
    "User",
    "UserRole",
]
