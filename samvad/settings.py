"""All configuration in one place, read from the environment (SPEC §3 names).

Embedded mode (no SAMVAD_DATABASE_URL and no SAMVAD_REDIS_URL) runs everything in
one process on a SQLite file and an embedded Redis under ``var/``. Anything else is
production: there a placeholder secret key is refused.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import DirectoryPath, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRET = "dev-only-insecure-placeholder-change-me"  # noqa: S105 - the known-insecure default we refuse
MIN_SECRET_LENGTH = 32


class ConfigurationError(RuntimeError):
    """The environment describes a configuration Samvad refuses to start with."""


class Settings(BaseSettings):
    """Samvad settings; every field maps to an environment variable."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", populate_by_name=True)

    host: str = Field("127.0.0.1", alias="SAMVAD_HOST")
    port: int = Field(8000, alias="SAMVAD_PORT")
    # Development mode serves on loopback only (SPEC §9): `samvad serve` refuses any other
    # SAMVAD_HOST unless this (or `--i-know-this-is-development`) says it is meant.
    allow_public_development: bool = Field(False, alias="SAMVAD_ALLOW_PUBLIC_DEVELOPMENT")
    database_url: str | None = Field(None, alias="SAMVAD_DATABASE_URL")
    # PostgreSQL connections each process may hold: the pool, and the extra ones it opens
    # under load (closed again when returned). Count them per process against the server's
    # max_connections (README "Operations"), or put PgBouncer in between.
    db_pool_size: int = Field(10, ge=1, le=200, alias="SAMVAD_DB_POOL_SIZE")
    db_max_overflow: int = Field(20, ge=0, le=500, alias="SAMVAD_DB_MAX_OVERFLOW")
    # SAMVAD_DATABASE_URL names a PgBouncer in transaction mode: server-side prepared
    # statements are not reused across transactions (asyncpg's caches off, unique names).
    database_pgbouncer: bool = Field(False, alias="SAMVAD_DATABASE_PGBOUNCER")
    # `samvad worker` touches this file every few seconds while all its loops run: a
    # liveness probe checks its age without starting Python (unset: no file).
    worker_heartbeat_file: Path | None = Field(None, alias="SAMVAD_WORKER_HEARTBEAT_FILE")
    redis_url: str | None = Field(None, alias="SAMVAD_REDIS_URL")
    # Where people and providers reach Samvad (links, Twilio signatures); by default the
    # host and port it listens on (127.0.0.1 when it listens on every interface).
    public_url: str = Field("", alias="SAMVAD_PUBLIC_URL")
    # How long a short link (/r/<code>, sent in SMS) opens its receipt, certificate, payment
    # page or complaint status.
    short_link_days: int = Field(30, ge=1, le=366, alias="SAMVAD_SHORT_LINK_DAYS")
    secret_key: str = Field(PLACEHOLDER_SECRET, alias="SAMVAD_SECRET_KEY")
    rasa_url: str | None = Field(None, alias="SAMVAD_RASA_URL")
    # The bot reaches the core API in-process unless this names a separate deployment.
    core_api_url: str | None = Field(None, alias="SAMVAD_CORE_API_URL")
    simulator: bool | None = Field(None, alias="SAMVAD_SIMULATOR")
    env: Literal["development", "production"] | None = Field(None, alias="SAMVAD_ENV")
    data_dir: Path = Field(Path("var"), alias="SAMVAD_DATA_DIR")
    # Stored files (photos, receipts, certificates) go to this S3-compatible bucket when set,
    # else under data_dir/files. Without keys boto3's credential chain applies (environment,
    # IRSA / web identity, instance role); the endpoint names MinIO, Ceph and the like.
    s3_bucket: str | None = Field(None, alias="SAMVAD_S3_BUCKET")
    s3_endpoint_url: str | None = Field(None, alias="SAMVAD_S3_ENDPOINT_URL")
    s3_region: str | None = Field(None, alias="SAMVAD_S3_REGION")
    s3_access_key_id: str | None = Field(None, alias="SAMVAD_S3_ACCESS_KEY_ID")
    s3_secret_access_key: SecretStr | None = Field(None, alias="SAMVAD_S3_SECRET_ACCESS_KEY")
    s3_prefix: str = Field("", alias="SAMVAD_S3_PREFIX")
    # Token lifetime for staff logins (JWT).
    access_token_minutes: int = Field(12 * 60, alias="SAMVAD_ACCESS_TOKEN_MINUTES")
    # Keys that Open311 clients send as api_key, comma-separated: a key posts service
    # requests and reads them in full (unredacted description, exact pin); ``key@uk.dehradun``
    # limits a key to one ULB (or state), like a staff role grant.
    open311_api_keys: str = Field("", alias="SAMVAD_OPEN311_API_KEYS")
    # Open311 read without a key: descriptions "redacted" (phone numbers, e-mails, ID and
    # vehicle numbers and the complainant's name removed) or "none" (withheld).
    open311_descriptions: Literal["redacted", "none"] = Field(
        "redacted", alias="SAMVAD_OPEN311_DESCRIPTIONS")
    # Logs: level, and "json" (one JSON object a line) or "console"; default json outside
    # development. Phone numbers and secrets are masked either way (samvad/logs.py).
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", alias="SAMVAD_LOG_LEVEL")
    log_format: Literal["json", "console"] | None = Field(None, alias="SAMVAD_LOG_FORMAT")
    # Abuse limits: the largest request body (webhooks, API; photo uploads have their own
    # 6 MB), inbound messages one citizen may send per minute before the rest are dropped
    # (0: no limit), and extra hosts the photo fetcher may download from, comma-separated
    # (the providers' media hosts and SAMVAD_PUBLIC_URL's /files links are always allowed).
    max_body_bytes: int = Field(1024 * 1024, ge=1024, alias="SAMVAD_MAX_BODY_BYTES")
    inbound_per_minute: int = Field(20, ge=0, alias="SAMVAD_INBOUND_PER_MINUTE")
    # A message that waited this long for a worker gets one "we are busy, your message is
    # in the queue" reply (channels/queues/_overload.py); 0 turns the notice off.
    busy_after_s: float = Field(10.0, ge=0, alias="SAMVAD_BUSY_AFTER_S")
    media_hosts: str = Field("", alias="SAMVAD_MEDIA_HOSTS")
    # Reverse proxies whose X-Forwarded-For is believed (comma-separated addresses or
    # networks, uvicorn's forwarded_allow_ips): the client address that login throttling and
    # the logs see. Behind an ingress or load balancer on another host, name it here.
    forwarded_allow_ips: str = Field("127.0.0.1", alias="SAMVAD_FORWARDED_ALLOW_IPS")
    # Staff login throttling (core_api/auth/throttle.py; counts in Redis). Failed logins of
    # one account within the window: after `backoff_after` each further try waits
    # base * 2^(failures - backoff_after) seconds (at most backoff_max_s); at `lock_after`
    # the account is locked for lock_s (0: until `samvad users unlock` or the API unlocks
    # it). One client address backs off the same way after `address_backoff_after`
    # failures on any accounts (0: no per-address limit). Password checks (argon2) run at
    # most `hash_concurrency` at a time; a login that waits longer than hash_wait_s is
    # answered 503 with Retry-After.
    login_backoff_after: int = Field(5, ge=1, alias="SAMVAD_LOGIN_BACKOFF_AFTER")
    login_backoff_base_s: float = Field(2.0, gt=0, alias="SAMVAD_LOGIN_BACKOFF_BASE_S")
    login_backoff_max_s: float = Field(900.0, gt=0, alias="SAMVAD_LOGIN_BACKOFF_MAX_S")
    login_lock_after: int = Field(10, ge=0, alias="SAMVAD_LOGIN_LOCK_AFTER")
    login_failure_window_s: int = Field(900, ge=1, alias="SAMVAD_LOGIN_FAILURE_WINDOW_S")
    login_lock_s: int = Field(3600, ge=0, alias="SAMVAD_LOGIN_LOCK_S")
    login_address_backoff_after: int = Field(
        20, ge=0, alias="SAMVAD_LOGIN_ADDRESS_BACKOFF_AFTER")
    login_hash_concurrency: int = Field(2, ge=1, le=64, alias="SAMVAD_LOGIN_HASH_CONCURRENCY")
    login_hash_wait_s: float = Field(1.0, ge=0, alias="SAMVAD_LOGIN_HASH_WAIT_S")
    # Complaint lifecycle (core_api/complaints/sla.py): a RESOLVED complaint the citizen
    # neither rates nor reopens is closed by the system after this many days (0: never);
    # escalation levels and reminder intervals per business service come from a YAML file
    # (default: the bundled core_api/complaints/escalation.yaml).
    auto_close_days: int = Field(7, ge=0, le=365, alias="SAMVAD_AUTO_CLOSE_DAYS")
    escalation_file: Path | None = Field(None, alias="SAMVAD_ESCALATION_FILE")
    # The locales served (locales/README.md). bot/i18n.py and core_api/users/locales.py read
    # the variable where the locales load; here it is checked to name a folder at start-up.
    locales_dir: DirectoryPath | None = Field(None, alias="SAMVAD_LOCALES_DIR")
    # New complaints reaching a GRO within this many seconds go as one digest (0: each at
    # once).
    gro_digest_seconds: int = Field(180, ge=0, le=3600, alias="SAMVAD_GRO_DIGEST_SECONDS")

    twilio_account_sid: str | None = Field(None, alias="TWILIO_ACCOUNT_SID")
    twilio_auth_token: str | None = Field(None, alias="TWILIO_AUTH_TOKEN")
    twilio_api_base: str = Field("https://api.twilio.com", alias="TWILIO_API_BASE")
    twilio_sms_from: str | None = Field(None, alias="TWILIO_SMS_FROM")
    twilio_whatsapp_from: str | None = Field(None, alias="TWILIO_WHATSAPP_FROM")
    # Menus on Twilio WhatsApp as Content API templates inside the session, as JSON:
    # {"quick-reply-2": "HX...", "list-picker-7": "HX...", ...} (channels/twilio/content.py
    # says what each holds); a menu without its template goes as numbered text.
    twilio_content_sids: dict[str, str] = Field(default_factory=dict,
                                                alias="TWILIO_CONTENT_SIDS")

    whatsapp_api_base: str = Field("https://graph.facebook.com", alias="WHATSAPP_API_BASE")
    whatsapp_access_token: str | None = Field(None, alias="WHATSAPP_ACCESS_TOKEN")
    whatsapp_app_secret: str | None = Field(None, alias="WHATSAPP_APP_SECRET")
    whatsapp_verify_token: str | None = Field(None, alias="WHATSAPP_VERIFY_TOKEN")
    whatsapp_phone_number_id: str | None = Field(None, alias="WHATSAPP_PHONE_NUMBER_ID")

    # Outbound sending: messages per second per sender number (0: no limit), the burst a
    # sender may send at once (default: one second's worth), attempts before a retryable
    # error counts as failed, and the first retry delay (doubling, with jitter).
    send_rate: float = Field(0.0, ge=0, alias="SAMVAD_SEND_RATE")
    send_burst: int | None = Field(None, ge=1, alias="SAMVAD_SEND_BURST")
    send_max_attempts: int = Field(6, ge=1, le=50, alias="SAMVAD_SEND_MAX_ATTEMPTS")
    send_retry_base_s: float = Field(2.0, gt=0, alias="SAMVAD_SEND_RETRY_BASE_S")
    # How long a worker's hold on one person's mailbox lasts unless its heartbeat renews
    # it (every third of it): how soon a dead worker's people are taken over.
    mailbox_lease_s: float = Field(5.0, ge=1, le=300, alias="SAMVAD_MAILBOX_LEASE_S")
    # Approved templates for messages outside WhatsApp's 24-hour window, as JSON:
    # {"<kind>" | "default": {"<locale>" | "default": "<template>" | {"id", "language"}}}.
    # <template> is a Twilio ContentSid (HX...) or a Meta template name. Each kind named
    # here replaces that kind of the bundled mapping (channels/templates.yaml).
    whatsapp_templates: dict[str, dict[str, str | dict[str, str]]] = Field(
        default_factory=dict, alias="SAMVAD_WHATSAPP_TEMPLATES")
    # Estimated message costs in rupees for the delivery record and the dashboard, as JSON
    # (channels/queues/_costs.py): {"whatsapp_template": 0.115, "whatsapp_free_form": 0,
    # "sms_segment": 0.25, "kinds": {"<kind>": {<the same keys>}}}; omitted keys keep
    # these defaults.
    message_costs: dict[str, Any] = Field(default_factory=dict, alias="SAMVAD_MESSAGE_COSTS")
    # DLT template ids of SMS per message kind (Indian senders), same JSON shape.
    sms_dlt_templates: dict[str, dict[str, str | dict[str, str]]] = Field(
        default_factory=dict, alias="SAMVAD_SMS_DLT_TEMPLATES")

    # Payments: the built-in sandbox gateway (development default) or Razorpay payment links.
    payment_gateway: Literal["sandbox", "razorpay"] | None = Field(
        None, alias="SAMVAD_PAYMENT_GATEWAY")
    razorpay_key_id: str | None = Field(None, alias="RAZORPAY_KEY_ID")
    razorpay_key_secret: str | None = Field(None, alias="RAZORPAY_KEY_SECRET")
    razorpay_webhook_secret: str | None = Field(None, alias="RAZORPAY_WEBHOOK_SECRET")
    razorpay_api_base: str = Field("https://api.razorpay.com", alias="RAZORPAY_API_BASE")
    # UPI deep links and QR codes (upi://pay?pa=<vpa>&pn=<payee>...); no VPA, no UPI link.
    upi_vpa: str | None = Field(None, alias="SAMVAD_UPI_VPA")
    upi_payee_name: str | None = Field(None, alias="SAMVAD_UPI_PAYEE_NAME")

    @property
    def embedded(self) -> bool:
        """True when Samvad runs as one self-contained process (SQLite + embedded Redis)."""
        return self.database_url is None and self.redis_url is None

    @property
    def development(self) -> bool:
        """Embedded mode is development unless SAMVAD_ENV says otherwise."""
        if self.env is not None:
            return self.env == "development"
        return self.embedded

    @property
    def active_payment_gateway(self) -> str | None:
        """The gateway new payment links use: as configured, else Razorpay when its keys are
        set, else the sandbox in development; None (online payment off) otherwise."""
        if self.payment_gateway is not None:
            return self.payment_gateway
        if self.razorpay_key_id and self.razorpay_key_secret:
            return "razorpay"
        return "sandbox" if self.development else None

    @property
    def active_upi_vpa(self) -> str | None:
        """The VPA of UPI links; development falls back to a handle no UPI app can pay."""
        if self.upi_vpa:
            return self.upi_vpa
        return "samvad.demo@sandbox" if self.development else None

    @property
    def open311_keys(self) -> frozenset[str]:
        """The accepted Open311 api_key values (none: posting is switched off)."""
        return frozenset(self.open311_key_scopes)

    @property
    def open311_key_scopes(self) -> dict[str, str | None]:
        """Each Open311 api_key and the tenant it is limited to (None: every tenant)."""
        scopes: dict[str, str | None] = {}
        for entry in self.open311_api_keys.split(","):
            key, _, tenant = entry.strip().partition("@")
            if key.strip():
                scopes[key.strip()] = tenant.strip() or None
        return scopes

    @property
    def whatsapp_provider(self) -> str:
        """Who sends WhatsApp notifications: Meta Cloud API, Twilio, or the simulator inbox."""
        if self.whatsapp_phone_number_id:
            return "meta"
        return "twilio" if self.twilio_whatsapp_from else "simulator"

    @property
    def sms_provider(self) -> str:
        """Who sends SMS notifications: Twilio when it has a sender number, else the simulator."""
        return "twilio" if self.twilio_sms_from else "simulator"

    @property
    def log_json(self) -> bool:
        """JSON log lines unless asked for console ones (the default in development)."""
        if self.log_format is not None:
            return self.log_format == "json"
        return not self.development

    @property
    def simulator_enabled(self) -> bool:
        """The simulator API and page are on in development unless switched off."""
        return self.development if self.simulator is None else self.simulator

    @cached_property
    def sqlalchemy_url(self) -> str:
        """The async SQLAlchemy URL: the configured one with an async driver, or var/samvad.db."""
        if self.database_url is None:
            return f"sqlite+aiosqlite:///{(self.data_dir / 'samvad.db').resolve()}"
        return async_database_url(self.database_url)

    @property
    def engine_options(self) -> dict[str, Any]:
        """Keyword arguments of ``core_api.db.Database`` for the configured database."""
        return {"pool_size": self.db_pool_size, "max_overflow": self.db_max_overflow,
                "pgbouncer": self.database_pgbouncer}

    @model_validator(mode="after")
    def _public_url_defaults_to_where_we_listen(self) -> Settings:
        if not self.public_url:
            host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host  # noqa: S104
            host = f"[{host}]" if ":" in host else host
            self.public_url = f"http://{host}:{self.port}"
        return self

    @model_validator(mode="after")
    def _refuse_weak_secret(self) -> Settings:
        if not self.development and (
            self.secret_key == PLACEHOLDER_SECRET or len(self.secret_key) < MIN_SECRET_LENGTH
        ):
            raise ConfigurationError(
                "SAMVAD_SECRET_KEY must be set to a random value of at least "
                f"{MIN_SECRET_LENGTH} characters outside development "
                "(python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        if self.active_payment_gateway == "razorpay" and not (
            self.razorpay_key_id and self.razorpay_key_secret and self.razorpay_webhook_secret
        ):
            raise ConfigurationError(
                "The Razorpay gateway needs RAZORPAY_KEY_ID, RAZORPAY_KEY_SECRET and "
                "RAZORPAY_WEBHOOK_SECRET"
            )
        return self

    @model_validator(mode="after")
    def _twilio_content_sids_are_known(self) -> Settings:
        from channels.twilio.content import check_content_sids

        try:
            check_content_sids(self.twilio_content_sids)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from exc
        return self

    @model_validator(mode="after")
    def _s3_keys_come_in_pairs(self) -> Settings:
        # Half a key pair would silently fall back to another identity from boto3's chain.
        # Empty counts as unset: manifests list every key, empty when the chain applies.
        secret = self.s3_secret_access_key
        if bool(self.s3_access_key_id) != bool(secret and secret.get_secret_value()):
            raise ConfigurationError(
                "Set both SAMVAD_S3_ACCESS_KEY_ID and SAMVAD_S3_SECRET_ACCESS_KEY, or neither "
                "(boto3's credential chain: environment, IRSA, instance role)"
            )
        return self


def async_database_url(url: str) -> str:
    """Rewrite postgres:// and sqlite:// URLs to their asyncio drivers."""
    for prefix, replacement in (
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgresql+psycopg://", "postgresql+asyncpg://"),
        ("sqlite:///", "sqlite+aiosqlite:///"),
    ):
        if url.startswith(prefix):
            return replacement + url[len(prefix) :]
    return url
