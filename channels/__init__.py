"""Provider adapters (Twilio, Meta WhatsApp Cloud, simulator, console), renderers, webhooks."""
