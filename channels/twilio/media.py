"""Where Twilio keeps the photos people send: a ``MediaUrl`` of an inbound message points
at the Messages API (``TWILIO_API_BASE``, answered with HTTP basic auth: the account SID
and auth token), which redirects to these CDN hosts. ``samvad.media`` allows them in the
bot's photo fetcher."""

MEDIA_HOSTS = ("api.twilio.com", "media.twiliocdn.com", "mms.twiliocdn.com")
