"""Configuration: one TOML file, environment overrides for secrets, validated by pydantic.

Nothing here is global: `load_config()` returns a `Config` that `main()` passes down.
A bad value raises `ConfigError` whose message names the key (``deadlines.working_days``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from services.context import BookingRules, PrivacyTerms
from services.errands import ErrandRules
from services.intake import IntakeRules
from services.outbox import SenderLimits
from services.stats import RATES, Appraisal
from services.tickets import Policy

DEFAULT_PATHS = ("config.toml",)
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def default(cls: type, name: str) -> Any:
    """The default of a service's policy dataclass: each default has one source, the
    service that applies it; the config sections below only bound and document it."""
    f = {f.name: f for f in dataclasses.fields(cls)}[name]
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default

# Environment variable -> dotted config key. Secrets and per-machine values only.
ENV_OVERRIDES = {
    "MINYI_BOT_TOKEN": "telegram.token",
    "MINYI_API_BASE": "telegram.api_base",
    "MINYI_BOT_USERNAME": "telegram.username",
    "MINYI_MODE": "telegram.mode",
    "MINYI_WEBHOOK_URL": "telegram.webhook.url",
    "MINYI_WEBHOOK_SECRET": "telegram.webhook.secret",
    "MINYI_WEBHOOK_PORT": "telegram.webhook.port",
    "MINYI_DATABASE_URL": "database.url",
    "MINYI_REDIS_URL": "redis.url",
    "MINYI_TIMEZONE": "timezone",
    "MINYI_LOG_LEVEL": "log.level",
}


class ConfigError(Exception):
    """Configuration is missing or invalid; the message names the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WebhookConfig(_Section):
    # Loopback: a reverse proxy (nginx, TLS) in front forwards Telegram's requests.
    host: str = "127.0.0.1"
    port: int = Field(8443, ge=1, le=65535)
    path: str = "/telegram/webhook"
    url: str = ""
    secret: SecretStr = SecretStr("")

    @field_validator("path")
    @classmethod
    def _path_starts_with_slash(cls, v: str) -> str:
        if not v.startswith("/"):
            raise ValueError("must start with '/'")
        return v

    @field_validator("secret")
    @classmethod
    def _secret_charset(cls, v: SecretStr) -> SecretStr:
        raw = v.get_secret_value()
        # Telegram allows 1-256 characters of A-Z, a-z, 0-9, _ and -.
        if raw and (len(raw) > 256 or not all(c.isascii() and (c.isalnum() or c in "_-")
                                              for c in raw)):
            raise ValueError("only A-Z, a-z, 0-9, '_' and '-', at most 256 characters")
        return v


class TelegramConfig(_Section):
    token: SecretStr = SecretStr("")
    api_base: str = "https://api.telegram.org"
    username: str = ""
    mode: Literal["polling", "webhook"] = "polling"
    invite_hours: int = Field(72, ge=1, le=24 * 30)
    webhook: WebhookConfig = WebhookConfig()

    @field_validator("api_base")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return v.rstrip("/")

    @model_validator(mode="after")
    def _webhook_needs_url(self) -> TelegramConfig:
        if self.mode == "webhook" and not self.webhook.url:
            raise ValueError("webhook.url is required when mode = \"webhook\"")
        if self.mode == "webhook" and not self.webhook.secret.get_secret_value():
            # Without it anyone who finds the URL can post updates as any user.
            raise ValueError("webhook.secret is required when mode = \"webhook\" "
                             "(minyi webhook secret prints a new one)")
        return self


class DatabaseConfig(_Section):
    url: str = "sqlite+aiosqlite:///minyi.db"
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _supported_driver(cls, v: str) -> str:
        if not v.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("use sqlite+aiosqlite:///FILE or postgresql+asyncpg://USER@HOST/DB")
        return v


class RedisConfig(_Section):
    url: str = ""

    @field_validator("url")
    @classmethod
    def _redis_scheme(cls, v: str) -> str:
        if v and not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis:// URL or empty")
        return v


