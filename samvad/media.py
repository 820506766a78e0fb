"""Where the photos people send may come from: the bot's ``MediaPolicy``, put together from
what each provider in ``channels/`` declares (the bot knows no provider).

Allowed hosts: Twilio's (``channels.twilio.media.MEDIA_HOSTS`` and the host of
``TWILIO_API_BASE``), Meta's download hosts (``channels.meta_whatsapp.MEDIA_HOSTS`` and the
host of ``WHATSAPP_API_BASE``), ``/files/`` on ``SAMVAD_PUBLIC_URL``, and any
``SAMVAD_MEDIA_HOSTS`` (``host`` or ``host:port``, e.g. a local fake in tests). Twilio's
account SID and auth token go to the origin of ``TWILIO_API_BASE`` only; Meta's
``meta-media:<id>`` references are resolved through the Graph API (``WHATSAPP_*``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from bot.media import MediaPolicy, origin
from channels.meta_whatsapp import MEDIA_HOSTS as META_MEDIA_HOSTS
from channels.meta_whatsapp import MetaMediaSource
from channels.twilio.media import MEDIA_HOSTS as TWILIO_MEDIA_HOSTS
from samvad.settings import Settings


def _host(url: str) -> str:
    return urlsplit(url).netloc.lower()


def media_policy(settings: Settings) -> MediaPolicy:
    """The photo fetcher's policy for these settings (see the module docstring)."""
    extra = {h.strip().lower() for h in settings.media_hosts.split(",") if h.strip()}
    hosts = {*TWILIO_MEDIA_HOSTS, *META_MEDIA_HOSTS, *extra,
             _host(settings.twilio_api_base), _host(settings.whatsapp_api_base)}
    auth = {}
    if settings.twilio_account_sid and settings.twilio_auth_token:
        auth[origin(settings.twilio_api_base)] = (settings.twilio_account_sid,
                                                  settings.twilio_auth_token)
    return MediaPolicy(frozenset(hosts), origin(settings.public_url), auth,
                       (MetaMediaSource.from_settings(settings),))
