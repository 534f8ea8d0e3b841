"""Statistics from a known history, checked against numbers worked out by hand."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiogram.methods import SendDocument
from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from models import (
    Booking,
    BookingState,
    Membership,
    OutboxMessage,
    Person,
    Rating,
    Role,
    Slot,
    Ticket,
    TicketEvent,
    TicketState,
    Unit,
    Venue,
)
from models.db import make_sessionmaker
from services import errand_stats, report_files, stats, sweeps
from services.clock import ManualClock
from services.context import ServiceContext
from services.errors import NotAllowed
from services.texts import join, t
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
    await life.rate(t1, resident, Rating.SATISFIED, solved=True)
    # T2: auto, accepted late (6 h), resolved late, 不满意 twice, then 基本满意 by phone.
    t2 = await submit(at(2, 10), Route(cg, "城乡建设", 0.9))
    clock.set(at(2, 16))
    await life.accept(t2, worker)
    clock.set(at(9, 10))
    await life.resolve(t2, worker, "处理中")
    clock.set(at(9, 11))
    await life.rate(t2, resident, Rating.UNSATISFIED, solved=False)
    clock.set(at(9, 11, 30))
    await life.accept(t2, worker)
    clock.set(at(10, 10))
    await life.resolve(t2, worker, "再次处理")
    clock.set(at(10, 11))
    await life.rate(t2, resident, Rating.UNSATISFIED, solved=False)
    clock.set(at(11, 9))
    await life.accept(t2, worker)
    clock.set(at(11, 10))
    await life.resolve(t2, worker, "彻底修好")
    clock.set(at(13, 10, 30))
    await life.mark_callback_due(t2)
    clock.set(at(13, 11))
    await life.record_callback(t2, caller, Rating.BASIC, solved=True)
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
    t4.text = "@SUM(1+1)*cmd|' /C calc'!A0 路灯坏了"  # user text that looks like a formula
    clock.set(at(5, 9, 5))
    await life.assign(t4, dispatcher, gd, reroute=True, router_wrong=True)
    # Two bookings in November: one became T3 (住建), one expected for 城管.
    venue = (await session.scalars(sa.select(Venue).order_by(Venue.id).limit(1))).one()
    slot = Slot(venue_id=venue.id, starts_at=at(16, 9), ends_at=at(16, 10), capacity=5,
                booked=2)
    session.add(slot)
    await session.flush()
    for code, state, ticket_id, unit, topic in (
            ("YYCONV1", BookingState.CONVERTED, t3.id, "ZJ", "=HYPERLINK(\"http://x\",\"点我\")"),
            ("YYBOOK1", BookingState.BOOKED, None, "CG", "+1-2 路灯")):
        session.add(Booking(code=code, resident_id=resident.id, slot_id=slot.id,
                            venue_id=venue.id, starts_at=slot.starts_at, topic=topic,
                            routing={"unit": unit, "target": "城乡建设"}, state=state,
                            ticket_id=ticket_id, created_at=at(10, 9), updated_at=at(10, 9)))
    await session.commit()


APPRAISAL = stats.Appraisal()
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
NOVEMBER = stats.parse_period("2026-11", dt.date(2026, 11, 30), TZ)


async def test_figures_count_tickets_and_match_the_hand_count(
        session: AsyncSession, org: Org, ctx: ServiceContext, clock: ManualClock) -> None:
    await history(session, ctx, clock, org)
    report = await stats.compute(session, *NOVEMBER, at(30, 12), ctx.calendar)
    f = report.total
    assert (f.received, f.auto_routed, f.triaged, f.corrected) == (4, 3, 1, 1)
    assert (f.assigned, f.responded) == (4, 2)  # T1, T3 accepted within 2 office hours
    assert f.median_accept_minutes == 30.0  # median of 30, 360 and 10 minutes
    # Tickets, not events: T2 resolved three times is one resolved ticket (late the first
    # time); T5 (received in October) resolved in November counts.
    assert (f.resolved, f.on_time) == (4, 3)
    assert f.overdue_now == 1  # T4
    assert (f.closed, f.no_callback) == (3, 1)
    assert (f.answered, f.solved, f.satisfied, f.covered) == (2, 2, 2, 2)  # T1, T2 (last)
    assert (f.reopened, f.reopened_many) == (1, 1)  # T2, twice
    assert f.rates == {"correction_rate": 0.3333, "response_rate": 0.5,
                       "on_time_rate": 0.75, "resolution_rate": 1.0,
                       "satisfaction_rate": 1.0, "callback_coverage": 0.5,
                       "reopen_rate": 0.25}
    assert dict(f.appointments) == {"converted": 1, "booked": 1}
    assert len(report.days) == 30 and sum(f.daily_received.values()) == 4
    assert sum(f.daily_resolved.values()) == 4
    cg, zj, gd = (report.groups[n] for n in ("县城市管理局", "县住房和城乡建设局",
                                                "国网泗水县供电公司"))
    assert (cg.received, cg.resolved, cg.reopened) == (2, 3, 1)  # T1, T2 (+ T5)
    assert (zj.received, zj.no_callback, gd.received, gd.overdue_now) == (1, 1, 1, 1)
    assert zj.appointments["converted"] == 1 and cg.appointments["booked"] == 1
    # No denominator: no rate (shown "—"), never 100 %.
    assert zj.rates["satisfaction_rate"] is None and gd.rates["on_time_rate"] is None
    assert report_files.rate_with_counts(zj, "satisfaction_rate") == "—"
    # Score 10 % response + 45 % solved + 45 % satisfied; unscored units after.
    ranked = stats.ranking(report, APPRAISAL.weights)
    assert [(n, s) for n, _, s in ranked] == [("县城市管理局", 95.0),
                                              ("县住房和城乡建设局", None),
                                              ("国网泗水县供电公司", None)]
    by_category = await stats.compute(session, *NOVEMBER, at(30, 12), ctx.calendar,
                                      group="category")
    assert by_category.groups["城乡建设"].received == 3
    # An empty month: counts 0 and every rate "—".
    december = await stats.compute(session, *stats.parse_period(
        "2026-12", dt.date(2026, 12, 1), TZ), at(30, 12), ctx.calendar)
    assert december.total.resolved == 0
    assert set(december.total.rates.values()) == {None}
    assert "满意率 —" in report_files.summary_text(december, APPRAISAL)


async def test_a_scoped_report_scopes_every_figure(
        session: AsyncSession, org: Org, ctx: ServiceContext, clock: ManualClock) -> None:
    await history(session, ctx, clock, org)
    leader = await org.person("staff-cg-leader")
    scope = await stats.scope_for(session, leader)
    own = await stats.compute(session, *NOVEMBER, at(30, 12), ctx.calendar, scope=scope)
    assert own.total.received == 2 and set(own.groups) == {"县城市管理局"}
    assert own.total.overdue_now == 0  # T4 is 供电's now
    # The booking that became 住建's request is not 城管's.
    assert dict(own.total.appointments) == {"booked": 1}
    assert "县城市管理局" in report_files.summary_text(own, APPRAISAL)
    # A leader of two units sees both, not silently the first.
    session.add(Membership(person_id=leader.id, role=Role.UNIT_LEADER,
                           unit_id=(await org.unit("ZJ")).id))
    await session.commit()
    await session.refresh(leader, ["memberships"])
    both = await stats.scope_for(session, leader)
    assert both.names == ("县住房和城乡建设局", "县城市管理局")
    two = await stats.compute(session, *NOVEMBER, at(30, 12), ctx.calendar, scope=both)
    assert two.total.received == 3 and dict(two.total.appointments) == {"booked": 1,
                                                                        "converted": 1}
    with pytest.raises(NotAllowed):
        await stats.scope_for(session, await org.person("staff-cg-1"))


def _all_text_cells(wb: Any) -> list[Any]:
    return [c for ws in wb for row in ws.iter_rows() for c in row if isinstance(c.value, str)]


async def test_workbook_formats_definitions_and_no_formulas(
        session: AsyncSession, org: Org, ctx: ServiceContext, clock: ManualClock) -> None:
    await history(session, ctx, clock, org)
    report = await stats.compute(session, *NOVEMBER, at(30, 12), ctx.calendar)
    wb = load_workbook(io.BytesIO(await report_files.workbook(session, report, APPRAISAL)))
    assert wb.sheetnames == ["汇总", "指标", "诉求清单", "预约", "说明"]
    summary = wb["汇总"]
    assert "不含结束日 2026-12-01" in summary["A1"].value  # the end date is excluded
    header = next(r for r in summary.iter_rows() if r[0].value == "排名")[0].row
    assert summary.freeze_panes == f"C{header + 1}"
    assert summary.auto_filter.ref.startswith(f"A{header}:")
    first = [c for c in summary[header + 1]]
    assert first[1].value == "县城市管理局" and first[2].value == 95.0
    response = first[5]  # 响应率: a fraction shown as a percentage
    assert response.value == 0.5 and response.number_format == "0.0%"
    assert summary[header + 2][6].value == "—"  # 解决率 without answers
    assert summary.column_dimensions["B"].width >= 14  # fitted to 国网泗水县供电公司
    tickets = wb["诉求清单"]
    header = next(r for r in tickets.iter_rows() if r[0].value == "编号")[0].row
    assert tickets.max_row == header + 4  # the four tickets received in November
    received = tickets.cell(header + 1, 6)
    assert received.is_date and received.number_format == "yyyy-mm-dd hh:mm"
    assert received.value == at(2, 9).replace(tzinfo=None)  # local time
    assert tickets.freeze_panes == f"B{header + 1}" and tickets.auto_filter.ref
    definitions = {r[0].value: r[1].value for r in wb["说明"].iter_rows() if r[1].value}
    assert definitions["改派率"] == t("def_correction_rate")
    assert "已解决件数" in definitions["解决率"] and "响应率×10%" in definitions["得分"]
    # User text is text, whatever it starts with: never a formula.
    cells = _all_text_cells(wb)
    assert all(c.data_type == "s" for c in cells)
    sneaky = [c for c in cells if c.value.startswith("@SUM")]
    assert sneaky and all(c.quotePrefix for c in sneaky)


async def test_leader_export_scopes_every_sheet(
        harness: Harness, org: Org, ctx: ServiceContext, clock: ManualClock,
        session: AsyncSession) -> None:
    await history(session, ctx, clock, org)
    clock.set(at(30, 12))
    leader = harness.user((await org.person("staff-cg-leader")).tg_user_id or 0)
    await leader.say("/stats export 2026-11")
    assert leader.last.text.startswith(
        "统计明细 2026-11-01 至 2026-11-30（不含结束日 2026-12-01）")
    sent = [c for c in harness.recorder.calls if isinstance(c, SendDocument)][-1]
    wb = load_workbook(io.BytesIO(sent.document.data))  # type: ignore[union-attr]
    units = {r[3].value for r in wb["诉求清单"].iter_rows(min_row=5) if r[0].value != "编号"}
    assert units == {"县城市管理局"}
    appointments = {r[0].value: r[1].value for r in wb["预约"].iter_rows()
                    if isinstance(r[1].value, int)}
    assert appointments["已预约"] == 1 and appointments["已转为诉求"] == 0
    assert [r[1].value for r in wb["指标"].iter_rows(min_row=5)] == [2, 2]  # scope, unit


async def test_chart_reads_at_one_ticket_and_at_a_hundred_thousand(
        session: AsyncSession, org: Org, ctx: ServiceContext, clock: ManualClock) -> None:
    import matplotlib.pyplot as plt

    from services import report_charts

    await history(session, ctx, clock, org)
    report = await stats.compute(session, *NOVEMBER, at(30, 12), ctx.calendar)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing CJK glyph is a warning: fail on it
        png = report_charts.chart_png(report, APPRAISAL)
    assert png.startswith(b"\x89PNG")
    assert int.from_bytes(png[16:20], "big") >= 1800  # wide enough to read on a phone
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "stats-chart.png").write_bytes(png)

    def axis_of(figures: stats.Figures) -> Any:
        fig, ax = plt.subplots()
        rep = stats.Report(*NOVEMBER, "unit", figures, {}, TZ)
        report_charts.daily_axes(ax, rep)
        fig.canvas.draw()
        plt.close(fig)
        return ax

    one = stats.Figures(received=1, daily_received=Counter({dt.date(2026, 11, 3): 1}))
    ax = axis_of(one)
    ticks = [tick for tick in ax.get_yticks() if 0 <= tick <= ax.get_ylim()[1]]
    assert ticks and all(float(tick).is_integer() for tick in ticks) and 1 in ticks
    lo, hi = ax.get_xlim()  # the axis spans the period, every day
    assert round(hi - lo) == 30 and len(ax.patches) == 60  # 30 days x (受理, 办结), zeros too
    assert all(lo <= tick < hi for tick in ax.get_xticks())  # no tick on the excluded end
    many = stats.Figures(daily_received=Counter(
        {d: 3334 for d in stats.Report(*NOVEMBER, "unit", stats.Figures(), {}, TZ).days}))
    labels = [lab.get_text() for lab in axis_of(many).get_yticklabels()]
    assert any("," in lab for lab in labels) and all("e" not in lab for lab in labels)


async def test_monthly_report_pdf_one_page_with_the_figures(
        session: AsyncSession, org: Org, ctx: ServiceContext, clock: ManualClock,
        caplog: pytest.LogCaptureFixture) -> None:
    from pypdf import PdfReader

    from services import report_charts, reports

    await history(session, ctx, clock, org)
    clock.set(at(30, 12))
    report = await reports.compute(session, ctx, *NOVEMBER, APPRAISAL)
    previous = await reports.compute(session, ctx, *stats.previous_period(*NOVEMBER, TZ),
                                     APPRAISAL)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no missing glyphs (drawn here, not in a worker)
        pdf = report_charts.monthly_report(report, previous, APPRAISAL, "pdf", "2026年11月30日")
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)  # A4 points
    embedded = []
    for ref in reader.pages[0]["/Resources"]["/Font"].values():
        font = ref.get_object()
        for part in [font, *(d.get_object() for d in font.get("/DescendantFonts", []))]:
            descriptor = part.get("/FontDescriptor")
            if descriptor is not None and "/FontFile2" in descriptor.get_object():
                embedded.append(str(part["/BaseFont"]))
    assert any("WenQuanYi" in name for name in embedded), embedded  # the CJK font, embedded
    assert not [r for r in caplog.records if "missing from" in r.getMessage()
                or "Failed to find" in r.getMessage()]
    text = reader.pages[0].extract_text()
    for expected in ("接诉即办月度通报", "2026-11-01 至 2026-11-30", "不含结束日 2026-12-01",
                     "4 件", "75.0%（3/4）", "100.0%（2/2）", "50.0%（2/4）", "县城市管理局",
                     "95.0", "国网泗水县供电公司", "较上期", "超期诉求最多的单位"):
        assert expected in text, expected
    png = await reports.monthly_report(session, ctx, *NOVEMBER, APPRAISAL, fmt="png")
    assert png.startswith(b"\x89PNG") and int.from_bytes(png[16:20], "big") >= 1600
    ARTIFACTS.mkdir(exist_ok=True)  # kept for a look: test-artifacts/tongbao.{pdf,png}
    (ARTIFACTS / "tongbao.pdf").write_bytes(pdf)
    (ARTIFACTS / "tongbao.png").write_bytes(png)


async def test_stats_in_chat_and_refused_to_residents(harness: Harness, org: Org,
                                                      ctx: ServiceContext,
                                                      clock: ManualClock,
                                                      session: AsyncSession) -> None:
    await history(session, ctx, clock, org)
    clock.set(at(30, 12))
    dispatcher = harness.user((await org.person("staff-dispatch-1")).tg_user_id or 0)
    await dispatcher.say("/stats 2026-11")
    assert "受理 4 件" in dispatcher.inbox[-3].text
    assert "解决率 100.0%（2/2），满意率 100.0%（2/2）" in dispatcher.inbox[-3].text
    assert dispatcher.inbox[-2].text.startswith(t("errand_stats_section"))
    calls = [type(c).__name__ for c in harness.recorder.calls]
    assert "SendPhoto" in calls
    await dispatcher.say("/stats report 2026-11")
    sent = [c for c in harness.recorder.calls if isinstance(c, SendDocument)][-1]
    assert sent.document.filename.endswith(".pdf")  # type: ignore[union-attr]
    assert dispatcher.last.text.startswith("月度通报 2026-11-01")
    await dispatcher.say("/stats 2026-13")
    assert dispatcher.last.text == t("stats_usage")
    leader = harness.user((await org.person("staff-cg-leader")).tg_user_id or 0)
    await leader.say("/stats 2026-11")
    assert "受理 2 件" in leader.inbox[-3].text and "县城市管理局" in leader.inbox[-3].text
    assert "转为诉求 0" in leader.inbox[-3].text
    resident = harness.user(8100)
    await resident.say("/stats")
    assert resident.last.text == "/stats 仅供单位负责人、县民意诉求受理中心分派员或管理员使用。"


def test_cli_stats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                   capsys: pytest.CaptureFixture[str]) -> None:
    from pypdf import PdfReader

    from bot.cli import main
    from tests.conftest import EXAMPLE_ORG

    monkeypatch.chdir(tmp_path)
    for var in ("MINYI_CONFIG", "MINYI_BOT_TOKEN", "MINYI_DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    assert main(["org", "import", str(EXAMPLE_ORG)]) == 0
    capsys.readouterr()
    assert main(["stats", "--from", "2026-11-01", "--to", "2026-11-30", "--xlsx",
                 str(tmp_path / "out.xlsx"), "--png", str(tmp_path / "out.png"),
                 "--report", str(tmp_path / "report.pdf")]) == 0
    out = capsys.readouterr().out
    assert "受理 0 件" in out and (tmp_path / "out.xlsx").stat().st_size > 0
    assert "满意率 —" in out
    text = PdfReader(tmp_path / "report.pdf").pages[0].extract_text()
    assert "接诉即办月度通报" in text and "本期没有数据" in text
    assert main(["stats", "--from", "2026-11-30", "--to", "2026-11-01"]) == 2
    assert main(["stats", "--from", "2026-11-01", "--to", "2026-11-30",
                 "--report", str(tmp_path / "report.doc")]) == 2


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
    cg = await org.unit("CG")
    own = await stats.compute(session, *NOVEMBER, clock.now(), ctx.calendar,
                              scope=stats.Scope(frozenset({cg.id}), ("县城市管理局",)))
    leader, admin = await org.person("staff-cg-leader"), await org.person("staff-admin-1")
    sent = {r.chat_id: r.text for r in await session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.kind == "monthly_report"))}
    errands = await errand_stats.compute(session, *NOVEMBER, unit_ids=frozenset({cg.id}))
    assert sent[leader.tg_user_id] == t("ob_monthly_report", summary=join([
        report_files.summary_text(own, APPRAISAL, top=0), errand_stats.section_text(errands)],
        "\n\n"))  # 县城市管理局 has a 双报到 volunteer: where it ranks
    assert "受理 4 件" in sent[admin.tg_user_id] and "单位排名" in sent[admin.tg_user_id]


async def _busy_month(engine: AsyncEngine, n: int) -> None:
    """n tickets received in November 2026, each with five events, inserted in bulk."""
    async with engine.begin() as conn:
        resident = await conn.scalar(sa.select(Person.id).order_by(Person.id).limit(1))
        unit_ids = list(await conn.scalars(sa.select(Unit.id)))
        step = (NOVEMBER[1] - NOVEMBER[0]) / (n + 1)
        tickets = []
        for i in range(n):
            created = NOVEMBER[0] + step * (i + 1)
            done = created + dt.timedelta(hours=20)
            tickets.append({
                "number": f"MYB-{i:07d}", "resident_id": resident, "title": "",
                "text": "路灯坏了", "photos": [], "attachments": [], "address": "",
                "state": TicketState.CLOSED, "unit_id": unit_ids[i % len(unit_ids)],
                "routing": {}, "due_at": created + dt.timedelta(days=3),
                "reminders_sent": 0, "escalation_count": 0, "reopen_count": 0,
                "callback_attempts": 0, "result_text": "", "result_photos": [],
                "resolved_at": done, "closed_at": done, "outcome": "rated", "solved": True,
                "rating": Rating.SATISFIED, "created_at": created, "updated_at": done,
                "version": 1})
        ids = list(await conn.scalars(sa.insert(Ticket).returning(Ticket.id), tickets))
        events = [{"ticket_id": tid, "at": when, "action": action, "from_state": None,
                   "to_state": TicketState.CLOSED, "note": "", "data": data}
                  for tid, tk in zip(ids, tickets, strict=True)
                  for action, when, data in (
                      ("submit", tk["created_at"], {}),
                      ("assign", tk["created_at"], {"unit_id": tk["unit_id"]}),
                      ("accept", tk["created_at"] + dt.timedelta(minutes=20), {}),
                      ("resolve", tk["resolved_at"], {"on_time": True}),
                      ("rate", tk["resolved_at"], {"outcome": "rated", "rating": "satisfied",
                                                   "solved": True}))]
        await conn.execute(sa.insert(TicketEvent), events)


async def test_start_is_answered_while_an_export_runs(
        harness: Harness, org: Org, engine: AsyncEngine, clock: ManualClock) -> None:
    """Statistics and workbooks are computed off the event loop: the bot keeps answering."""
    await _busy_month(engine, 6000)
    clock.set(at(30, 12))
    dispatcher = harness.user((await org.person("staff-dispatch-1")).tg_user_id or 0)
    resident = harness.user(8200)
    await resident.say("/start")  # registered; the timed /start below only answers
    # Pooled connections for the export and /start: a new PostgreSQL connection's set-up
    # (type introspection) is not what is measured here.
    async with engine.connect() as one, engine.connect() as two, engine.connect() as three:
        for conn in (one, two, three):
            await conn.execute(sa.text("SELECT 1"))
    before = time.perf_counter()
    await resident.say("/start")
    idle = time.perf_counter() - before
    started = time.perf_counter()
    export = asyncio.create_task(dispatcher.say("/stats export 2026-11"))
    await asyncio.sleep(0.3)  # the export is under way
    assert not export.done()
    tries = []  # best of three: one slow answer can be this shared machine's scheduling
    while len(tries) < 3 and (not tries or min(tries) >= 0.2):
        before = time.perf_counter()
        await resident.say("/start")
        tries.append(time.perf_counter() - before)
        assert not export.done(), "the export should still be running"
    answered = min(tries)
    await export
    took = time.perf_counter() - started
    print(f"/start {tries} s during an export of {took:.1f} s ({idle:.3f} s idle)")
    assert dispatcher.last.text.startswith("统计明细")
    assert answered < 0.2, f"/start took {answered:.3f} s while an export ran ({took:.1f} s)"

