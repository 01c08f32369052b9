"""One settings object over the RAABTA_* environment. A bad value stops the start, naming the variable."""

from __future__ import annotations

import logging
import math
import os
import re
import secrets
from datetime import timedelta, timezone, tzinfo
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)
PREFIX = "RAABTA_"
MEDIA_HOST = re.compile(r"^[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?$")
GENERATE_KEY = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'
MIN_KEY_BITS = 96  # length x log2(distinct characters seen): 32 random hex digits pass
MIN_KEY_SYMBOLS = 8  # distinct characters
# Who a case may be referred or escalated to (RAABTA_AGENCIES, comma-separated). `platform` is the platform
# the page is on; PTA removes or blocks content (PECA s.37); NCCIA investigates cybercrime, in place of the
# FIA's Cyber Crime Wing since 2024-25; the provinces' counter-terrorism departments; the platforms by name.
DEFAULT_AGENCIES = (
    "platform,PTA,NCCIA,CTD,CTD Punjab,CTD Sindh,CTD KP,CTD Balochistan,Meta,Telegram,YouTube,TikTok,X"
)
AGENCY = re.compile(r"^[A-Za-z0-9_-]+( [A-Za-z0-9_-]+)*$")  # the cases table's agency column: 32 characters


class ConfigError(SystemExit):
    """The configuration cannot be used; the message names the variable."""

    def __init__(self, message: str) -> None:
        super().__init__(f"raabta: configuration error: {message}")


