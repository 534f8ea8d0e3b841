"""红色代办 through the real `minyi run` process and the Bot API emulator (loopback only):
点单 in chat → 按轮值派单 → 接单 → 已上门 → 已完成 → 满意, each pushed by the outbox."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.emulator import Emulator
from services.texts import plain, t
from tests.conftest import EXAMPLE_ORG
from tests.procs import (
    BotProcess,
    button,
    emulator,
    example_db,
    last_text,
    press_and_wait,
    say_and_wait,
    until,
)

RESIDENT, ORGANISER = 32001, 32002
VOLUNTEERS = {32003: "vol-1", 32004: "vol-2", 32005: "vol-3"}


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with emulator({user: f"u{user}" for user in (RESIDENT, ORGANISER, *VOLUNTEERS)}
                        ) as running:
        yield running


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return example_db(tmp_path, monkeypatch, (EXAMPLE_ORG,),
                      {ORGANISER: "org-shjd-01", **VOLUNTEERS})


def errand_state(db: Path) -> str | None:
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT state FROM errands").fetchone()
    return row[0] if row else None


async def test_errand_through_the_real_process(emu: Emulator, db: Path,
                                               tmp_path: Path) -> None:
    bot = BotProcess(emu, db, tmp_path)
    bot.start()
    try:
        await until(lambda: "getUpdates" in emu.calls, 60)
        await say_and_wait(emu, RESIDENT, t("btn_errand"), "请选择红帆驿站")
        await press_and_wait(emu, RESIDENT, "泗河社区红帆驿站", RESIDENT, "可代办的事项")
        await press_and_wait(emu, RESIDENT, "代缴水电燃气费", RESIDENT, "为谁办理")
        await press_and_wait(emu, RESIDENT, plain("btn_errand_other"), RESIDENT, "姓名")
        await say_and_wait(emu, RESIDENT, "李爷爷", "年龄")
        await say_and_wait(emu, RESIDENT, "82", "上门地址")
        await say_and_wait(emu, RESIDENT, "泗河社区7号楼1单元302", "联系电话")
        await say_and_wait(emu, RESIDENT, "13805370000", "重点关爱")
        await press_and_wait(emu, RESIDENT, plain("errand_care_"), RESIDENT, "哪天")
        await press_and_wait(emu, RESIDENT, "周", RESIDENT, "时段")  # the first day offered
        await press_and_wait(emu, RESIDENT, plain("errand_window_any"), RESIDENT, "请确认")
        await press_and_wait(emu, RESIDENT, plain("btn_errand_confirm"), RESIDENT, "已点单")
        assert errand_state(db) == "ordered"

        await until(lambda: button(emu, ORGANISER, plain("btn_errand_auto")))
        assert "13805370000" in last_text(emu, ORGANISER)
        await press_and_wait(emu, ORGANISER, plain("btn_errand_auto"), ORGANISER, "已派给")
        offered = await until(lambda: next(
            (v for v in VOLUNTEERS if button(emu, v, plain("btn_errand_accept"))), None))
        assert "13805370000" not in last_text(emu, offered)
        await press_and_wait(emu, offered, plain("btn_errand_accept"), RESIDENT, "已由志愿者")
        assert "13805370000" in last_text(emu, offered)
        await press_and_wait(emu, offered, plain("btn_errand_visit"), RESIDENT, "已上门")
        await press_and_wait(emu, offered, plain("btn_errand_complete"), offered, "办理结果")
        await say_and_wait(emu, offered, "电费已代缴，回执已交给李爷爷", "已完成")
        await until(lambda: button(emu, RESIDENT, plain("btn_errand_basic")))
        await press_and_wait(emu, RESIDENT, plain("btn_errand_basic"), RESIDENT, "感谢评价")
        await until(lambda: "积分 10" in last_text(emu, offered))
        assert errand_state(db) == "closed"
    finally:
        await bot.stop()
