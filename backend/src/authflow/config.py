"""Settings read from the environment (prefix ``AUTHFLOW_``, plus ``DATABASE_URL``)."""

from __future__ import annotations

import ipaddress
import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from authflow.kit.passwords import (
    ARGON2_MAX_MEMORY_KIB,
    ARGON2_MAX_TIME_COST,
    ARGON2_MEMORY_KIB,
    ARGON2_PARALLELISM,
    ARGON2_TIME_COST,
    Argon2Parameters,
)
from authflow.kit.server_secret import MIN_SECRET_LENGTH

REPO_ROOT = Path(__file__).resolve().parents[3]
POSTGRES_URL_PREFIXES = ("postgresql+asyncpg://", "postgresql://", "postgres://")


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AUTHFLOW_", extra="ignore", frozen=True)

    env: Environment = Environment.development
    database_url: Annotated[
        str | None,
        Field(validation_alias=AliasChoices("DATABASE_URL", "AUTHFLOW_DATABASE_URL")),
    ] = None
    db_pool_size: int = Field(default=10, ge=1, le=200)
    # The longest a request waits for a database connection, opening one or for a free
    # one in the pool, before it answers 503 (asyncpg alone would wait 60 s on a server
    # that accepts connections and never answers).
    db_connect_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    # The longest one statement may take before the request gives up with a 503: without
    # it, a server that stops answering (frozen, or cut off) holds requests forever.
    db_command_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)

    # Where the browser sees the app; cookies and redirects are built for this origin.
    web_origin: str = "http://localhost:3000"

    jwt_issuer: str = "authflow"
    jwt_audience: str = "authflow-api"
    access_token_ttl_seconds: int = Field(default=900, ge=60, le=3600)
    # The one server secret: seals the signing keys stored in the database and keys the
    # CSRF and refresh-successor HMACs. Required outside development/test (at least 32
    # characters; `python -c "import secrets; print(secrets.token_urlsafe(32))"`); dev and
    # test generate one under keys_dir on first start so nothing secret lives in git.
    secret_key: SecretStr | None = None
    keys_dir: Path = REPO_ROOT / "var" / "keys"
    # Each process re-reads the signing keys this often, so a rotation made elsewhere
    # (another process, the CLI) is picked up for signing within this time.
    key_reload_seconds: int = Field(default=60, ge=1, le=3600)

    session_ttl_hours: int = Field(default=12, ge=1, le=24 * 365)
    remember_me_session_ttl_days: int = Field(default=30, ge=1, le=365)
    # A session not refreshed for this long ends, whatever its absolute lifetime.
    session_idle_timeout_hours: int = Field(default=7 * 24, ge=1, le=24 * 365)
    # A rotated-out refresh token presented again within this window gets the same
    # successor (a client that lost the response can retry); after it, reuse revokes.
    refresh_grace_seconds: int = Field(default=10, ge=0, le=300)

    password_min_length: int = Field(default=8, ge=8, le=64)
    password_max_length: int = Field(default=1024, ge=64, le=4096)
    # Argon2 verifications allowed at once; about one per core keeps a login storm
    # from starving everything else.
    hash_concurrency: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=64)
    # Argon2id cost of new password hashes; `authflow calibrate-hashing` finds values for
    # a machine. Never below OWASP's baseline (the defaults). A stored hash made with other
    # values is re-hashed with these when its owner next signs in.
    argon2_memory_kib: int = Field(
        default=ARGON2_MEMORY_KIB, ge=ARGON2_MEMORY_KIB, le=ARGON2_MAX_MEMORY_KIB
    )
    argon2_time_cost: int = Field(
        default=ARGON2_TIME_COST, ge=ARGON2_TIME_COST, le=ARGON2_MAX_TIME_COST
    )
    argon2_parallelism: int = Field(default=ARGON2_PARALLELISM, ge=ARGON2_PARALLELISM, le=64)

    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=10 * 1024 * 1024)

    # Logs (authflow.logs) go to stderr: `json`, one object per line, or `text` for people.
    # Unset: text in development, json everywhere else.
    log_format: Literal["json", "text"] | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    # Email. Messages go through the outbox table; a worker in each API process sends
    # them with this backend: `console` logs them (development), `smtp` sends them.
    product_name: str = Field(default="Authflow", min_length=1, max_length=100)
    email_backend: Literal["console", "smtp"] = "console"
    email_from: str = "Authflow <no-reply@localhost>"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=587, ge=1, le=65535)
    # `starttls` upgrades a plain connection (port 587), `tls` is TLS from the start
    # (port 465), `none` only for a relay on the same host or a test server.
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # Off for processes that must not send (the test suite's shared app).
    outbox_worker: bool = True
    outbox_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    outbox_max_attempts: int = Field(default=8, ge=1, le=50)
    # Retry n waits base * 2**(n-1) seconds, at most an hour.
    outbox_backoff_base_seconds: float = Field(default=5.0, gt=0, le=3600)
    email_verification_ttl_hours: int = Field(default=24, ge=1, le=24 * 7)
    password_reset_ttl_minutes: int = Field(default=30, ge=5, le=24 * 60)
    email_change_ttl_minutes: int = Field(default=60, ge=5, le=24 * 60)
    # At most one link of each kind (verification, reset, change of address) per user
    # this often, so nobody can flood an inbox through us.
    email_resend_interval_seconds: int = Field(default=60, ge=0, le=3600)

    # Throttling (see authflow.throttle). State lives in PostgreSQL unless REDIS_URL is set.
    redis_url: Annotated[
        str | None, Field(validation_alias=AliasChoices("REDIS_URL", "AUTHFLOW_REDIS_URL"))
    ] = None
    # Failures allowed before the progressive delay starts, per key.
    login_free_failures_per_pair: int = Field(default=5, ge=1, le=1000)
    login_free_failures_per_account: int = Field(default=10, ge=1, le=1000)
    login_free_failures_per_ip: int = Field(default=50, ge=1, le=100_000)
    token_free_failures_per_ip: int = Field(default=20, ge=1, le=100_000)
    # Then each attempt waits base * 2**(n - free) seconds, at most max.
    throttle_base_delay_seconds: float = Field(default=1.0, gt=0, le=60)
    throttle_max_delay_seconds: int = Field(default=900, ge=1, le=86400)
    # NIST 800-63B 5.2.2: at most 100; then only a password reset (or an admin) unlocks.
    login_max_consecutive_failures: int = Field(default=100, ge=10, le=100)
    signup_per_ip_per_hour: int = Field(default=20, ge=1, le=100_000)
    forgot_password_per_ip_per_hour: int = Field(default=20, ge=1, le=100_000)
    refresh_per_ip_per_minute: int = Field(default=120, ge=1, le=100_000)
    # Two-factor. A correct password from a 2FA account is good for this long as a
    # challenge that only the code step accepts (the issue caps it at 5 minutes).
    two_factor_challenge_ttl_seconds: int = Field(default=300, ge=30, le=300)
    # Sensitive actions (password, email, 2FA changes, signing out other sessions, admin
    # actions) need a sign-in or step-up this recent.
    step_up_window_seconds: int = Field(default=600, ge=60, le=3600)
    # Admin actions are refused to admins who have not turned on two-factor.
    require_2fa_for_admins: bool = True
    # Audit events older than this are deleted (hourly, by every API process).
    audit_retention_days: int = Field(default=365, ge=1, le=3650)
    # Proxies whose X-Forwarded-For is believed (addresses or networks, comma-separated),
    # such as the web app's server. Anything else's X-Forwarded-For is ignored.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator("database_url")
    @classmethod
    def _postgresql_only(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(POSTGRES_URL_PREFIXES):
            raise ValueError("DATABASE_URL must be a postgresql:// URL")
        return value

    @field_validator("log_format", "log_level", mode="before")
    @classmethod
    def _any_case(cls, value: object, info: ValidationInfo) -> object:
        if isinstance(value, str):
            return value.upper() if info.field_name == "log_level" else value.lower()
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            for item in value:
                try:
                    ipaddress.ip_network(str(item), strict=False)
                except ValueError:
                    raise ValueError(f"not an IP address or network: {item!r}") from None
        return value

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(f"AUTHFLOW_SECRET_KEY must be at least {MIN_SECRET_LENGTH} characters")
        return value

    @model_validator(mode="after")
    def _require_real_secrets_outside_dev(self) -> Settings:
        if self.env in (Environment.development, Environment.test):
            return self
        missing = []
        if not self.database_url:
            missing.append("DATABASE_URL")
        if not self.secret_key:
            missing.append("AUTHFLOW_SECRET_KEY")
        if missing:
            raise ValueError(
                f"AUTHFLOW_ENV={self.env.value} needs real secrets; set: {', '.join(missing)}"
            )
        if not self.web_origin.startswith("https://"):
            raise ValueError("AUTHFLOW_WEB_ORIGIN must be https:// outside development")
        return self

    @property
    def argon2(self) -> Argon2Parameters:
        return Argon2Parameters(
            memory_kib=self.argon2_memory_kib,
            time_cost=self.argon2_time_cost,
            parallelism=self.argon2_parallelism,
        )

    @property
    def is_dev(self) -> bool:
        return self.env is Environment.development

    @property
    def async_database_url(self) -> str:
        """The DSN in the form SQLAlchemy's asyncpg dialect wants."""
        if not self.database_url:
            raise RuntimeError("DATABASE_URL is not set")
        url = self.database_url
        prefix = next(p for p in POSTGRES_URL_PREFIXES if url.startswith(p))
        return "postgresql+asyncpg://" + url[len(prefix) :]