def local_zone(name: str) -> tzinfo:
    """The zone called `name`; Pakistan's fixed UTC+5 when the system lacks a time-zone database."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        if name == "Asia/Karachi":  # no daylight saving since 2009: a fixed offset is exact
            return timezone(timedelta(hours=5), "PKT")
        raise ValueError(f"unknown time zone {name!r} (use a name such as Asia/Karachi or UTC)") from error


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="ignore", frozen=True)

    database_url: str = "sqlite+aiosqlite:///./data/raabta.db"
    secret_key: SecretStr | None = None
    data_dir: Path = Path("./data")
    env: Literal["development", "production"] = "development"
    telegram_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org/bot"
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_download_files: bool = False  # keep a copy of evidence files (with their sha256) under data_dir
    telegram_max_file_mb: int = Field(default=20, ge=1, le=2000)  # larger documents are not taken
    # Webhook mode: updates waiting or in handling beyond which the webhook answers 503 (Telegram retries)
    telegram_max_backlog: int = Field(default=2_000, ge=1, le=1_000_000)
    messenger_page_token: SecretStr | None = None
    messenger_app_secret: SecretStr | None = None
    messenger_verify_token: SecretStr | None = None
    graph_api_url: str = "https://graph.facebook.com/v21.0"
    # Citizens' photos and files on Messenger: a copy (with its sha256) is kept under data_dir at once,
    # because Meta's attachment URLs expire; fetched only from these hosts (a name matches itself and its
    # subdomains, over https; an entry written as an origin, e.g. http://127.0.0.1:8099, matches exactly)
    messenger_download_files: bool = True
    messenger_max_file_mb: int = Field(default=25, ge=1, le=100)  # Messenger's own limit is 25 MB
    messenger_media_hosts: str = "fbcdn.net,fbsbx.com"
    # WhatsApp (Cloud API): the system user's token, the business phone number's id, the app secret that
    # signs webhook posts and the verify token of the subscription check (Graph API base: graph_api_url)
    whatsapp_token: SecretStr | None = None
    whatsapp_phone_number_id: str | None = None
    whatsapp_app_secret: SecretStr | None = None
    whatsapp_verify_token: SecretStr | None = None
    # Screenshots and PDFs citizens send: fetched through the Graph API's media endpoint at once, at most
    # this size, only from these hosts (names match themselves and their subdomains, over https; an origin
    # such as http://127.0.0.1:8099 matches exactly), kept under data_dir with their sha256
    whatsapp_download_files: bool = True
    whatsapp_max_file_mb: int = Field(default=16, ge=1, le=100)
    whatsapp_media_hosts: str = "fbsbx.com,whatsapp.net,fbcdn.net"
    # Status updates after the 24-hour window go as the approved template: its name and the languages
    # (en, ur, ur-Latn) Meta approved it in (`raabta whatsapp templates` prints what to submit). Empty:
    # none approved, so late notifications expire in the outbox.
    whatsapp_template: str = Field(default="raabta_status_update", pattern=r"^[a-z0-9_]{1,512}$")
    whatsapp_template_languages: str = ""
    whatsapp_messages_per_second: int = Field(default=50, ge=1, le=1000)  # the number's throughput
    nlu: Literal["embedded", "rasa"] = "embedded"
    rasa_url: str | None = None
    alert_webhook_url: str | None = None
    retention_days: int = Field(default=180, ge=1, le=3650)
    # Hours a handled event's id and replies are kept, so that a platform's redelivery (or the web chat's
    # retry of a lost answer) is answered once with the same replies; then the record goes (it holds the
    # bot's replies, reference codes included)
    redelivery_hours: int = Field(default=48, ge=1, le=24 * 365)
    # Days after which the conversation of a session that never reported, left no contact, subscription
    # or callback request, and has nothing waiting in the outbox is deleted (an unfinished draft with it)
    idle_session_days: int = Field(default=7, ge=1, le=3650)
    # The public address the web chat is served at (https://raabta.example.pk): a Learn card or a claim's
    # answer carries a link, <public_url>/chat?card=<id>, that opens the web chat on it. Unset: no links.
    public_url: str | None = None
    webchat_ip_limit: int = Field(default=120, ge=0)
    # New web chat sessions (session ids with no stored conversation) an hour from one client address
    # before 429 with Retry-After; 0 turns it off (load tests). Each one stores a conversation.
    webchat_new_sessions_per_hour: int = Field(default=30, ge=0)
    # Web chat screenshots and PDFs (POST /webchat/api/upload): the largest file taken, uploads an hour
    # from one chat session and from one client address (0 turns a limit off), and the seconds a whole
    # upload may take to arrive (a 10 MB photo over a slow mobile line)
    webchat_max_upload_mb: int = Field(default=10, ge=1, le=100)
    webchat_uploads_per_session: int = Field(default=20, ge=0)
    webchat_uploads_per_address: int = Field(default=60, ge=0)
    webchat_upload_seconds: int = Field(default=120, ge=5, le=3600)
    messages_per_minute: int = Field(default=30, ge=1)  # from one citizen, any channel
    reports_per_hour: int = Field(default=5, ge=1)
    reports_per_day: int = Field(default=20, ge=1)
    floods_before_block: int = Field(default=3, ge=1)  # floods within a day before an automatic block
    # Families' phone numbers one counsellor (or supervisor) may reveal in an hour: a stolen session
    # or a curious colleague cannot read the whole queue's numbers
    support_reveals_per_hour: int = Field(default=10, ge=1, le=1000)
    # `raabta serve` (uvicorn): connections and requests in flight beyond which new ones get 503 at once
    # (so 500 slow clients cannot hold 500 file descriptors), and seconds an idle keep-alive connection
    # is kept open
    limit_concurrency: int = Field(default=1000, ge=1, le=100_000)
    timeout_keep_alive: int = Field(default=5, ge=1, le=300)
    agencies: str = DEFAULT_AGENCIES  # the only agencies a decision may name (agency_names)
    # The console shows times in this zone (Pakistan: UTC+5 all year), with UTC on hover
    console_timezone: str = "Asia/Karachi"
    # The designated (proscribed) organisations reports are matched against: the operator's YAML file,
    # copied from NACTA's published list (docs/content.md); unset, the short shipped list
    # (bot/shared/designated.yaml). Checked at start and by `raabta designated check`.
    designated_file: Path | None = None
    # Days after a takedown notice (or the decision, or the last check) before a referred case whose page
    # was not seen removed is due for a check: it comes back to the queue page (storage/takedowns.py)
    takedown_check_days: int = Field(default=7, ge=1, le=365)

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        aliases = {
            "sqlite:": "sqlite+aiosqlite:",
            "postgresql:": "postgresql+asyncpg:",
            "postgres:": "postgresql+asyncpg:",
        }
        for plain, driver in aliases.items():
            if value.startswith(plain):
                value = driver + value[len(plain) :]
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must be sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db")
        return value

    @field_validator("console_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        local_zone(value)  # refuses a name the time-zone database does not know
        return value

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters")
        return value

    @field_validator("messenger_media_hosts", "whatsapp_media_hosts")
    @classmethod
    def _media_hosts(cls, value: str) -> str:
        entries = [e.strip() for e in value.split(",") if e.strip()]
        for entry in entries:
            host = entry.split("://", 1)[1] if "://" in entry else entry
            if ("://" in entry and not entry.startswith(("http://", "https://"))) or not MEDIA_HOST.match(
                host
            ):
                raise ValueError(
                    "must be host names (fbcdn.net) or origins (http://127.0.0.1:8099), comma-separated"
                )
        return ",".join(entries)

    @field_validator("whatsapp_template_languages")
    @classmethod
    def _template_languages(cls, value: str) -> str:
        entries = [e.strip() for e in value.split(",") if e.strip()]
        if any(e not in ("en", "ur", "ur-Latn") for e in entries):
            raise ValueError("must be languages among en, ur, ur-Latn, comma-separated")
        return ",".join(entries)

    @field_validator("agencies")
    @classmethod
    def _agencies(cls, value: str) -> str:
        entries = [e.strip() for e in value.split(",") if e.strip()]
        if not entries:
            raise ValueError("must name at least one agency (comma-separated)")
        for entry in entries:
            if len(entry) > 32 or not AGENCY.match(entry):
                raise ValueError(
                    f"{entry!r} is not a short name of letters, digits, spaces, - or _ (32 at most)"
                )
        folded = [e.casefold() for e in entries]
        if len(set(folded)) < len(folded):
            raise ValueError("names an agency twice (names are compared ignoring case)")
        return ",".join(entries)

    @field_validator("public_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is not None and ("?" in value or "#" in value or any(c.isspace() for c in value)):
            raise ValueError("must be an address without ?, # or spaces, such as https://raabta.example.pk")
        return value.rstrip("/") if value is not None else None

    @field_validator("whatsapp_phone_number_id")
    @classmethod
    def _number_id(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[0-9]{1,30}", value):
            raise ValueError("must be the phone number id (digits) from Meta's WhatsApp dashboard")
        return value

    @field_validator(
        "telegram_api_url",
        "graph_api_url",
        "telegram_webhook_url",
        "rasa_url",
        "alert_webhook_url",
        "public_url",
    )
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value


def load_settings(**overrides: object) -> Settings:
    """Read the environment (and explicit overrides, for tests); raise ConfigError naming what is wrong."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "?"
            problems.append(f"{PREFIX}{field.upper()}: {error['msg']}")
        raise ConfigError("; ".join(problems)) from None
    _strong_in_production(settings)
    return settings


