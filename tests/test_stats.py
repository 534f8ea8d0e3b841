"""Statistics from a known history, checked against numbers worked out by hand."""

from __future__ import annotations

import datetime as dt
import io
import warnings
from pathlib import Path

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from models import OutboxMessage, Rating
from models.db import make_sessionmaker
from services import report_files, stats, sweeps
from services.clock import ManualClock
from services.context import ServiceContext
from services.texts import t
from services.tickets import Draft, Route
from tests.bot_double import Harness
from tests.conftest import TZ, Org
from tests.helpers import new_resident


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=TZ)


async def history(session: AsyncSession, ctx: ServiceContext, clock: ManualClock,
                  org: Org) -> None:
    """Five tickets; the expectations in the test below are worked out from this."""
    life = ctx.lifecycle(session)
    cg, zj, gd = (await org.unit("CG")).id, (await org.unit("ZJ")).id, (await org.unit("GD")).id
    worker = await org.person("staff-cg-1")
    zj_staff = await org.person("staff-zj-1")
    dispatcher = await org.person("staff-dispatch-1")
    caller = await org.person("staff-callback-1")
    resident = await new_resident(session, clock, 8001)

    async def submit(when: dt.datetime, route: Route | None) -> object:
        clock.set(when)
        return await life.submit(resident, Draft(text="路灯坏了"), route)

    # T5: before the period; resolved (on time) inside it.
    t5 = await submit(at(30, 9, month=10), Route(cg, "城乡建设", 0.9))
    clock.set(at(30, 10, month=10))
    await life.accept(t5, worker)
    clock.set(at(2, 8, 45))
    await life.resolve(t5, worker, "修好了")
    # T1: auto, accepted in 30 min, resolved on time, rated 满意.
    t1 = await submit(at(2, 9), Route(cg, "城乡建设", 0.9))
    clock.set(at(2, 9, 30))
    await life.accept(t1, worker)
    clock.set(at(3, 10))
    await life.resolve(t1, worker, "修好了")
    clock.set(at(3, 11))
    await life.rate(t1, resident, Rating.SATISFIED)
    # T2: auto, accepted late (6 h), resolved late, 不满意 twice, then 基本满意 by phone.
    t2 = await submit(at(2, 10), Route(cg, "城乡建设", 0.9))
    clock.set(at(2, 16))
    await life.accept(t2, worker)
    clock.set(at(9, 10))
    await life.resolve(t2, worker, "处理中")
    clock.set(at(9, 11))
    await life.rate(t2, resident, Rating.UNSATISFIED)
    clock.set(at(9, 11, 30))
    await life.accept(t2, worker)
    clock.set(at(10, 10))
    await life.resolve(t2, worker, "再次处理")
    clock.set(at(10, 11))
    await life.rate(t2, resident, Rating.UNSATISFIED)
    clock.set(at(11, 9))
    await life.accept(t2, worker)
    clock.set(at(11, 10))
    await life.resolve(t2, worker, "彻底修好")
    clock.set(at(13, 10, 30))
    await life.mark_callback_due(t2)
    clock.set(at(13, 11))
    await life.record_callback(t2, caller, Rating.BASIC)
    # T3: triaged, assigned to ZJ by the dispatcher, resolved, never reached: 未回访.
    t3 = await submit(at(4, 9), None)
    clock.set(at(4, 9, 10))
    await life.assign(t3, dispatcher, zj)
    clock.set(at(4, 9, 20))
    await life.accept(t3, zj_staff)
    clock.set(at(5, 9))
    await life.resolve(t3, zj_staff, "已处理")
    clock.set(at(9, 9))
    await life.mark_callback_due(t3)
    for hour in (10, 11, 12):
        clock.set(at(9, hour))
        await life.record_callback(t3, caller, None)
    # T4: auto to CG, re-routed to GD by the dispatcher (a correction), never done.
    t4 = await submit(at(5, 9), Route(cg, "城乡建设", 0.9))
    clock.set(at(5, 9, 5))
    await life.assign(t4, dispatcher, gd, reroute=True, router_wrong=True)
    await session.commit()


async def test_figures_match_the_hand_count(session: AsyncSession, org: Org,
                                            ctx: ServiceContext, clock: ManualClock) -> None:
    await history(session, ctx, clock, org)
    start, end = stats.parse_period("2026-11", dt.date(2026, 11, 30), TZ)
    report = await stats.compute(session, start, end, at(30, 12), ctx.calendar)
    f = report.total
    assert (f.received, f.auto_routed, f.triaged, f.corrected) == (4, 3, 1, 1)
    assert (f.assignments, f.responded) == (5, 2)  # T1, T3 accepted within 2 office hours
    assert f.median_accept_minutes == 30.0  # median of 30, 360 and 10 minutes
    assert (f.resolved, f.on_time) == (6, 5)  # T2's first resolve was late
    assert f.overdue_now == 1  # T4
    assert (f.closed, f.closed_satisfied, f.no_callback) == (3, 2, 1)
    assert (f.answered, f.satisfied) == (4, 2)  # 满意, 不满意 ×2, 基本满意
    assert (f.reopened, f.reopened_many) == (2, 1)
    assert f.rates == {"correction_rate": 0.3333, "response_rate": 0.4,
                       "on_time_rate": 0.8333, "resolution_rate": 0.6667,
                       "satisfaction_rate": 0.5, "callback_coverage": 0.6667,
                       "reopen_rate": 0.3333}
    cg, zj, gd = (report.groups[n] for n in ("县城市管理局", "县住房和城乡建设局",
                                                "国网泗水县供电公司"))
    assert (cg.received, cg.resolved, cg.reopened) == (2, 5, 2)  # T1, T2 (+ T5's resolve)
    assert (zj.received, zj.no_callback, gd.received, gd.overdue_now) == (1, 1, 1, 1)
    assert [name for name, _ in stats.ranking(report)][0] == "县住房和城乡建设局"
    # A unit leader's view is their unit only.
    own = await stats.compute(session, start, end, at(30, 12), ctx.calendar,
                              unit_id=(await org.unit("CG")).id)
    assert own.total.received == 2 and set(own.groups) == {"县城市管理局"}
    by_category = await stats.compute(session, start, end, at(30, 12), ctx.calendar,
                                      group="category")
    assert by_category.groups["城乡建设"].received == 3


