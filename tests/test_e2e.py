"""The real `minyi run` process against the Bot API emulator, on loopback only.

Polling and webhook mode; the full life of a request across roles; SIGKILL in the middle
of a conversation and of an outbox drain, then a restart.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.emulator import Emulator
from services.texts import t
from tests.conftest import EXAMPLE_CATALOGUE, EXAMPLE_ORG, ROOT
from tests.procs import (
    BotProcess,
    button,
    emulator,
    example_db,
    free_port,
    last_text,
    press_and_wait,
    say_and_wait,
    until,
    webhook_config,
)

RESIDENT, GRID = 31001, 31002
LAMP = "泗河社区小区路灯坏了好几天，晚上出行很不方便，请尽快维修"


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with emulator({RESIDENT: "张三", GRID: "王网格"}) as running:
        yield running


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example county in a SQLite file; the grid worker bound to a Telegram id."""
    return example_db(tmp_path, monkeypatch, (EXAMPLE_ORG, EXAMPLE_CATALOGUE),
                      {GRID: "grid-shjd-1"})


def routed_to(db: Path) -> tuple[str, str]:
    """The newest ticket's unit name and the rule that chose it."""
    with sqlite3.connect(db) as conn:
        name, routing = conn.execute(
            "SELECT units.name, tickets.routing FROM tickets JOIN units ON units.id = "
            "tickets.unit_id ORDER BY tickets.id DESC LIMIT 1").fetchone()
    return name, json.loads(routing)["rule"]


def ticket_row(db: Path) -> tuple[str, str, int, str | None]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT number, state, reopen_count, outcome FROM tickets").fetchone()


async def submit_by_chat(emu: Emulator) -> None:
    await say_and_wait(emu, RESIDENT, "/start", "民意快车")
    await say_and_wait(emu, RESIDENT, t("btn_report"), "请用文字描述")
    await say_and_wait(emu, RESIDENT, LAMP, "也可以选择所在镇街")
    before = len(emu.bot_texts(RESIDENT))
    await emu.send_photo(RESIDENT, b"\x89PNG fake")
    await until(lambda: len(emu.bot_texts(RESIDENT)) > before)
    await emu.send_location(RESIDENT, 35.6726, 117.2626)
    await until(lambda: "请留一个联系电话" in last_text(emu, RESIDENT))
    await emu.send_contact(RESIDENT, "+8613805371234")
    await until(lambda: "请核对" in last_text(emu, RESIDENT))
    await press_and_wait(emu, RESIDENT, "确认提交", RESIDENT, "提交成功")


async def test_full_life_in_polling_mode(emu: Emulator, db: Path, tmp_path: Path) -> None:
    bot = BotProcess(emu, db, tmp_path)
    bot.start()
    try:
        await until(lambda: "getUpdates" in emu.calls, 60)
        await submit_by_chat(emu)
        number, state, _, _ = ticket_row(db)
        assert state == "assigned"
        assert routed_to(db) == ("县城市管理局", "matter")  # 路灯 is 城管's, by the catalogue
        await until(lambda: button(emu, GRID, "接单"))  # pushed by the outbox sender
        await press_and_wait(emu, GRID, "接单", RESIDENT, "已由")
        await press_and_wait(emu, GRID, "进展", GRID, "办理进展")
        await say_and_wait(emu, GRID, "已联系电工", "已记录进展")
        await until(lambda: "已联系电工" in last_text(emu, RESIDENT))
        await press_and_wait(emu, GRID, "办结", GRID, "办理结果")
        await say_and_wait(emu, GRID, "已更换灯泡", "已办结")
        await until(lambda: button(emu, RESIDENT, "未解决"))  # solved? first, then satisfied?
        await press_and_wait(emu, RESIDENT, "未解决", RESIDENT, "问题未解决")
        await press_and_wait(emu, RESIDENT, "不满意", RESIDENT, "重新办理")
        await until(lambda: ticket_row(db)[1] == "assigned")
        await until(lambda: "退回重办" in last_text(emu, GRID))
        await press_and_wait(emu, GRID, "接单", RESIDENT, "已由")
        await press_and_wait(emu, GRID, "办结", GRID, "办理结果")
        await say_and_wait(emu, GRID, "两盏灯都已更换", "已办结")
        await until(lambda: "两盏灯都已更换" in last_text(emu, RESIDENT))
        await press_and_wait(emu, RESIDENT, "已解决", RESIDENT, "问题已解决")
        await press_and_wait(emu, RESIDENT, "满意", RESIDENT, "感谢您的评价")
        await until(lambda: ticket_row(db)[1] == "closed")
        assert ticket_row(db) == (number, "closed", 1, "rated")
    finally:
        await bot.stop()