def agency_names(settings: Settings) -> tuple[str, ...]:
    """The configured agencies, in their configured spelling and order (what forms and errors list)."""
    return tuple(settings.agencies.split(","))


def key_weakness(key: str) -> str | None:
    """Why `key` is too easy to guess to be a production secret (None when it is not): one character or a
    short pattern repeated, too few distinct characters, or too little entropy for its alphabet (length x
    log2 of the distinct characters, under 96 bits)."""
    distinct = len(set(key))
    for period in range(1, len(key) // 2 + 1):
        if key == (key[:period] * (len(key) // period + 1))[: len(key)]:
            return f"it is {key[:period]!r} repeated" if period <= 8 else "it is a shorter key repeated"
    if distinct < MIN_KEY_SYMBOLS:
        return f"it uses only {distinct} distinct characters"
    if len(key) * math.log2(distinct) < MIN_KEY_BITS:
        return f"{len(key)} characters from an alphabet of {distinct} are too easy to guess"
    return None


def _strong_in_production(settings: Settings) -> None:
    """Production refuses a secret key that is easy to guess, saying how to make a good one."""
    if settings.env != "production" or settings.secret_key is None:
        return
    why = key_weakness(settings.secret_key.get_secret_value())
    if why is not None:
        raise ConfigError(
            f"{PREFIX}SECRET_KEY is too weak for {PREFIX}ENV=production: {why}. "
            f"Generate one with: {GENERATE_KEY}"
        )


def secret_key(settings: Settings) -> bytes:
    """The master secret: configured, or in development generated once into data/secret.key (mode 0600)."""
    if settings.secret_key is not None:
        _strong_in_production(settings)
        return settings.secret_key.get_secret_value().encode()
    if settings.env == "production":
        raise ConfigError(
            f"{PREFIX}SECRET_KEY is required when {PREFIX}ENV=production (32 characters or more; "
            f"generate one with: {GENERATE_KEY})"
        )
    path = settings.data_dir / "secret.key"
    if path.exists():
        return path.read_bytes().strip()
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
    log.warning("secret_key_generated", extra={"fields": {"path": str(path)}})
    return path.read_bytes().strip()
