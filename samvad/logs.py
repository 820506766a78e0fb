"""Structured logs: one configuration for every process, phone numbers and secrets masked.

``configure_logging`` is called by ``create_app`` and the CLI. structlog events and the
standard library's records (uvicorn, httpx, SQLAlchemy) go through one formatter: JSON
lines in production, coloured console lines in development. Every record carries the
context bound with ``structlog.contextvars`` (``request_id`` per HTTP request,
``turn_id`` per chat turn) and passes ``redact`` last, so a phone number or a token
that slipped into a message, a URL or a traceback is masked before it is written::

    {"event": "message_sent", "to": "+91******0001", "turn_id": "7f3c...", ...}
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import IO, Any

import orjson
import structlog
from structlog.typing import EventDict, Processor

from core_api.phones import mask_phone

REDACTED = "[redacted]"

# Keys whose values are secrets or personal details, whatever their type.
_SECRET_KEY = re.compile(
    r"token|secret|passw|pwd|signature|authorization|api_?key|cookie|credential|private_key"
    r"|^sig$|^otp$", re.IGNORECASE)
_PERSONAL_KEY = frozenset({
    "name", "full_name", "citizen_name", "assignee_name", "user_name", "display_name",
    "father_name", "mother_name", "email", "address", "text", "body", "message_text",
    "caption", "description", "comment",
})
# Context keys that are ours and safe: never rewritten.
_KEEP = frozenset({"timestamp", "level", "logger", "request_id", "turn_id",
                   "_record", "_from_structlog"})

# key=value / "key": "value" pairs whose key names a secret (query strings, headers, JSON).
_SECRET_PAIR = re.compile(
    r"""(?ix)
    ( (?<![\w-]) [\w.-]*? (?:token|secret|passw\w*|signature|api_?key|authorization|sig|otp)
      ["']? \s* [=:] \s* ["']? )
    (?: (?:bearer|basic) \s+ )?
    [^\s&"',;}\]]+
    """)
# Paths whose last part is the permission itself: a payment page (/pay/<token>), a short
# link (/r/<code>), a certificate's or receipt's verify page (/verify/<code>,
# /receipts/verify/<code>). Signed /files/ links keep their key; their sig= goes above.
_SECRET_PATH = re.compile(r"(/(?:pay|r|verify)/)[^\s/?#&\"',;}\]]+")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[\w.~+/=-]{8,}")
_JWT = re.compile(r"\beyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]+")
# International numbers: +91 98765 00001, %2B919876500001, whatsapp:+919876500001.
_INTERNATIONAL = re.compile(r"(?<![\w])(?:\+|%2[Bb])(\d(?:[\s-]?\d){7,14})(?!\d)")
# Indian mobile numbers written without the +: 9876500001, 919876500001, 98765 00001.
_LOCAL = re.compile(r"(?<![\w+%.])(?:91|0)?([6-9]\d{4}[\s-]?\d{5})(?![\w])")
_DIGITS_RUN = re.compile(r"\d{5}")


def _mask_international(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(1))
    return mask_phone("+" + digits)


def _mask_local(match: re.Match[str]) -> str:
    return mask_phone("+91" + re.sub(r"\D", "", match.group(1)))


def mask_text(text: str) -> str:
    """``text`` with phone numbers masked and secret values (tokens, signatures) removed."""
    if ("=" in text or ":" in text) and _SECRET_PAIR.search(text):
        text = _SECRET_PAIR.sub(lambda m: m.group(1) + REDACTED, text)
    if "/" in text:
        text = _SECRET_PATH.sub(lambda m: m.group(1) + REDACTED, text)
    if "ey" in text:
        text = _JWT.sub(REDACTED, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    if _DIGITS_RUN.search(text) is None:  # the common case: nothing that can be a number
        return text
    text = _INTERNATIONAL.sub(_mask_international, text)
    return _LOCAL.sub(_mask_local, text)


def _clean(key: str, value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if _SECRET_KEY.search(key) or key.lower() in _PERSONAL_KEY:
        return REDACTED
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        return {k: _clean(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(key, v) for v in value]
    if isinstance(value, float):
        return value
    if isinstance(value, int):  # a number typed as an int: 919876500001
        if abs(value) < 1_000_000_000:
            return value
        masked = mask_text(str(value))
        return value if masked == str(value) else masked
    return mask_text(str(value))


def redact(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: mask phone numbers and drop secrets and personal fields."""
    for key, value in event_dict.items():
        if key not in _KEEP:
            event_dict[key] = _clean(key, value)
    return event_dict


def _orjson_dumps(data: Any, **_kw: Any) -> str:
    return orjson.dumps(data, default=str).decode()


def _formatter(json: bool) -> structlog.stdlib.ProcessorFormatter:
    renderer: Processor = (structlog.processors.JSONRenderer(serializer=_orjson_dumps) if json
                           else structlog.dev.ConsoleRenderer(colors=False))
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,  # tracebacks are text, so they are masked
            redact,
            renderer,
        ],
    )


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


class _Marked(logging.StreamHandler):
    """The handler configure_logging installs (so a second call replaces only it).

    Without an explicit stream it writes to whatever ``sys.stderr`` is at the time (pytest
    swaps it per test and closes the old one).
    """

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._fixed: IO[str] | None = stream
        super().__init__(stream)

    @property
    def stream(self) -> IO[str]:
        return self._fixed or sys.stderr

    @stream.setter
    def stream(self, value: IO[str] | None) -> None:
        self._fixed = value if value is not sys.stderr else None


def log_handler(stream: IO[str] | None = None, *, json: bool = True) -> logging.Handler:
    """A handler writing Samvad's format to ``stream`` (tests point it at a buffer)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(_formatter(json))
    return handler


_structlog_ready = False


def configure_logging(*, json: bool, level: str = "INFO", stream: IO[str] | None = None) -> None:
    """Send structlog and standard-library logs through one masked formatter.

    Idempotent: later calls replace the handler of the earlier one and leave other
    handlers (pytest's, for one) alone.
    """
    global _structlog_ready
    if not _structlog_ready:
        structlog.configure(
            processors=[
                structlog.stdlib.filter_by_level,
                *_shared_processors(),
                structlog.stdlib.PositionalArgumentsFormatter(),
                structlog.processors.StackInfoRenderer(),
                structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
            ],
            logger_factory=structlog.stdlib.LoggerFactory(),
            wrapper_class=structlog.stdlib.BoundLogger,
            # Not cached: a logger used before this call must still follow it.
            cache_logger_on_first_use=False,
        )
        _structlog_ready = True
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Marked)]:
        root.removeHandler(old)
    handler = _Marked(stream)
    handler.setFormatter(_formatter(json))
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Chatty libraries stay at WARNING unless DEBUG was asked for.
    quiet = logging.DEBUG if level.upper() == "DEBUG" else logging.WARNING
    for name in ("httpx", "httpcore", "aiosqlite", "asyncio", "multipart"):
        logging.getLogger(name).setLevel(quiet)
