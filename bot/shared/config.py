"""One settings object over the RAABTA_* environment. A bad value stops the start, naming the variable."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)
PREFIX = "RAABTA_"


class ConfigError(SystemExit):
    """The configuration cannot be used; the message names the variable."""

    def __init__(self, message: str) -> None:
        super().__init__(f"raabta: configuration error: {message}")


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
    nlu: Literal["embedded", "rasa"] = "embedded"
    rasa_url: str | None = None
    alert_webhook_url: str | None = None
    retention_days: int = Field(default=180, ge=1, le=3650)
    webchat_ip_limit: int = Field(default=120, ge=0)
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

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters")
        return value

    @field_validator(
        "telegram_api_url", "graph_api_url", "telegram_webhook_url", "rasa_url", "alert_webhook_url"
    )
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value


def load_settings(**overrides: object) -> Settings:
    """Read the environment (and explicit overrides, for tests); raise ConfigError naming what is wrong."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "?"
            problems.append(f"{PREFIX}{field.upper()}: {error['msg']}")
        raise ConfigError("; ".join(problems)) from None


def secret_key(settings: Settings) -> bytes:
    """The master secret: configured, or in development generated once into data/secret.key (mode 0600)."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode()
    if settings.env == "production":
        raise ConfigError(
            f"{PREFIX}SECRET_KEY is required when {PREFIX}ENV=production (32 characters or more)"
        )
    path = settings.data_dir / "secret.key"
    if path.exists():
        return path.read_bytes().strip()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
    log.warning("secret_key_generated", extra={"fields": {"path": str(path)}})
    return path.read_bytes().strip()