class DeadlinesConfig(_Section):
    working_days: int = Field(default(Policy, "working_days"), ge=1, le=60)
    unit_days: dict[str, int] = default(Policy, "unit_days")
    category_days: dict[str, int] = default(Policy, "category_days")
    reminders: list[str] = list(default(Policy, "reminders"))
    whistle_accept_hours: float = Field(default(Policy, "whistle_accept_hours"), gt=0, le=72)
    digest_time: dt.time = dt.time(9, 0)
    sweep_seconds: int = Field(30, ge=5, le=3600)

    @field_validator("reminders")
    @classmethod
    def _reminder_specs(cls, v: list[str]) -> list[str]:
        for spec in v:
            if not re.fullmatch(r"\d+(\.\d+)?[dh]", spec) or (spec.endswith("d")
                                                             and "." in spec):
                raise ValueError(f"{spec!r}: use \"1d\" (working days) or \"4h\" "
                                 "(office hours)")
        return v

    @field_validator("unit_days", "category_days")
    @classmethod
    def _positive_days(cls, v: dict[str, int]) -> dict[str, int]:
        for key, days in v.items():
            if not 1 <= days <= 60:
                raise ValueError(f"{key}: working days must be 1-60")
        return v


class CalendarConfig(_Section):
    extra_holidays: list[dt.date] = []
    extra_workdays: list[dt.date] = []
    work_start: dt.time = dt.time(8, 30)
    work_end: dt.time = dt.time(17, 30)


class CallbacksConfig(_Section):
    max_unreachable: int = Field(default(Policy, "max_unreachable"), ge=1, le=20)
    wait_days: int = Field(default(Policy, "callback_wait_days"), ge=1, le=30)


class RoutingConfig(_Section):
    table: str = ""  # empty: the table shipped in routing/default_table.toml
    min_confidence: float = Field(0.65, ge=0.0, le=1.0)
    # For `minyi route` and `minyi routing eval` (the bot reads the imported catalogue from
    # the database): the catalogue file and the org file whose place names are known.
    catalogue: str = ""  # empty: examples/sishui_catalogue.toml
    org: str = ""  # empty: examples/sishui.toml

    @property
    def table_path(self) -> Path:
        from routing.table import DEFAULT_TABLE

        return Path(self.table) if self.table else DEFAULT_TABLE

    @property
    def catalogue_path(self) -> Path:
        return Path(self.catalogue) if self.catalogue else EXAMPLES / "sishui_catalogue.toml"

    @property
    def org_path(self) -> Path:
        return Path(self.org) if self.org else EXAMPLES / "sishui.toml"


class IntakeConfig(_Section):
    max_text: int = Field(default(IntakeRules, "max_text"), ge=50, le=4000)
    min_text_chars: int = Field(default(IntakeRules, "min_text_chars"), ge=1, le=50)
    max_photos: int = Field(default(IntakeRules, "max_photos"), ge=0, le=10)
    max_attachments: int = Field(default(IntakeRules, "max_attachments"), ge=0, le=10)
    max_km: float = Field(default(IntakeRules, "max_km"), gt=0, le=200)
    page_size: int = Field(default(IntakeRules, "page_size"), ge=1, le=20)


class FloodConfig(_Section):
    limit: int = Field(20, ge=1, le=1000)
    window_seconds: float = Field(10.0, gt=0, le=3600)


class OutboxConfig(_Section):
    max_per_second: float = Field(default(SenderLimits, "max_per_second"), gt=0, le=1000)
    per_chat_seconds: float = Field(default(SenderLimits, "per_chat_seconds"), ge=0, le=60)
    max_attempts: int = Field(default(SenderLimits, "max_attempts"), ge=1, le=100)
    backoff_cap_seconds: float = Field(default(SenderLimits, "backoff_cap_seconds"), ge=1,
                                       le=86400)
    lease_seconds: float = Field(default(SenderLimits, "lease_seconds"), ge=10, le=86400)
    idle_poll_seconds: float = Field(default(SenderLimits, "idle_poll_seconds"), ge=0.1,
                                     le=300)


class AppointmentsConfig(_Section):
    max_open: int = Field(default(BookingRules, "max_open"), ge=1, le=20)


_ERRANDS = ErrandRules()


class ErrandsConfig(_Section):
    """红色代办 (services/errands.py: ErrandRules holds the defaults)."""

    offer_hours: float = Field(_ERRANDS.offer_hours, gt=0, le=72)
    elderly_age: int = Field(_ERRANDS.elderly_age, ge=1, le=120)
    days_ahead: int = Field(_ERRANDS.days_ahead, ge=1, le=30)
    max_open: int = Field(_ERRANDS.max_open, ge=1, le=50)
    hours: float = Field(_ERRANDS.hours, ge=0, le=24)
    points: int = Field(_ERRANDS.points, ge=0, le=1000)
    item_hours: dict[str, float] = Field(default_factory=dict)
    item_points: dict[str, int] = Field(default_factory=dict)
    wish_value_limit: int = Field(_ERRANDS.wish_value_limit, ge=1, le=100_000)
    confirm_remind_hours: float = Field(_ERRANDS.confirm_remind_hours, gt=0, le=720)
    confirm_close_hours: float = Field(_ERRANDS.confirm_close_hours, gt=0, le=720)
    town_step: int = Field(_ERRANDS.town_step, ge=1, le=100)
    volunteer_capacity: int = Field(_ERRANDS.volunteer_capacity, ge=0, le=50)

    def rules(self) -> ErrandRules:
        return ErrandRules(**self.model_dump())


