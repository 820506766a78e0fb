"""The console channel: ``samvad chat`` in a terminal, rendering as SMS or WhatsApp text."""

from channels.console.chat import run_console

__all__ = ["run_console"]