async def test_chart_workbook_and_text(session: AsyncSession, org: Org, ctx: ServiceContext,
                                       clock: ManualClock) -> None:
    await history(session, ctx, clock, org)
    start, end = stats.parse_period("2026-11", dt.date(2026, 11, 30), TZ)
    report = await stats.compute(session, start, end, at(30, 12), ctx.calendar)
    text = report_files.summary_text(report, TZ)
    assert "受理 4 件" in text and "按时办结率 83.3%" in text and "1. 县住房和城乡建设局" in text
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing CJK glyph is a warning: fail on it
        png = report_files.chart_png(report)
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    wb = load_workbook(io.BytesIO(await report_files.workbook(session, report, TZ)))
    assert wb.sheetnames[0] == "汇总" and wb.sheetnames[-1] == "诉求清单"
    assert "县城市管理局" in wb.sheetnames
    assert wb["诉求清单"].max_row == 5  # header + the four tickets received in November


async def test_stats_in_chat_and_refused_to_residents(harness: Harness, org: Org,
                                                      ctx: ServiceContext,
                                                      clock: ManualClock,
                                                      session: AsyncSession) -> None:
    await history(session, ctx, clock, org)
    clock.set(at(30, 12))
    dispatcher = harness.user((await org.person("staff-dispatch-1")).tg_user_id or 0)
    await dispatcher.say("/stats 2026-11")
    assert "受理 4 件" in dispatcher.inbox[-2].text
    calls = [type(c).__name__ for c in harness.recorder.calls]
    assert "SendPhoto" in calls
    await dispatcher.say("/stats export 2026-11")
    assert dispatcher.last.text.startswith("统计明细 2026-11-01")
    await dispatcher.say("/stats 2026-13")
    assert dispatcher.last.text == t("stats_usage")
    leader = harness.user((await org.person("staff-cg-leader")).tg_user_id or 0)
    await leader.say("/stats 2026-11")
    assert "受理 2 件" in leader.inbox[-2].text
    resident = harness.user(8100)
    await resident.say("/stats")
    assert resident.last.text == "/stats 仅供单位负责人、县民意诉求受理中心分派员或管理员使用。"


def test_cli_stats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                   capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main
    from tests.conftest import EXAMPLE_ORG

    monkeypatch.chdir(tmp_path)
    for var in ("MINYI_CONFIG", "MINYI_BOT_TOKEN", "MINYI_DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    assert main(["org", "import", str(EXAMPLE_ORG)]) == 0
    capsys.readouterr()
    assert main(["stats", "--from", "2026-11-01", "--to", "2026-11-30", "--xlsx",
                 str(tmp_path / "out.xlsx"), "--png", str(tmp_path / "out.png")]) == 0
    out = capsys.readouterr().out
    assert "受理 0 件" in out and (tmp_path / "out.xlsx").stat().st_size > 0
    assert main(["stats", "--from", "2026-11-30", "--to", "2026-11-01"]) == 2


async def test_monthly_report_once_county_and_each_unit(
        engine: AsyncEngine, session: AsyncSession, org: Org, ctx: ServiceContext,
        clock: ManualClock) -> None:
    await history(session, ctx, clock, org)
    sm = make_sessionmaker(engine)
    clock.set(at(30, 8, 30))  # not the first working day of a month
    assert await sweeps.monthly_report(sm, ctx) == 0
    clock.set(dt.datetime(2026, 12, 1, 8, 30, tzinfo=TZ))  # Tuesday, first working day
    assert await sweeps.monthly_report(sm, ctx) > 0
    assert await sweeps.monthly_report(sm, ctx) == 0  # once, whatever the processes
    start, end = stats.parse_period("2026-11", dt.date(2026, 11, 30), TZ)
    cg = await org.unit("CG")
    own = await stats.compute(session, start, end, clock.now(), ctx.calendar, unit_id=cg.id)
    leader, admin = await org.person("staff-cg-leader"), await org.person("staff-admin-1")
    sent = {r.chat_id: r.text for r in await session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.kind == "monthly_report"))}
    assert sent[leader.tg_user_id] == t(
        "ob_monthly_report", summary=report_files.summary_text(own, TZ, top=0))
    assert "受理 4 件" in sent[admin.tg_user_id] and "单位排名" in sent[admin.tg_user_id]
