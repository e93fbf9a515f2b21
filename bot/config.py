"""Settings from the environment and `.env`.

The variable names are a contract with deployments, docs and tests; keep them stable.
"""

from __future__ import annotations

import os
import re
import socket
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/smmbot.sqlite3"
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")


class ConfigError(Exception):
    """A setting is missing or malformed; the message is one line per problem, secrets never included."""


def _split_ids(value: Any) -> Any:
    """Accept `1,2, 3`, a single number or an empty string for id lists."""
    if value is None:
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, str):
        parts = [p.strip() for p in value.replace(";", ",").split(",")]
        return [p for p in parts if p]
    return value


def _default_instance_id() -> str:
    """`hostname-pid`: unique per process, readable in the lease table and the logs."""
    return f"{socket.gethostname()[:48]}-{os.getpid()}"


class Settings(BaseSettings):
    """Every setting of the bot; see `.env.example` for the commented list."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        hide_input_in_errors=True,
    )

    bot_token: SecretStr
    telegram_api_url: str = "https://api.telegram.org"
    panel_api_url: str
    panel_api_key: SecretStr
    admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    poll_interval_seconds: float = Field(default=60.0, gt=0)
    markup_percent: Decimal = Field(default=Decimal("0"), ge=0, le=10000)
    log_level: str = "INFO"

    panel_timeout_seconds: float = Field(default=30.0, gt=0)
    panel_requests_per_second: float = Field(
        default=100.0, gt=0
    )  # a ceiling: bot/panel/limiter.py adapts below it
    catalog_refresh_minutes: float = Field(default=30.0, gt=0)
    currency: str = "USD"
    wallet_enabled: bool = True
    # An admin's /addbalance above this (in `currency`) asks "are you sure?" first; /takebalance always asks.
    confirm_credit_above: Decimal = Field(default=Decimal("100"), ge=0, le=1_000_000)
    allowed_user_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    default_locale: str = "en"
    broadcast_rate_per_second: float = Field(default=29.0, gt=0, le=30)
    panel_low_balance_threshold: Decimal = Field(default=Decimal("10"), ge=0)
    stuck_order_hours: float = Field(default=48.0, gt=0)
    # Refills (bot/services/tracking.py `StatusPoller.poll_refills`): how often they are checked
    # (every max(POLL_INTERVAL_SECONDS, REFILL_POLL_SECONDS)) and when an open one is settled.
    refill_poll_seconds: float = Field(default=60.0, ge=10, le=3600)
    refill_unconfirmed_checks: int = Field(default=3, ge=1, le=100)
    refill_error_limit: int = Field(default=5, ge=1, le=100)
    refill_max_open_days: float = Field(default=7.0, ge=1, le=90)
    placing_grace_seconds: float = Field(default=120.0, ge=1, le=86400)
    heartbeat_file: str | None = None
    # The one departure from the libraries' stock paths: SQLite through storage/sqlite_inline.py.
    fast_paths: bool = True

    # Scale-out: webhook mode and several instances (bot/webhook.py, bot/coordination.py).
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_path: str = "/telegram/webhook"
    webhook_listen_host: str = "0.0.0.0"
    webhook_port: int = Field(default=8080, ge=0, le=65535)
    instance_id: str = Field(default_factory=_default_instance_id)
    lease_seconds: float = Field(default=30.0, ge=1, le=3600)
    max_updates_in_flight: int = Field(default=100, ge=1, le=10_000)
    redis_max_connections: int = Field(default=50, ge=2, le=10_000)
    chat_lock_seconds: float = Field(default=3.0, ge=0.5, le=60)

    # Top-ups (bot/services/topups): customers pay the shop themselves.
    topup_min: Decimal = Field(default=Decimal("1"), gt=0, le=1_000_000)
    topup_max: Decimal = Field(default=Decimal("1000"), gt=0, le=1_000_000)
    topup_presets: Annotated[list[Decimal], NoDecode] = Field(
        default_factory=lambda: [Decimal(v) for v in ("5", "10", "25", "50", "100")]
    )
    topup_expire_minutes: float = Field(default=60.0, ge=1, le=44640)
    stars_rate: Decimal | None = Field(default=None, gt=0, le=1_000_000)
    stars_reconcile_minutes: float = Field(default=10.0, gt=0)
    crypto_pay_token: SecretStr | None = None
    crypto_pay_api_url: str = "https://pay.crypt.bot/api"
    crypto_pay_webhook_path: str = "/payments/cryptopay"
    crypto_pay_poll_seconds: float = Field(default=20.0, gt=0)

    # The panel family (docs/panel-api-family.md §9): how types are billed, the panel's currency.
    panel_flat_rate_types: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["package", "custom comments package"]
    )
    panel_currency_rate: Decimal | None = Field(default=None, gt=0, le=1_000_000)

    # Growth (bot/services/growth): referrals and owner alerts; the owner may change both in /admin.
    referral_percent: Decimal = Field(default=Decimal("5"), ge=0, le=100)
    alert_order_amount: Decimal = Field(default=Decimal("50"), ge=0)

    @field_validator("admin_ids", "allowed_user_ids", mode="before")
    @classmethod
    def _ids(cls, value: Any) -> Any:
        return _split_ids(value)

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator("telegram_api_url", "panel_api_url")
    @classmethod
    def _url(cls, value: str) -> str:
        value = value.strip()
        if not value:  # a fresh copy of .env.example: say what to fill in
            raise ValueError("is empty; set it to an http:// or https:// URL")
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        try:
            host = urlsplit(value).hostname
        except ValueError:
            host = None
        if not host:
            raise ValueError("must name a host, like https://panel.example/api/v2")
        return value.rstrip("/")

    @field_validator("panel_api_key")
    @classmethod
    def _panel_key(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value().strip()
        if not raw:
            raise ValueError("is empty; copy the key from your panel (Account -> API)")
        return SecretStr(raw)

    @field_validator("bot_token")
    @classmethod
    def _token(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value().strip()
        if not raw:  # a fresh copy of .env.example: say what to fill in
            raise ValueError("is empty; paste the token @BotFather gave your bot (/newbot)")
        # A space inside: aiogram would refuse it with an exception of its own, a traceback from
        # `smmbot check` and a cryptic start-up error; here it is the one configuration line.
        head, _, tail = raw.partition(":")
        if not head.isdecimal() or not tail or any(char.isspace() for char in tail):
            raise ValueError("must look like 123456:ABC... (the token BotFather gives)")
        return SecretStr(raw)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        value = value.strip()
        if "://" not in value:
            raise ValueError("must be an SQLAlchemy URL like sqlite+aiosqlite:///./data/smmbot.sqlite3")
        scheme = value.split("://", 1)[0].lower()
        if scheme.startswith("sqlite") and scheme != "sqlite+aiosqlite":
            raise ValueError("needs the async driver: sqlite+aiosqlite:///./data/smmbot.sqlite3")
        if scheme.startswith(("postgres", "postgresql")) and scheme != "postgresql+asyncpg":
            raise ValueError("needs the async driver: postgresql+asyncpg://user:password@host/db")
        if not scheme.startswith(("sqlite", "postgres")):
            raise ValueError("must be sqlite+aiosqlite://... or postgresql+asyncpg://...")
        return value

    @field_validator("webhook_url", mode="before")
    @classmethod
    def _webhook_url(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        value = str(value).strip()
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be the public https:// URL Telegram sends updates to")
        return value

    @field_validator("webhook_secret", mode="before")
    @classmethod
    def _webhook_secret(cls, value: Any) -> Any:
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        raw = str(raw).strip()
        if not _SECRET_TOKEN.fullmatch(raw):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return raw

    @field_validator("webhook_path")
    @classmethod
    def _webhook_path(cls, value: str) -> str:
        value = value.strip()
        if not value.startswith("/") or any(c.isspace() for c in value) or "?" in value:
            raise ValueError("must be a URL path starting with /, like /telegram/webhook")
        return value

    @field_validator("webhook_listen_host")
    @classmethod
    def _listen_host(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must be an address to listen on, like 0.0.0.0")
        return value

    @field_validator("topup_presets", mode="before")
    @classmethod
    def _presets(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
        return value

    @field_validator("topup_min", "topup_max", "topup_presets")
    @classmethod
    def _cents(cls, value: Any) -> Any:
        for amount in value if isinstance(value, list) else [value]:
            if amount <= 0 or amount != amount.quantize(Decimal("0.01")):
                raise ValueError("amounts must be positive with at most 2 decimals, like 10 or 12.50")
        return value

    @field_validator("panel_flat_rate_types", mode="before")
    @classmethod
    def _flat_types(cls, value: Any) -> Any:
        from bot.panel.parsing import normalize_service_type

        if isinstance(value, str):
            value = [part for part in value.replace(";", ",").split(",") if part.strip()]
        if isinstance(value, list | tuple | set | frozenset):
            return [normalize_service_type(str(part)) for part in value]
        return value

    @field_validator("stars_rate", "panel_currency_rate", mode="before")
    @classmethod
    def _stars_rate(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return value

    @field_validator("crypto_pay_token", mode="before")
    @classmethod
    def _crypto_pay_token(cls, value: Any) -> Any:
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        raw = str(raw).strip()
        head, _, tail = raw.partition(":")
        if not head.isdecimal() or not tail or any(char.isspace() for char in tail):
            raise ValueError("must look like 12345:AAzQcZ... (the token @CryptoBot's Crypto Pay gives)")
        return raw

    @field_validator("crypto_pay_api_url")
    @classmethod
    def _crypto_pay_url(cls, value: str) -> str:
        value = value.strip()
        if not value.startswith(("http://", "https://")):
            raise ValueError(
                "must be https://pay.crypt.bot/api (mainnet) or https://testnet-pay.crypt.bot/api"
            )
        return value.rstrip("/")

    @field_validator("crypto_pay_webhook_path")
    @classmethod
    def _crypto_pay_path(cls, value: str) -> str:
        value = value.strip()
        if not value.startswith("/") or any(c.isspace() for c in value) or "?" in value:
            raise ValueError("must be a URL path starting with /, like /payments/cryptopay")
        return value

    @model_validator(mode="after")
    def _topup_range(self) -> Settings:
        if self.topup_min > self.topup_max:
            raise ValueError("TOPUP_MIN must not be above TOPUP_MAX")
        if self.webhook_enabled and self.crypto_pay_webhook_path == self.webhook_path:
            raise ValueError("CRYPTO_PAY_WEBHOOK_PATH must differ from WEBHOOK_PATH")
        return self

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        """A code as panels and payment providers write it (USD, RUB, USDT): compared with the
        panel's balance currency, so "dollars" would stop sales instead of naming the mistake."""
        code = value.strip().upper()
        if not re.fullmatch(r"[A-Z]{3,5}", code):
            raise ValueError("must be a currency code like USD, EUR or RUB")
        return code

    @field_validator("instance_id")
    @classmethod
    def _instance_id(cls, value: str) -> str:
        value = value.strip()
        if not value or len(value) > 64:
            raise ValueError("must be 1-64 characters")
        return value

    @property
    def webhook_enabled(self) -> bool:
        return self.webhook_url is not None

    @property
    def stars_enabled(self) -> bool:
        return self.stars_rate is not None

    @property
    def cryptopay_enabled(self) -> bool:
        return self.crypto_pay_token is not None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def heartbeat_path(self) -> Path:
        """HEARTBEAT_FILE, else `smmbot.heartbeat` beside the SQLite file (else in ./data)."""
        if self.heartbeat_file and self.heartbeat_file.strip():
            return Path(self.heartbeat_file.strip())
        database = self.sqlite_path()
        return (database.parent if database is not None else Path("data")) / "smmbot.heartbeat"

    def sqlite_path(self) -> Path | None:
        """The database file of a SQLite URL, so start-up can create its folder."""
        if not self.is_sqlite:
            return None
        _, _, rest = self.database_url.partition(":///")
        if not rest or rest.startswith(":memory:"):
            return None
        return Path(rest)


def format_validation_error(error: ValidationError) -> str:
    """One line per bad setting, naming the environment variable, never echoing its value."""
    lines = []
    for item in error.errors():
        name = "_".join(str(part) for part in item["loc"][:1]).upper() or "SETTINGS"
        if item["type"] == "missing":
            lines.append(f"Configuration error: {name} is not set")
        else:
            message = str(item["msg"]).removeprefix("Value error, ")
            lines.append(f"Configuration error: {name}: {message[:1].lower()}{message[1:]}")
    return "\n".join(lines)


def load_settings(**overrides: Any) -> Settings:
    """Read settings; raise ConfigError with a readable message instead of a traceback."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise ConfigError(format_validation_error(error)) from None
