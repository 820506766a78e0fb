"""Queues between the providers and the dialog: inbound turns and outbound sending.

Webhooks (``channels/<provider>/``) verify and parse a request, then::

    services = channels_of(request.app)
    # One script (dedupe by message id, flood limit, queue; the doorbell on one server).
    admission = await services.inbound.admit(inbound, "twilio", seen_key=seen,
                                             seen_ttl_s=SEEN_TTL_S, per_minute=limit)
    await services.statuses.update("twilio", sid, "delivered")  # a status callback

``InboundWorker`` runs the turns and queues each reply as an ``OutboundJob``
``<message_id>:<index>`` (on one Redis server it sends them itself when their mailbox is
free: a menu turn costs 6 Redis round trips from webhook to delivery record, each
mailbox step one script); ``NotificationSink`` queues notifications on the route the
``DeliveryPolicy`` chose (case channel, last active channel, SMS), SMS fitted to 3
segments with a short link; ``SmsFallback`` sends a failed WhatsApp notification as SMS
once; ``MessageCosts`` estimates what each message costs. ``SendWorker``
delivers jobs through the ``Sender`` of the job's provider: rate limited per sender number,
retried with backoff, WhatsApp templates outside the 24-hour window (``template_of(job)``),
DLT ids on Indian SMS. ``OverloadWatch`` tells a person whose message waited past
``SAMVAD_BUSY_AFTER_S`` that it is queued, once (``_overload``). ``samvad worker`` (or
``samvad serve`` in embedded mode) runs them.

Guarantees, and where they end:

- Order. Each person (channel + number) has one mailbox per direction; one worker at a
  time works through it head first (``_mailboxes``), whichever worker reads the doorbell.
  So a person's messages are handled, and their replies and notifications sent, in the
  order they reached Redis — also across workers and across retries: a job waiting for its
  retry holds back that person's later jobs (and no one else's). Two webhooks of one
  person arriving at the same instant at two web processes reach Redis in either order.
- Admission, atomic: a webhook answers 200 only after ``admit`` ran, and ``admit`` claims
  the provider's message id and queues the message in one Lua script (the person's keys,
  one Redis Cluster slot), and rings the doorbell (in the script on one server, right
  after it on a cluster); a web process killed at any point has
  either queued the message or left its id for the retry, and a retry answered
  "duplicate" rings again (a process killed before its ring loses nothing).
- Inbound, at least once: a message leaves its mailbox only after its turn ran and its
  replies were queued; the session store's dedupe keeps a repeated message id (provider
  retry, a worker that died mid-turn) from running a second turn. The commit keeps the
  turn's replies beside its ``done`` mark (an hour), so a worker dying between the commit
  and queuing them leaves the message in the mailbox and the next worker queues the kept
  replies again (same job ids: nothing sent twice). A turn failing 5 times (Redis down, a
  bug) is dropped and logged.
- Outbound, once per job id, nothing dropped: the job state goes ``sending:<time>``
  before the provider is called and ``sent:<provider id>`` after. A job found
  ``sending`` (its worker died, or stalled past its lease, mid-call) or whose answer was
  lost (``SendError(CONNECTION, AMBIGUOUS)``, a read timeout) is resolved once the call
  has surely ended: Twilio is asked (its message list) and the job is settled sent or
  sent again; Meta cannot tell, so the job is sent once more and counted in
  ``samvad_send_possible_duplicates_total``. Never more than two sends of a job through
  unknown outcomes (``_sending``). Other retryable errors are taken to mean "not sent"
  and retried. Job states are kept 7 days: the same job id queued again is skipped.
- SMS fallback, at most once per notification: a claim key per WhatsApp job id
  (``samvad:fallback:<job_id>``, SET NX) and the derived job id ``<job_id>:sms``; a
  failure callback that overtakes the worker's note of the provider message id (written
  right after the provider answers) is recorded but does not fall back.
- Rate: a shared token bucket per sender number (``SAMVAD_SEND_RATE`` per second,
  ``SAMVAD_SEND_BURST``), correct across workers whose clocks agree within milliseconds.
- A dead worker's mailbox is taken over when its lock lease (``SAMVAD_MAILBOX_LEASE_S``,
  5 s, renewed every third of it by the draining worker's heartbeat) runs out, through
  its unacknowledged doorbell (reclaimed after one lease idle) or the ring scheduled by
  whoever found the mailbox locked.
"""

from channels.queues._clock import Clock, SystemClock
from channels.queues._costs import Estimate, MessageCosts
from channels.queues._fallback import SmsFallback
from channels.queues._inbound import (
    Admission,
    InboundQueue,
    InboundWorker,
    record_flood,
    reply_jobs,
)
from channels.queues._mailboxes import Mailboxes, QueueKeys, queue_keys
from channels.queues._notifications import (
    NotificationJobs,
    NotificationSink,
    notification_job,
)
from channels.queues._outbound import OutboundQueue, OutboxItem, recipient_key
from channels.queues._overload import OverloadWatch, queue_age
from channels.queues._personal_keys import channel_keys
from channels.queues._policy import DeliveryPolicy, simulator_delivery
from channels.queues._ratelimit import RateLimiter
from channels.queues._sending import AMBIGUOUS, JobStates, SendPolicy, SendWorker
from channels.queues._services import ChannelServices, channels_of
from channels.queues._status import STATUSES, DeliveryReports, MessageStatusStore, Status
from channels.queues._templates import (
    DLT_TEMPLATE_ID,
    OUTSIDE_WINDOW_CODES,
    SMS_FALLBACK_CODES,
    Template,
    TemplateBook,
    default_whatsapp_templates,
    template_of,
    whatsapp_templates,
    with_template,
)
from channels.queues._windows import Contact, ContactWindows

__all__ = [
    "AMBIGUOUS",
    "DLT_TEMPLATE_ID",
    "OUTSIDE_WINDOW_CODES",
    "SMS_FALLBACK_CODES",
    "STATUSES",
    "Admission",
    "ChannelServices",
    "Clock",
    "Contact",
    "ContactWindows",
    "DeliveryPolicy",
    "DeliveryReports",
    "Estimate",
    "InboundQueue",
    "InboundWorker",
    "JobStates",
    "Mailboxes",
    "MessageCosts",
    "MessageStatusStore",
    "NotificationJobs",
    "NotificationSink",
    "OutboundQueue",
    "OutboxItem",
    "OverloadWatch",
    "QueueKeys",
    "RateLimiter",
    "SendPolicy",
    "SendWorker",
    "SmsFallback",
    "Status",
    "SystemClock",
    "Template",
    "TemplateBook",
    "channel_keys",
    "channels_of",
    "default_whatsapp_templates",
    "notification_job",
    "queue_age",
    "queue_keys",
    "recipient_key",
    "record_flood",
    "reply_jobs",
    "simulator_delivery",
    "template_of",
    "whatsapp_templates",
    "with_template",
]