class StatsConfig(_Section):
    response_hours: float = Field(default(Appraisal, "response_hours"), gt=0, le=72)
    monthly_report: bool = True
    # The 通报's score: rate name -> weight (they need not add up to 1; they are scaled).
    weights: dict[str, float] = Field(default_factory=lambda: default(Appraisal, "weights"))
    # Target lines on the charts: rate name -> fraction.
    targets: dict[str, float] = Field(default_factory=lambda: default(Appraisal, "targets"))

    @field_validator("weights", "targets")
    @classmethod
    def _known_rates(cls, v: dict[str, float]) -> dict[str, float]:
        for name, value in v.items():
            if name not in RATES:
                raise ValueError(f"unknown rate {name!r} (one of {', '.join(RATES)})")
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must be between 0 and 1")
        return v

    @field_validator("weights")
    @classmethod
    def _some_weight(cls, v: dict[str, float]) -> dict[str, float]:
        if not sum(v.values()):
            raise ValueError("at least one weight must be above 0")
        return v

    def appraisal(self) -> Appraisal:
        return Appraisal(self.response_hours, dict(self.weights), dict(self.targets))


class PrivacyConfig(_Section):
    # Days after a ticket closes until its personal fields (text, phone, place, photos)
    # and its messages are cleared; the ticket stays, for the statistics.
    retention_days: int = Field(default(PrivacyTerms, "retention_days"), ge=1, le=3650)
    # An abandoned conversation draft (我要反映 half done) is deleted after these hours.
    draft_hours: int = Field(default(PrivacyTerms, "draft_hours"), ge=1, le=24 * 90)


class LogConfig(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class Config(_Section):
    timezone: str = "Asia/Shanghai"
    telegram: TelegramConfig = TelegramConfig()
    database: DatabaseConfig = DatabaseConfig()
    redis: RedisConfig = RedisConfig()
    deadlines: DeadlinesConfig = DeadlinesConfig()
    calendar: CalendarConfig = CalendarConfig()
    callbacks: CallbacksConfig = CallbacksConfig()
    routing: RoutingConfig = RoutingConfig()
    intake: IntakeConfig = IntakeConfig()
    flood: FloodConfig = FloodConfig()
    outbox: OutboxConfig = OutboxConfig()
    appointments: AppointmentsConfig = AppointmentsConfig()
    errands: ErrandsConfig = ErrandsConfig()
    stats: StatsConfig = StatsConfig()
    privacy: PrivacyConfig = PrivacyConfig()
    log: LogConfig = LogConfig()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def _set_dotted(data: dict, dotted: str, value: str) -> None:
    *parents, leaf = dotted.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"配置错误 {dotted}: 上级键 {part} 不是表")
    node[leaf] = value


def _format_error(exc: ValidationError, source: str) -> str:
    lines = [f"配置错误（{source}）："]
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        lines.append(f"  {key}: {err['msg']}")
    return "\n".join(lines)


def load_config(path: str | Path | None = None, env: dict[str, str] | None = None) -> Config:
    """Read the TOML file (explicit path, $MINYI_CONFIG, ./config.toml, or none) and env."""
    env = dict(os.environ if env is None else env)
    explicit = path or env.get("MINYI_CONFIG")
    data: dict = {}
    source = "内置默认值"
    if explicit:
        file = Path(explicit)
        if not file.is_file():
            raise ConfigError(f"配置文件不存在：{file}")
    else:
        file = next((Path(p) for p in DEFAULT_PATHS if Path(p).is_file()), None)
    if file is not None:
        source = str(file)
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"配置文件 {file} 不是有效的 TOML：{exc}") from exc
    for var, dotted in ENV_OVERRIDES.items():
        if env.get(var):
            _set_dotted(data, dotted, env[var])
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_error(exc, source)) from exc
