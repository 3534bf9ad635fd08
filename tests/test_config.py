"""Settings: defaults for one machine, and what production refuses at start-up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from podml.config import DEFAULT_SECRET_KEY, Settings

STRONG = "x" * 48


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_embedded_defaults() -> None:
    s = settings()
    assert s.env == "development"
    assert s.database_url.startswith("sqlite+aiosqlite:///")
    assert s.storage_backend == "local"
    assert s.auth_mode == "local"
    assert s.public_url == "http://127.0.0.1:8000"
    assert s.max_upload_bytes == 1024**3
    assert s.allow_debug_sub is False


def test_env_vars_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODML_CORS_ORIGINS", "http://a.example, http://b.example")
    monkeypatch.setenv("PODML_MAX_UPLOAD_BYTES", "1234")
    monkeypatch.setenv("PODML_DATABASE_URL", "postgresql+asyncpg://u@db/podml")
    s = settings()
    assert s.cors_origins == ["http://a.example", "http://b.example"]
    assert s.max_upload_bytes == 1234
    assert s.database_url == "postgresql+asyncpg://u@db/podml"


def test_production_refuses_the_default_secret() -> None:
    with pytest.raises(ValidationError, match="PODML_SECRET_KEY is the development default"):
        settings(env="production")
    with pytest.raises(ValidationError, match="at least 32 characters"):
        settings(env="production", secret_key="short")


def test_production_refuses_debug_sub() -> None:
    with pytest.raises(ValidationError, match="PODML_ALLOW_DEBUG_SUB"):
        settings(env="production", secret_key=STRONG, allow_debug_sub=True)
    assert settings(env="production", secret_key=STRONG).env == "production"
    assert settings(allow_debug_sub=True, secret_key=DEFAULT_SECRET_KEY).allow_debug_sub


def test_cognito_mode_needs_pool_and_client() -> None:
    with pytest.raises(ValidationError, match="PODML_COGNITO_USER_POOL_ID"):
        settings(auth_mode="cognito")
    s = settings(
        auth_mode="cognito",
        cognito_user_pool_id="eu-west-1_abc",
        cognito_client_id="c",
        cognito_region="eu-west-1",
    )
    assert s.cognito_issuer == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc"
    assert s.resolved_jwks_url == s.cognito_issuer + "/.well-known/jwks.json"


def test_serve_refuses_unsafe_production_settings_with_a_clear_message(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "podml", "serve"],
        env={"PODML_ENV": "production", "PODML_ALLOW_DEBUG_SUB": "true", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(tmp_path),
        check=False,
    )
    assert result.returncode != 0
    assert "PODML_SECRET_KEY is the development default" in result.stderr
    assert "PODML_ALLOW_DEBUG_SUB=true" in result.stderr


def test_development_default_secret_becomes_a_private_random_key(tmp_path: Path) -> None:
    first = settings(data_dir=tmp_path)
    first.ensure_secret_key()
    key = first.secret_key.get_secret_value()
    assert key != DEFAULT_SECRET_KEY
    assert len(key) >= 32
    assert (tmp_path / ".secret_key").stat().st_mode & 0o777 == 0o600
    again = settings(data_dir=tmp_path)
    again.ensure_secret_key()
    assert again.secret_key.get_secret_value() == key  # tokens survive a restart
    explicit = settings(data_dir=tmp_path / "other", secret_key=STRONG)
    explicit.ensure_secret_key()
    assert explicit.secret_key.get_secret_value() == STRONG