async def test_place_matter_goes_to_the_town_of_the_shared_location(
        emu: Emulator, db: Path, tmp_path: Path) -> None:
    """A 属地 matter (a quarrel between neighbours) goes to the town of the place the
    resident shares: 泉林村 lies in 泉林镇."""
    with sqlite3.connect(db) as conn:  # someone at the town who can receive it
        conn.execute("UPDATE people SET tg_user_id = 31003 WHERE code = 'staff-ql-1'")
    bot = BotProcess(emu, db, tmp_path)
    bot.start()
    try:
        await until(lambda: "getUpdates" in emu.calls, 60)
        await say_and_wait(emu, RESIDENT, t("btn_report"), "请用文字描述")
        await say_and_wait(emu, RESIDENT, "俺家跟邻居因为宅基地的事闹矛盾好几年了",
                           "也可以选择所在镇街")
        await emu.send_location(RESIDENT, 35.656, 117.496)
        await until(lambda: "请留一个联系电话" in last_text(emu, RESIDENT), 60)
        await emu.send_contact(RESIDENT, "+8613805371234")
        await until(lambda: "请核对" in last_text(emu, RESIDENT))
        await press_and_wait(emu, RESIDENT, "确认提交", RESIDENT, "提交成功")
        assert routed_to(db) == ("泉林镇人民政府", "place")
        assert "泉林镇人民政府" in last_text(emu, RESIDENT)
    finally:
        await bot.stop()


async def test_webhook_mode_checks_the_secret(emu: Emulator, db: Path, tmp_path: Path) -> None:
    port = free_port()
    webhook_config(tmp_path, port, "e2e-secret")
    bot = BotProcess(emu, db, tmp_path)
    bot.start()
    try:
        await until(lambda: emu.webhook.get("url") == f"http://127.0.0.1:{port}/tg", 60)
        assert emu.webhook["secret"] == "e2e-secret"
        async with aiohttp.ClientSession() as http:
            forged = {"update_id": 999, "message": {
                "message_id": 1, "date": 0, "chat": {"id": RESIDENT, "type": "private"},
                "from": {"id": RESIDENT, "is_bot": False, "first_name": "x"}, "text": "/start"}}
            async with http.post(f"http://127.0.0.1:{port}/tg", json=forged) as resp:
                assert resp.status == 401
        assert emu.bot_texts(RESIDENT) == []
        await say_and_wait(emu, RESIDENT, "/start", "民意快车")
        await say_and_wait(emu, RESIDENT, t("btn_my"), "您还没有提交过诉求")
    finally:
        await bot.stop()


async def test_sigkill_mid_conversation_and_mid_drain(emu: Emulator, db: Path,
                                                      tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[outbox]\nlease_seconds = 10\n", encoding="utf-8")
    bot = BotProcess(emu, db, tmp_path)
    bot.start()
    try:
        await until(lambda: "getUpdates" in emu.calls, 60)
        await say_and_wait(emu, RESIDENT, t("btn_report"), "请用文字描述")
        await say_and_wait(emu, RESIDENT, LAMP, "也可以选择所在镇街")
        bot.kill()  # mid-conversation
        bot.start()
        await emu.send_location(RESIDENT, 35.6726, 117.2626)
        await until(lambda: "请留一个联系电话" in last_text(emu, RESIDENT), 60)
        # An outbox drain: 12 messages to one chat go out at 1/s; kill in the middle.
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        with sqlite3.connect(db) as conn:
            for i in range(12):
                conn.execute(
                    "INSERT INTO outbox (chat_id, kind, text, keyboard, photos, priority, "
                    "not_before, attempts, parts_sent, state, last_error, created_at) VALUES "
                    "(?, 'info', ?, NULL, '[]', 5, ?, 0, 0, 'pending', '', ?)",
                    (GRID, f"drain-{i}", now, now))
        await until(lambda: sum(x.startswith("drain-") for x in emu.bot_texts(GRID)) >= 4)
        bot.kill()
        bot.start()
        await until(lambda: {f"drain-{i}" for i in range(12)} <= set(emu.bot_texts(GRID)), 90)
        drained = [x for x in emu.bot_texts(GRID) if x.startswith("drain-")]
        # Nothing lost. A kill between Telegram's "ok" and the commit can repeat the one
        # message in flight (the Bot API has no idempotency key); nothing else repeats.
        assert set(drained) == {f"drain-{i}" for i in range(12)}
        assert len(drained) - 12 <= 1, sorted(drained)
    finally:
        await bot.stop()
    assert (ROOT / "bot" / "__main__.py").exists()
