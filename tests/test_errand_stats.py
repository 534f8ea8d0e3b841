"""红色代办 in the statistics: /stats (county and a unit leader's), the XLSX, the PDF 通报
and the monthly push, with the rankings per 驿站 and per 双报到 unit."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiogram.methods import SendDocument
from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from models import Errand, Membership, OutboxMessage, Person, Role, Venue
from models.db import make_sessionmaker
from services import errand_stats, errands, reports, stats, sweeps
from services.clock import ManualClock
from services.context import ServiceContext
from services.errands import ErrandAction, ErrandDraft
from services.texts import plain, t
from tests.bot_double import Harness
from tests.conftest import TZ, Org
from tests.test_errands import chat

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
NOVEMBER = stats.parse_period("2026-11", dt.date(2026, 11, 30), TZ)
MENU = {"menu": ["代缴水电燃气费", "陪同就医"], "rota": {"mon": ["vol-9"]}}


async def venue(session: AsyncSession, code: str) -> Venue:
    return (await session.scalars(sa.select(Venue).where(Venue.code == code))).one()


async def a_month_of_errands(session: AsyncSession, ctx: ServiceContext, clock: ManualClock,
                             org: Org) -> None:
    """Two 驿站 take errands (东关 gets a menu and vol-9 of 县城市管理局 here):

    | # | 驿站 | age | volunteer (unit) | end |
    | 1 | 泗河 | 78 | vol-1 (CG) | 满意 |
    | 2 | 泗河 | 40 | vol-2 (ZJ) | 基本满意 |
    | 3 | 东关 | 80 | vol-9 (CG) | 不满意: back to the organiser |
    | 4 | 泗河 | 50 | — | cancelled |
    | 5 | 东关 | 66 | vol-9 (CG) | 满意 |
    """
    dongguan = await venue(session, "RS-SHJD-02")
    dongguan.errands = MENU
    cg = await org.unit("CG")
    vol9 = Person(code="vol-9", name="韩志强", created_at=clock.now(), memberships=[
        Membership(role=Role.VOLUNTEER, venue_id=dongguan.id, unit_id=cg.id)])
    session.add(vol9)
    session.add(Person(code="org-dg", name="李敏", tg_user_id=8802, created_at=clock.now(),
                       memberships=[Membership(role=Role.ORGANISER, venue_id=dongguan.id)]))
    resident = Person(name="居民", tg_user_id=8801, created_at=clock.now())
    session.add(resident)
    await session.commit()
    sihe = await venue(session, "RS-SHJD-01")
    plan = [(sihe, 78, "vol-1", ErrandAction.SATISFIED),
            (sihe, 40, "vol-2", ErrandAction.BASIC),
            (dongguan, 80, "vol-9", ErrandAction.UNSATISFIED),
            (sihe, 50, None, ErrandAction.CANCEL),
            (dongguan, 66, "vol-9", ErrandAction.SATISFIED)]
    organisers = {sihe.id: await org.person("org-shjd-01"),
                  dongguan.id: await org.person("org-dg")}
    for n, (place, age, volunteer, end) in enumerate(plan, start=1):
        clock.set(dt.datetime(2026, 11, 2, 9, n, tzinfo=TZ))
        life = ctx.errand_lifecycle(session)
        errand = await life.order(resident, ErrandDraft(
            key=f"stats-{n}", venue_id=place.id, item=errands.menu(place)[0],
            name="张大爷", age=age, address="泗河社区1号楼101", phone="13800000000",
            day="2026-11-03", window="any"))
        await session.commit()
        if end == ErrandAction.CANCEL:
            await life.cancel(errand, resident)
            await session.commit()
            continue
        assert volunteer is not None
        vol = await org.person(volunteer)
        await life.assign(errand, organisers[place.id], vol.id)
        clock.advance(dt.timedelta(hours=n))  # accepted n hours after the order
        await life.accept(errand, vol)
        await life.complete(errand, vol, "办好了", None)
        await life.rate(errand, resident, end)
        await session.commit()


async def test_stats_in_chat_show_errands_and_the_rankings(
        harness: Harness, org: Org, ctx: ServiceContext, clock: ManualClock,
        session: AsyncSession) -> None:
    await a_month_of_errands(session, ctx, clock, org)
    clock.set(dt.datetime(2026, 11, 30, 12, tzinfo=TZ))
    dispatcher = await chat(harness, org, "staff-dispatch-1")
    await dispatcher.say("/stats 2026-11")
    county = dispatcher.inbox[-2].text
    assert county.startswith(t("errand_stats_section"))
    assert ("点单 5 件（优先对象 2 件），接单 4 件，"
            "平均接单用时 2.8 小时（中位数 2.5，优先对象 2.0）") in county
    assert "完成率 100.0%；评价 4 件，满意率 75.0%，超时未评价 0 件" in county
    assert "确认完成 3 件，志愿服务 3 小时，积分 30" in county
    assert ("驿站积分排名：1. 泗河社区红帆驿站 20分（2小时）；2. 东关社区红帆驿站 10分（1小时）"
            in county)  # 济河 and 西关 take no errands: not ranked
    assert ("双报到单位积分排名：1. 县城市管理局 20分（2小时）；2. 县住房和城乡建设局 10分"
            in county)

    # A unit leader: the errands their 双报到 volunteers took, and where the unit stands.
    leader = await chat(harness, org, "staff-cg-leader")
    await leader.say("/stats 2026-11")
    own = leader.inbox[-2].text
    assert "点单 3 件（优先对象 2 件）" in own and "满意率 66.7%" in own
    assert ("双报到单位 县城市管理局：全县第 1/2 名，2 名志愿者确认完成代办 2 件，"
            "服务 2 小时，积分 20") in own
    assert "驿站积分排名" not in own and "县住房和城乡建设局" not in own

    # The organiser's /errandstats: their 驿站 and its place among the county's.
    await harness.user(8802).say("/errandstats 2026-11")
    mine = harness.user(8802).last.text
    assert "点单 2 件（优先对象 1 件）" in mine
    assert ("东关社区红帆驿站：全县驿站积分第 2/2 名，1 名志愿者确认完成代办 1 件，"
            "服务 1 小时，积分 10") in mine
    assert "泗河社区红帆驿站" not in mine


async def test_workbook_and_pdf_have_the_errand_sheets_and_page(
        harness: Harness, org: Org, ctx: ServiceContext, clock: ManualClock,
        session: AsyncSession) -> None:
    from pypdf import PdfReader

    await a_month_of_errands(session, ctx, clock, org)
    clock.set(dt.datetime(2026, 11, 30, 12, tzinfo=TZ))
    dispatcher = await chat(harness, org, "staff-dispatch-1")
    await dispatcher.say("/stats export 2026-11")
    sent = [c for c in harness.recorder.calls if isinstance(c, SendDocument)][-1]
    wb = load_workbook(io.BytesIO(sent.document.data))  # type: ignore[union-attr]
    assert wb.sheetnames == ["汇总", "指标", "诉求清单", "预约", "红色代办", "代办事项",
                             "驿站排名", "双报到单位排名", "说明"]
    figures = {r[0].value: r[1] for r in wb["红色代办"].iter_rows() if r[1].value is not None}
    assert figures["代办点单"].value == 5 and figures["优先对象点单"].value == 2
    assert figures["代办满意率"].value == 0.75
    assert figures["代办满意率"].number_format == "0.0%"
    assert figures["志愿服务时长（小时）"].value == 3 and figures["双报到积分"].value == 30

    def table(name: str) -> list[list[object]]:
        rows = [[c.value for c in r] for r in wb[name].iter_rows()]
        header = next(i for i, r in enumerate(rows) if r[0] == "排名")
        return rows[header + 1:]

    assert table("驿站排名") == [[1, "泗河社区红帆驿站", 2, 2, 20, 2],
                                 [2, "东关社区红帆驿站", 1, 1, 10, 1]]
    assert table("双报到单位排名") == [[1, "县城市管理局", 2, 2, 20, 2],
                                       [2, "县住房和城乡建设局", 1, 1, 10, 1]]
    definitions = {r[0].value: r[1].value for r in wb["说明"].iter_rows() if r[1].value}
    assert definitions["代办满意率"] == t("def_errand_satisfaction")

    pdf = await reports.monthly_report(session, ctx, *NOVEMBER, stats.Appraisal())
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 2
    ARTIFACTS.mkdir(exist_ok=True)  # kept for a look: test-artifacts/tongbao-errands.pdf
    (ARTIFACTS / "tongbao-errands.pdf").write_bytes(pdf)
    page = reader.pages[1].extract_text()
    for expected in ("红色代办月度通报", "驿站积分排名", "泗河社区红帆驿站", "双报到单位积分排名",
                     "县城市管理局", "75.0%", "3 小时", "按事项的点单与办完"):
        assert expected in page, expected

    # A unit leader's 通报: their unit's row with its county rank, no 驿站 ranking.
    cg = await org.unit("CG")
    pdf = await reports.monthly_report(session, ctx, *NOVEMBER, stats.Appraisal(),
                                       stats.Scope(frozenset({cg.id}), ("县城市管理局",)))
    page = PdfReader(io.BytesIO(pdf)).pages[1].extract_text()
    assert "县城市管理局" in page and "66.7%" in page
    assert "驿站积分排名" not in page and "县住房和城乡建设局" not in page

    # A unit leader's workbook: their unit's row of the ranking of units, no 驿站 sheet.
    leader = await chat(harness, org, "staff-cg-leader")
    await leader.say("/stats export 2026-11")
    sent = [c for c in harness.recorder.calls if isinstance(c, SendDocument)][-1]
    wb = load_workbook(io.BytesIO(sent.document.data))  # type: ignore[union-attr]
    assert "驿站排名" not in wb.sheetnames
    assert table("双报到单位排名") == [[1, "县城市管理局", 2, 2, 20, 2]]


async def test_monthly_push_has_errands_for_admins_leaders_and_organisers(
        engine: AsyncEngine, session: AsyncSession, org: Org, ctx: ServiceContext,
        clock: ManualClock) -> None:
    await a_month_of_errands(session, ctx, clock, org)
    clock.set(dt.datetime(2026, 12, 1, 8, 30, tzinfo=TZ))  # the first working day
    assert await sweeps.monthly_report(make_sessionmaker(engine), ctx) > 0
    sent = {r.chat_id: r.text for r in await session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.kind == "monthly_report"))}
    admin = await org.person("staff-admin-1")
    leader = await org.person("staff-cg-leader")
    organiser = await org.person("org-shjd-01")
    assert "【红色代办】" in sent[admin.tg_user_id or 0]
    assert "驿站积分排名：1. 泗河社区红帆驿站 20分" in sent[admin.tg_user_id or 0]
    assert "双报到单位 县城市管理局：全县第 1/2 名" in sent[leader.tg_user_id or 0]
    to_organiser = sent[organiser.tg_user_id or 0]
    assert to_organiser.startswith("【红色代办月度通报】泗河社区红帆驿站")
    assert "泗河社区红帆驿站：全县驿站积分第 1/2 名" in to_organiser


@pytest.mark.parametrize("rows, expected", [
    ({"a": (10, 1.0), "b": (10, 1.0), "c": (5, 2.0)}, [(1, "a"), (1, "b"), (3, "c")]),
    ({"a": (10, 1.0), "b": (10, 2.0)}, [(1, "b"), (2, "a")]),
])
def test_ranking_ties_share_a_rank(rows: dict[str, tuple[int, float]],
                                   expected: list[tuple[int, str]]) -> None:
    tallies = {name: errand_stats.Tally(points=p, hours=h) for name, (p, h) in rows.items()}
    assert [(rank, name) for rank, name, _ in errand_stats.ranking(tallies)] == expected


async def test_errand_hours_and_points_count_when_confirmed(
        session: AsyncSession, org: Org, ctx: ServiceContext, clock: ManualClock) -> None:
    """An errand ordered in November and confirmed in December: ordered in November's
    figures, its hours and points in December's."""
    await a_month_of_errands(session, ctx, clock, org)
    errand = (await session.scalars(sa.select(Errand).where(Errand.id == 1))).one()
    errand.closed_at = dt.datetime(2026, 12, 1, 10, tzinfo=TZ)
    await session.commit()
    november = await errand_stats.compute(session, *NOVEMBER)
    december = await errand_stats.compute(
        session, *stats.parse_period("2026-12", dt.date(2026, 12, 1), TZ))
    assert (november.ordered, november.points, december.ordered, december.points) == (
        5, 20, 0, 10)
    assert plain("fig_errand_points") == "双报到积分"


