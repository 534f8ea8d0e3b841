"""The `minyi` command, called in-process as the console script would call it."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot.cli import main
from models import migrate
from services.texts import plain
from tests.conftest import EXAMPLE_ORG, external_url, pg_url, reset_postgres
from tests.procs import free_port


@pytest.fixture
def sqlite_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for var in ("MINYI_CONFIG", "MINYI_BOT_TOKEN", "MINYI_DATABASE_URL", "MINYI_REDIS_URL"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for command in ("run", "db", "org", "calendar", "doctor"):
        assert command in out


def test_calendar_due_over_national_day(sqlite_env: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calendar", "due", "2026-09-30T10:00", "--days", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == ["2026-10-10T10:00:00+08:00", "2026年10月10日 10:00（星期六）"]
    assert main(["calendar", "due", "yesterday"]) == 2
    assert "无法解析时间" in capsys.readouterr().err


def test_calendar_due_into_an_uncovered_year_warns(sqlite_env: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calendar", "due", "2026-12-31T10:00"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("2027-01-05T10:00:00+08:00")
    assert "2027 年没有官方节假日数据" in captured.err


def test_import_then_doctor_reports_a_healthy_install(
        sqlite_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor"]) == 1  # nothing there yet: doctor looks, it does not create
    assert "请运行 minyi db upgrade" in capsys.readouterr().out
    assert main(["org", "import", str(EXAMPLE_ORG)]) == 0
    assert "places: 新增 92" in capsys.readouterr().out
    assert main(["org", "import", str(EXAMPLE_ORG)]) == 0
    assert "units: 新增 0，更新 0" in capsys.readouterr().out
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    head = migrate.head_revision()
    assert "✓ database: sqlite" in out and f"✓ migrations: 当前 {head}，最新 {head}" in out
    assert "✓ org: 52 个网格" in out and "状态：正常" in out
    assert "✓ errands: " + plain("doctor_errands_ok", venues=1) in out
    assert (sqlite_env / "minyi.db").exists()


def test_doctor_pings_redis_when_configured(sqlite_env: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """Conversation state, the per-user lock and flood control live in Redis: a replica
    that cannot reach it fails every update, so doctor (like /health) fails. The URL is
    shown without its password."""
    assert main(["org", "import", str(EXAMPLE_ORG)]) == 0
    assert main(["doctor"]) == 0
    assert "redis" not in capsys.readouterr().out  # not configured: not checked
    port = free_port()  # nothing listens there
    monkeypatch.setenv("MINYI_REDIS_URL", f"redis://:s3cret@127.0.0.1:{port}/0")
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    shown = f"redis://:***@127.0.0.1:{port}/0"
    failed = plain("doctor_redis_fail", url=shown, error="\0").split("\0")[0]
    assert f"✗ redis: {failed}ConnectionError" in out, out
    assert "s3cret" not in out and "状态：有错误" in out
    url = external_url("TEST_REDIS_URL")
    monkeypatch.setenv("MINYI_REDIS_URL", url)
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "✓ redis: " + plain("doctor_redis_ok", url=url) in out and "状态：正常" in out


def test_doctor_warns_of_a_rota_day_with_nobody(sqlite_env: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Saturday's only volunteer leaves the rota and Sunday's leaves the team: an errand
    wanted those days can only wait for the organiser; doctor says so (a warning)."""
    org = sqlite_env / "org.toml"
    text = EXAMPLE_ORG.read_text(encoding="utf-8").replace('sat = ["vol-3"]', "sat = []")
    org.write_text(text, encoding="utf-8")
    assert main(["org", "import", str(org)]) == 0
    with sqlite3.connect(sqlite_env / "minyi.db") as conn:
        conn.execute("UPDATE people SET active = 0 WHERE code = 'vol-2'")  # sun = ["vol-2"]
    capsys.readouterr()
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert ("! errands: " + plain("doctor_errands_gaps", venues=1, gaps=plain(
        "doctor_errands_gap", name="泗河社区红帆驿站", code="RS-SHJD-01", days="周六、周日"))
        in out)
    assert "状态：正常" in out


def test_bad_org_file_is_refused_with_lines(sqlite_env: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    bad = sqlite_env / "bad.toml"
    bad.write_text('[[units]]\ncode = "A"\nname = "甲"\nparent = "ZZ"\n', encoding="utf-8")
    assert main(["org", "import", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "导入失败，未写入任何数据" in err and "第1行 [[units]] code='A'" in err
    assert main(["org", "import", "missing.toml"]) == 2


def test_bad_config_names_the_key(sqlite_env: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    (sqlite_env / "config.toml").write_text("[deadlines]\nworking_days = -1\n")
    assert main(["doctor"]) == 2
    assert "deadlines.working_days" in capsys.readouterr().err


def test_run_without_token_says_so(sqlite_env: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run"]) == 2
    assert "MINYI_BOT_TOKEN" in capsys.readouterr().err


def test_postgres_needs_explicit_upgrade_then_is_healthy(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    url = pg_url()
    asyncio.run(reset_postgres(url))
    monkeypatch.setenv("MINYI_DATABASE_URL", url)
    assert main(["doctor"]) == 1
    assert "请运行 minyi db upgrade" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0
    assert f"schema revision: {migrate.head_revision()}" in capsys.readouterr().out
    assert main(["org", "import", str(EXAMPLE_ORG)]) == 0
    assert main(["doctor"]) == 0
    assert "✓ database: postgresql" in capsys.readouterr().out


def test_invite_prints_a_one_time_link_and_outbox_status(
        sqlite_env: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MINYI_BOT_USERNAME", "sishui_minyi_bot")
    assert main(["invite", "unit_staff", "--unit", "CG", "--name", "王五"]) == 2
    assert "单位代码 CG 不存在" in capsys.readouterr().err  # no org imported yet
    assert main(["org", "import", str(EXAMPLE_ORG)]) == 0
    capsys.readouterr()
    assert main(["invite", "unit_staff", "--unit", "NOPE", "--name", "王五"]) == 2
    assert "单位代码 NOPE 不存在" in capsys.readouterr().err
    assert main(["invite", "grid_worker", "--grid", "SS-SHJD-01-G1", "--name", "王五"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("https://t.me/sishui_minyi_bot?start=") and "只能使用一次" in out
    assert main(["invite", "--person", "staff-cg-1"]) == 0
    assert "https://t.me/sishui_minyi_bot?start=" in capsys.readouterr().out
    assert main(["invite", "--person", "nobody"]) == 2
    assert main(["outbox", "status"]) == 0
    out = capsys.readouterr().out
    assert "待发送（pending）：0" in out and "最早的待发送消息：无" in out
