"""The delivery policy: the channel, provider and sender number of each notification.

Written once, used for every notification (``bot.notifier.Notifier._deliver`` asks it;
the SMS fallback asks it for the SMS route). Rules, in order:

1. ``case_channel``: the channel the case began on (the complaint filed, the bill paid,
   the certificate requested over SMS -> SMS), when that channel is configured;
2. ``last_active``: the channel the person last wrote on (``ContactWindows.contacts``;
   without that record, a WhatsApp conversation in the session store, as the simulator
   and people from before the record have);
3. ``default_sms``: SMS, or WhatsApp when only WhatsApp is configured.

On the chosen channel the notification goes through the provider the person last used
there, from the number they wrote to (a Twilio WhatsApp citizen never gets a Meta message
from another business number), else the channel's configured provider. Whether WhatsApp
goes free-form or as a template, and the SMS fallback, are decided at sending
(``SendWorker``, ``SmsFallback``). Opt-out is checked before (``Notifier._deliver``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from redis.asyncio import Redis

from bot.channel_kinds import channel_kinds
from bot.notifier import Notification, Route
from bot.session_store import SessionStore, conversation_key
from channels.queues._windows import Contact, ContactWindows

SIMULATOR = "simulator"


class DeliveryPolicy:
    """Routes notifications; ``providers`` maps channel -> configured provider, ``senders``
    names the providers that can send now (a recorded provider without one is skipped)."""

    def __init__(self, contacts: ContactWindows, providers: Mapping[str, str], *,
                 sessions: SessionStore | None = None,
                 senders: Collection[str] | None = None) -> None:
        self.contacts = contacts
        self.providers = dict(providers)
        self.sessions = sessions
        self.senders = senders

    @property
    def configured(self) -> tuple[str, ...]:
        """Channels with a real provider; every channel when none has (development)."""
        kinds = channel_kinds()
        real = tuple(c for c in kinds if self.providers.get(c, SIMULATOR) != SIMULATOR)
        return real or tuple(c for c in kinds if c in self.providers)

    async def route(self, notification: Notification) -> Route:
        """Where ``notification`` goes and the rule that chose it."""
        phone = notification.phone
        contacts = await self.contacts.contacts(phone)
        configured = self.configured
        if notification.case_channel in configured:
            return self._through(notification.case_channel, "case_channel", contacts)
        used = [c for c in contacts.values() if c.channel in configured]
        if used:
            latest = max(used, key=lambda contact: contact.at)
            return self._through(latest.channel, "last_active", contacts)
        if "whatsapp" in configured and await self._whatsapp_session(phone):
            return self._through("whatsapp", "last_active", contacts)
        default = "sms" if "sms" in configured else "whatsapp"
        return self._through(default, "default_sms", contacts)

    async def on(self, channel: str, phone: str, rule: str) -> Route | None:
        """The route on ``channel`` (the SMS fallback); None when it is not configured."""
        if channel not in self.configured:
            return None
        return self._through(channel, rule, await self.contacts.contacts(phone))

    def _through(self, channel: str, rule: str, contacts: Mapping[str, Contact]) -> Route:
        contact = contacts.get(channel)
        if contact is not None and (self.senders is None or contact.provider in self.senders):
            return Route(channel, rule, contact.provider, contact.sender)
        return Route(channel, rule, self.providers.get(channel, SIMULATOR), None)

    async def _whatsapp_session(self, phone: str) -> bool:
        if self.sessions is None:
            return False
        key = self.sessions.keys(conversation_key("whatsapp", phone)).session
        return bool(await self.contacts.redis.exists(key))


def simulator_delivery(redis: Redis, sessions: SessionStore | None = None) -> DeliveryPolicy:
    """The delivery policy with every channel kind on the simulator: development and tests
    without providers (``samvad.channels`` builds the configured one)."""
    return DeliveryPolicy(ContactWindows(redis), dict.fromkeys(channel_kinds(), SIMULATOR),
                          sessions=sessions)