async def test_an_order_not_yet_due_is_not_against_the_completion_and_nothing_has_no_rank(
        harness: Harness, org: Org, ctx: ServiceContext, clock: ManualClock,
        session: AsyncSession) -> None:
    """/errandstats while one order is done and another is wanted tomorrow: the open one
    is not yet due, so the 完成率 is 100%, not 50%. A unit leader whose volunteers have
    confirmed nothing gets no place in the county ranking (暂无), not "第 1/2 名"."""
    sihe = await venue(session, "RS-SHJD-01")
    resident = Person(name="居民", tg_user_id=8811, created_at=clock.now())
    session.add(resident)
    await session.commit()
    organiser = await org.person("org-shjd-01")
    vol = await org.person("vol-1")
    life = ctx.errand_lifecycle(session)
    today = clock.now().astimezone(TZ).date()
    for n, day in enumerate((today, today + dt.timedelta(days=1)), start=1):
        errand = await life.order(resident, ErrandDraft(
            key=f"due-{n}", venue_id=sihe.id, item=errands.menu(sihe)[0], name="张大爷",
            age=60, address="泗河社区1号楼101", phone="13800000000", day=day.isoformat(),
            window="any"))
        await session.commit()
        if n == 1:
            await life.assign(errand, organiser, vol.id)
            await life.accept(errand, vol)
            await life.complete(errand, vol, "办好了", None)
            await session.commit()
    clock.advance(dt.timedelta(days=1))  # the first one's day is over, the second's is today
    org_chat = await chat(harness, org, "org-shjd-01")
    await org_chat.say("/errandstats")
    assert "点单 2 件" in org_chat.last.text and "完成率 100.0%" in org_chat.last.text
    leader = await chat(harness, org, "staff-cg-leader")
    await leader.say("/stats")
    own = leader.inbox[-2].text
    assert "双报到单位 县城市管理局：全县暂无排名（尚无确认完成的代办）" in own
    assert "全县第" not in own
