import re
import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel

from bot.config import Config, ConfigError, load_config

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_any_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(env={})
    assert config.database.url == "sqlite+aiosqlite:///minyi.db"
    assert config.timezone == "Asia/Shanghai"
    assert config.deadlines.working_days == 3
    assert config.telegram.mode == "polling"
    assert config.telegram.api_base == "https://api.telegram.org"
    assert config.redis.url == ""


def test_environment_overrides_secrets(tmp_path: Path) -> None:
    path = write(tmp_path, '[telegram]\ntoken = "1:file"\n')
    config = load_config(path, env={
        "MINYI_BOT_TOKEN": "123:env", "MINYI_DATABASE_URL": "postgresql+asyncpg://u@h/db",
        "MINYI_REDIS_URL": "redis://127.0.0.1:6379/1", "MINYI_WEBHOOK_SECRET": "s3cr-et_"})
    assert config.telegram.token.get_secret_value() == "123:env"
    assert config.database.url == "postgresql+asyncpg://u@h/db"
    assert config.redis.url == "redis://127.0.0.1:6379/1"
    assert config.telegram.webhook.secret.get_secret_value() == "s3cr-et_"
    assert "123:env" not in repr(config)  # secrets never printed


@pytest.mark.parametrize(("text", "key"), [
    ("[deadlines]\nworking_days = 0\n", "deadlines.working_days"),
    ("[deadlines]\nworking_days = \"three\"\n", "deadlines.working_days"),
    ('timezone = "Mars/Olympus"\n', "timezone"),
    ('[telegram]\nmode = "carrier-pigeon"\n', "telegram.mode"),
    ('[telegram]\nmode = "webhook"\n', "telegram"),
    ('[telegram]\nmode = "webhook"\n[telegram.webhook]\nurl = "https://x.cn"\n', "telegram"),
    ('[telegram.webhook]\nport = 70000\n', "telegram.webhook.port"),
    ('[telegram.webhook]\nsecret = "has space"\n', "telegram.webhook.secret"),
    ('[database]\nurl = "mysql://x"\n', "database.url"),
    ('[calendar]\nextra_holidays = ["2027-13-01"]\n', "calendar.extra_holidays.0"),
    ("[deadlines]\nworkdays = 3\n", "deadlines.workdays"),
    ("[stats]\nweights = { speed = 1.0 }\n", "stats.weights"),
    ("[stats]\nweights = { response_rate = 0 }\n", "stats.weights"),
    ("[stats]\ntargets = { satisfaction_rate = 95 }\n", "stats.targets"),
])
def test_wrong_value_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text), env={})
    assert re.search(rf"^\s+{re.escape(key)}: ", str(err.value), re.M), str(err.value)


def test_broken_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="不是有效的 TOML"):
        load_config(write(tmp_path, "[telegram\n"), env={})
    with pytest.raises(ConfigError, match="配置文件不存在"):
        load_config(tmp_path / "nope.toml", env={})


def _keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    keys = set()
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            keys |= _keys(ann, f"{prefix}{name}.")
        else:
            keys.add(prefix + name)
    return keys


def _toml_keys(data: dict, prefix: str = "") -> set[str]:
    keys = set()
    mappings = _keys(Config)  # a key of the model is a value, even when it is a table
    for k, v in data.items():
        # A table is a section; an (empty or mapping-valued) inline table is a value.
        section = isinstance(v, dict) and v and prefix + k not in mappings
        keys |= _toml_keys(v, f"{prefix}{k}.") if section else {prefix + k}
    return keys


def test_example_documents_every_key_and_loads() -> None:
    example = ROOT / "config.example.toml"
    data = tomllib.loads(example.read_text(encoding="utf-8"))
    assert _toml_keys(data) == _keys(Config)
    assert load_config(example, env={}) == Config()
    lines = example.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):  # each key has a comment above it or beside it
        if re.match(r"^\w+\s*=", line):
            assert "#" in line or lines[i - 1].startswith("#"), line
