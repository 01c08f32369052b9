"""Configuration: one settings object; bad values stop the start and name the variable."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from bot.shared.config import ConfigError, load_settings, secret_key


def test_defaults_give_sqlite_and_the_web_chat(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RAABTA_DATABASE_URL", "RAABTA_ENV", "RAABTA_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.database_url == "sqlite+aiosqlite:///./data/raabta.db"
    assert settings.env == "development"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("RAABTA_RETENTION_DAYS", "soon"),
        ("RAABTA_RETENTION_DAYS", "0"),
        ("RAABTA_ENV", "staging"),
        ("RAABTA_DATABASE_URL", "mysql://root@localhost/x"),
        ("RAABTA_SECRET_KEY", "too-short"),
        ("RAABTA_NLU", "gpt"),
        ("RAABTA_TELEGRAM_API_URL", "ftp://example.org"),
        ("RAABTA_WEBCHAT_IP_LIMIT", "-1"),
    ],
)
def test_a_bad_value_names_its_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert variable in str(error.value)


def test_plain_database_urls_get_the_async_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAABTA_DATABASE_URL", "postgresql://raabta@db/raabta")
    assert load_settings().database_url == "postgresql+asyncpg://raabta@db/raabta"


def test_development_generates_a_private_secret_once(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data", secret_key=None, env="development")
    key = secret_key(settings)
    path = tmp_path / "data" / "secret.key"
    assert len(key) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secret_key(settings) == key


def test_production_refuses_to_start_without_a_secret(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, secret_key=None, env="production")
    with pytest.raises(ConfigError, match="RAABTA_SECRET_KEY"):
        secret_key(settings)
    assert not (tmp_path / "secret.key").exists()
