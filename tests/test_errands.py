"""红色代办 through the real Dispatcher: 点单 → 下单 → 接单 → 已上门 → 已完成 → 评价."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from handlers import menus
from handlers.errand_keyboards import ErrandCb, OrderCb, Step, WishCb
from models import (
    Errand,
    ErrandEvent,
    ErrandState,
    OutboxMessage,
    Person,
    Venue,
    Wish,
    WishEvent,
    WishState,
)
from models.db import make_sessionmaker
from services import errands, privacy, sweeps
from services.clock import ManualClock
from services.context import ServiceContext
from services.errands import ErrandAction, ErrandRules
from services.errors import InvalidInput
from services.org_import import OrgImportError, import_org
from services.outbox import URGENT
from services.texts import plain, t
from services.wishes import WishAction
from tests.bot_double import Chatter, Harness
from tests.conftest import EXAMPLE_ORG, TZ, Org

PHONE = "05371234567"


async def order_for_grandma(u: Chatter, *, day: str = "11月30日") -> None:
    await u.say(t("btn_errand"))
    await u.press("泗河社区红帆驿站")
    await u.press("代购药品和生活用品")
    await u.press(plain("btn_errand_other"))
    await u.say("王奶奶")
    await u.say("七十八")
    assert u.last.text == t("err_errand_age")
    await u.say("78")
    await u.say("泗河社区3号楼2单元101")
    await u.say("0537-1234567")
    await u.press(plain("errand_care_elderly_alone"))
    await u.press(day)
    await u.press(plain("errand_window_morning"))


async def chat(harness: Harness, org: Org, code: str) -> Chatter:
    person = await org.person(code)
    assert person.tg_user_id is not None
    return harness.user(person.tg_user_id, person.name)


async def the_errand(harness: Harness) -> Errand:
    async with harness.sessionmaker() as s:
        errand = await s.scalar(sa.select(Errand).order_by(Errand.id))
    assert errand is not None
    return errand


async def test_order_offer_lapse_accept_complete_rate(harness: Harness, org: Org) -> None:
    u = harness.user(7101, "王小明")
    await order_for_grandma(u)
    confirm = u.last_with_buttons()
    assert "王奶奶" in confirm.text and "泗河社区3号楼2单元101" in confirm.text
    assert "#—" not in confirm.text and "被服务人：78岁，孤寡老人\n" in confirm.text
    data = confirm.buttons[0][1]
    await u.press(plain("btn_errand_confirm"))
    assert u.last.text == t("errand_ordered", id=1)
    await u.press_data(data, confirm)  # a double tap orders nothing more
    assert u.last_alert() == plain("errand_ordered", id=1)
    errand = await the_errand(harness)
    assert errand.priority and errand.for_other and errand.wanted_day == dt.date(2026, 11, 30)

    await harness.deliver()
    organiser = await chat(harness, org, "org-shjd-01")
    assert PHONE in organiser.last.text and "【优先】" in organiser.last.text
    assert [b for b, _ in organiser.last.buttons] == [plain("btn_errand_assign"),
                                                     plain("btn_errand_auto")]
    new_card = organiser.last
    await organiser.press(plain("btn_errand_auto"))
    vol1, vol2 = await chat(harness, org, "vol-1"), await chat(harness, org, "vol-2")
    assert organiser.last.text == t("errand_offered_to", id=1, volunteer="颜海涛")
    await harness.deliver()
    # The new-order card follows the state: offered, it may be re-assigned, not 轮值派单.
    assert [b for b, _ in new_card.buttons] == [plain("btn_errand_assign")]
    await organiser.press_data(ErrandCb(action=ErrandAction.AUTO, id=1).pack(), new_card)
    assert organiser.last_alert() == plain("err_errand_state", id=1,
                                           state=plain("errand_now_offered"))
    offer = vol1.last
    accept_data = offer.buttons[0][1]
    assert PHONE not in offer.text and "泗河社区3号楼" not in offer.text  # no contact yet
    assert [b for b, _ in offer.buttons] == [plain("btn_errand_accept"),
                                            plain("btn_errand_decline")]

    # Not accepted within the office hours: the sweep offers it to the next on Monday's rota.
    harness.ctx.clock.set(dt.datetime(2026, 11, 30, 9, 30, tzinfo=TZ))
    report = await sweeps.run_sweeps(harness.sessionmaker, harness.ctx)
    assert report.done["errand_offers"] == 1
    await harness.deliver()
    assert offer.buttons == []  # the lapsed offer is not theirs now: its buttons went
    await vol1.press_data(accept_data, offer)
    assert vol1.last_alert() == plain("err_not_found")
    invitation = vol2.last
    await vol2.press(plain("btn_errand_accept"))
    assert PHONE in vol2.last.text and "泗河社区3号楼2单元101" in vol2.last.text
    await vol2.press_data(ErrandCb(action=ErrandAction.ACCEPT, id=1).pack())  # double tap
    assert vol2.last_alert() == plain("err_errand_state", id=1,
                                      state=plain("errand_now_accepted"))
    await vol2.press(plain("btn_errand_visit"))
    complete = vol2.last_with_buttons()
    await vol2.press(plain("btn_errand_complete"))
    assert vol2.last.text == t("errand_ask_result", id=1, limit=1)
    # A photo without a caption is kept; one more is past the limit and said so; the text
    # completes the errand with the photo.
    await vol2.photo("receipt-1")
    assert vol2.last.text == t("errand_result_photo_saved", id=1)
    await vol2.photo("receipt-2")
    assert vol2.last.text == t("errand_result_photo_limit", limit=1)
    async with harness.sessionmaker() as s:
        assert (await s.get(Errand, 1)).state == ErrandState.VISITED  # type: ignore[union-attr]
    await vol2.say("药已送到，收据在照片里")
    assert vol2.last.text == t("errand_completed_you", id=1)
    await vol2.press_data(ErrandCb(action=ErrandAction.COMPLETE, id=1).pack(), complete)
    assert vol2.last_alert() == plain("err_errand_state", id=1, state=plain("errand_now_done"))

    await harness.deliver()
    texts = [m.text for m in u.inbox]
    assert t("ob_errand_accepted", id=1, item="代购药品和生活用品", volunteer="曾庆华") in texts
    assert t("ob_errand_visited", id=1, volunteer="曾庆华") in texts
    assert "药已送到，收据在照片里" in u.last.text and u.last.photo == "receipt-1"
    assert invitation.buttons == [] and complete.buttons == []  # every copy follows
    done_message = u.last
    await u.press(plain("btn_errand_satisfied"))
    assert u.last.text == t("errand_rated", id=1, rating=t("errand_rating_satisfied"))
    await u.press_data(ErrandCb(action=ErrandAction.SATISFIED, id=1).pack(), done_message)
    assert u.last_alert() == plain("err_errand_state", id=1, state=plain("errand_now_closed"))

    await vol2.say("/start")
    assert t("btn_menu_volunteer") in vol2.last.reply_buttons
    await vol2.say(t("btn_menu_volunteer"))
    assert "累计：代办 1 件，服务 1 小时，积分 10" in vol2.last.text
    async with harness.sessionmaker() as s:
        actions = list(await s.scalars(sa.select(ErrandEvent.action).order_by(ErrandEvent.id)))
        done = await s.get(Errand, 1)
    assert actions == ["order", "auto", "lapse", "accept", "visit", "complete", "satisfied"]

    await organiser.say("/start")
    assert {t("btn_menu_orders"), t("btn_menu_errandstats")} <= set(organiser.last.reply_buttons)
    await organiser.say(t("btn_menu_errandstats"))
    figures = organiser.last.text
    assert "点单 1 件（优先对象 1 件），接单 1 件，平均接单用时 71.5 小时" in figures
    assert "完成率 100.0%；评价 1 件，满意率 100.0%，超时未评价 0 件" in figures
    assert "确认完成 1 件，志愿服务 1 小时，积分 10" in figures
    assert "泗河社区红帆驿站：全县驿站积分第 1/1 名，1 名志愿者确认完成代办 1 件" in figures
    assert "双报到单位积分排名：1. 县住房和城乡建设局 10分（1小时）" in figures
    await organiser.say("/errandstats 明年")
    assert organiser.last.text == t("errand_stats_usage")
    await u.say("/errandstats")
    assert u.last.text == menus.staff_only_text("errandstats")
    assert done is not None and done.state == ErrandState.CLOSED
    assert done.result_photo == "receipt-1"


async def test_unsatisfied_back_to_organiser_and_rota_runs_out(harness: Harness,
                                                               org: Org) -> None:
    u = harness.user(7102)
    await order_for_grandma(u)
    await u.press(plain("btn_errand_confirm"))
    await harness.deliver()
    organiser = await chat(harness, org, "org-shjd-01")
    await organiser.press(plain("btn_errand_assign"))
    await organiser.press("颜海涛（0/3）")  # the errands each holds, of errands.volunteer_capacity
    await harness.deliver()
    vol1, vol2 = await chat(harness, org, "vol-1"), await chat(harness, org, "vol-2")
    await vol1.press(plain("btn_errand_decline"))  # -> vol-2, the next on Monday's rota
    await harness.deliver()
    await vol2.press(plain("btn_errand_decline"))  # the rota runs out
    await harness.deliver()
    assert organiser.last.text.startswith(plain("ob_errand_exhausted", summary="")[:10])
    await organiser.press(plain("btn_errand_assign"))
    await organiser.press("曾庆华（0/3）")
    await harness.deliver()
    await vol2.press(plain("btn_errand_accept"))
    await vol2.press(plain("btn_errand_complete"))
    await vol2.say("已代购")
    await harness.deliver()
    await u.press(plain("btn_errand_unsatisfied"))
    assert u.last.text == t("errand_rated_bad", id=1)
    await harness.deliver()
    assert organiser.last.text.startswith(plain("ob_errand_unsatisfied", summary="")[:8])
    errand = await the_errand(harness)
    assert errand.state == ErrandState.ORDERED and errand.volunteer_id is None


async def test_restart_mid_order_forged_and_foreign_buttons(harness: Harness,
                                                            org: Org) -> None:
    u = harness.user(7103)
    await u.say(t("btn_errand"))
    await u.press("泗河社区红帆驿站")
    harness.restart()  # a new process: the draft is in the FSM storage
    await u.press("陪同就医")
    await u.press(plain("btn_errand_self"))
    assert u.last.text == t("errand_ask_age_self")  # for oneself: 您的年龄
    await u.say("72")
    await u.say("泗河社区5号楼101")
    await u.say("13800000000")
    await u.press(plain("errand_care_"))
    await u.press("11月28日")
    await u.press(plain("errand_window_any"))
    await u.press(plain("btn_errand_confirm"))
    assert u.last.text == t("errand_ordered", id=1)

    other = harness.user(7104)
    await other.press_data(ErrandCb(action=ErrandAction.CANCEL, id=1).pack(), u.last)
    assert other.last_alert() == plain("err_not_found")
    await other.press_data("er:bogus:1:0", u.last)
    assert other.last_alert() == plain("stale_button")
    vol1 = await chat(harness, org, "vol-1")  # a volunteer not offered this errand
    await vol1.press_data(ErrandCb(action=ErrandAction.ACCEPT, id=1).pack(), u.last)
    assert vol1.last_alert() == plain("err_not_found")
    await u.say("/errands")
    await u.press(plain("btn_errand_cancel"))
    assert u.last.text == t("errand_cancelled", id=1)


async def test_org_import_checks_errand_rows(session: AsyncSession, clock: ManualClock,
                                             org: Org) -> None:
    text = EXAMPLE_ORG.read_text(encoding="utf-8").replace(
        'sat = ["vol-3"]', 'sat = ["vol-9"]').replace(
        'roles = ["organiser"]\nvenue = "RS-SHJD-01"', 'roles = ["organiser"]\nvenue = "NOPE"')
    with pytest.raises(OrgImportError) as err:
        await import_org(session, text, clock)
    assert any("rota.sat 中的 'vol-9' 不是本驿站的志愿者" in e and "RS-SHJD-01" in e
               for e in err.value.errors)
    assert any("org-shjd-01" in e and "venue" in e for e in err.value.errors)
    venue = (await session.scalars(sa.select(Venue).where(Venue.code == "RS-SHJD-01"))).one()
    assert venue.errands["rota"]["sat"] == ["vol-3"]  # nothing written
    vol = await org.person("vol-1")
    assert errands.organises(await org.person("org-shjd-01"), venue.id)
    cg = await org.unit("CG")  # the volunteer's 双报到 unit
    assert [(m.role, m.unit_id, m.venue_id) for m in vol.memberships] == [
        ("volunteer", cg.id, venue.id)]


async def test_wish_posted_claimed_fulfilled(harness: Harness, org: Org) -> None:
    u = harness.user(7201, "赵大妈")
    await u.say("/wish")
    await u.press("泗河社区红帆驿站")
    await u.say("想要一副老花镜，看报纸方便些")
    await u.say("500")
    assert u.last.text == t("err_wish_value", limit=200)
    await u.say("80")
    assert u.last.text == t("wish_submitted", id=1)
    await harness.deliver()
    organiser = await chat(harness, org, "org-shjd-01")
    new = organiser.last
    assert "老花镜" in new.text
    await organiser.press(plain("btn_wish_publish"))
    await organiser.press_data(WishCb(action=WishAction.PUBLISH, id=1).pack(), new)
    assert organiser.last_alert() == plain("err_wish_state", id=1,
                                           state=plain("wish_now_published"))
    await harness.deliver()
    rep, other_town = await chat(harness, org, "rep-1"), await chat(harness, org, "rep-2")
    vol = await chat(harness, org, "vol-1")
    assert "老花镜" in rep.last.text and "老花镜" in vol.last.text
    assert not any("老花镜" in m.text for m in other_town.inbox)  # not their town
    offer = vol.last
    claim = offer.buttons[0][1]
    await rep.press(plain("btn_wish_claim"))
    await vol.press_data(claim, offer)  # claimed by someone else already
    assert vol.last_alert() == plain("err_wish_claimed_other", id=1)
    await harness.deliver()
    assert offer.buttons == []  # 认领 goes from the other helpers' cards
    await rep.press(plain("btn_wish_fulfil"))
    await rep.say("已经送到了")
    assert rep.last.text == t("err_wish_photo")
    await rep.photo("glasses-1")
    assert rep.last.text == t("wish_fulfilled_you", id=1)
    await harness.deliver()
    assert u.last.photo == "glasses-1" and "金国庆" in u.last.text
    async with harness.sessionmaker() as s:
        wish = await s.get(Wish, 1)
        actions = list(await s.scalars(sa.select(WishEvent.action).order_by(WishEvent.id)))
    assert wish is not None and wish.state == WishState.FULFILLED
    assert actions == ["submit", "publish", "claim", "fulfil"]


async def test_privacy_export_and_retention_of_errands(harness: Harness, org: Org) -> None:
    u = harness.user(7301)
    await order_for_grandma(u)
    await u.press(plain("btn_errand_confirm"))
    await u.say("/errands")
    await u.press(plain("btn_errand_cancel"))
    async with harness.sessionmaker() as s:
        me = await s.scalar(sa.select(Person).where(Person.tg_user_id == 7301))
        assert me is not None
        mine = (await privacy.export(s, me, None))["errands"]
    assert [(e["for"], e["phone"], e["state"]) for e in mine] == [
        ("王奶奶", PHONE, "cancelled")]
    clock = harness.ctx.clock
    assert (await privacy.run_retention(harness.sessionmaker, clock, 365, 72))["errands"] == 0
    clock.advance(dt.timedelta(days=366))
    assert (await privacy.run_retention(harness.sessionmaker, clock, 365, 72))["errands"] == 1
    errand = await the_errand(harness)
    assert (errand.beneficiary_name, errand.address, errand.phone) == ("", "", "")


async def test_queue_puts_priority_first_and_forged_choices_are_refused(
        harness: Harness, org: Org) -> None:
    young = harness.user(7401, "小刘")
    await young.say(t("btn_errand"))
    await young.press("泗河社区红帆驿站")
    await young.press("家电小修")
    await young.press(plain("btn_errand_self"))
    await young.say("35")
    await young.say("泗河社区2号楼101")
    await young.say("13800000001")
    care = young.last_with_buttons()
    key = OrderCb.unpack(care.buttons[0][1]).key
    await young.press_data(OrderCb(step=Step.CARE, value=9, key=key).pack(), care)
    assert young.last_alert() == plain("err_errand_incomplete")
    await young.press_data(OrderCb(step=Step.CARE, value=0, key="0" * 16).pack(), care)
    assert young.last_alert() == plain("stale_button")
    await young.press(plain("errand_care_"))
    await young.press("11月30日")
    await young.press(plain("errand_window_afternoon"))
    await young.press(plain("btn_errand_confirm"))
    await order_for_grandma(harness.user(7402))
    await harness.user(7402).press(plain("btn_errand_confirm"))

    organiser = await chat(harness, org, "org-shjd-01")
    await organiser.say("/orders")
    cards = [m.text for m in organiser.inbox if "代办单 #" in m.text]
    assert cards[0].startswith("【优先】代办单 #2") and cards[1].startswith("代办单 #1")
    async with harness.sessionmaker() as s:  # the older order waits behind the priority one
        queued = list(await s.scalars(sa.select(OutboxMessage.id).where(
            OutboxMessage.kind == "errand_new").order_by(OutboxMessage.priority,
                                                          OutboxMessage.id)))
        new = {r.id: r.text for r in await s.scalars(sa.select(OutboxMessage))}
    assert "代办单 #2" in new[queued[0]] and "代办单 #1" in new[queued[-1]]
    errand = await the_errand(harness)
    assert not errand.priority


async def a_done_errand(harness: Harness, org: Org, u: Chatter) -> tuple[Chatter, Chatter]:
    """u orders for 王奶奶; the organiser offers it down the rota; vol-1 accepts and marks
    it 已完成 (at the clock's moment). Returns the organiser and vol-1."""
    await order_for_grandma(u)
    await u.press(plain("btn_errand_confirm"))
    await harness.deliver()
    organiser = await chat(harness, org, "org-shjd-01")
    await organiser.press(plain("btn_errand_auto"))
    await harness.deliver()
    vol1 = await chat(harness, org, "vol-1")
    await vol1.press(plain("btn_errand_accept"))
    await vol1.press(plain("btn_errand_complete"))
    await vol1.say("药已送到")
    await harness.deliver()
    return organiser, vol1


async def test_unconfirmed_errand_is_reminded_then_closed_unrated(
        harness: Harness, org: Org) -> None:
    """已完成 on Friday 10:00, never confirmed: the reminder is due on Saturday but waits for
    Monday's office hours; at Monday 10:00 (72 hours) the errand closes 未评价 — once, even
    with two sweeps at the same moment — the volunteer is credited, the 满意率 ignores it."""
    u = harness.user(7501, "刘阿姨")
    organiser, vol1 = await a_done_errand(harness, org, u)
    done_message = u.last
    assert [b for b, _ in done_message.buttons] == [plain("btn_errand_satisfied"),
                                                    plain("btn_errand_basic"),
                                                    plain("btn_errand_unsatisfied")]
    clock = harness.ctx.clock
    # A system action is no button: forged, it is refused and changes nothing.
    for action in (ErrandAction.TIMEOUT, ErrandAction.REMIND):
        await u.press_data(ErrandCb(action=action, id=1).pack(), done_message)
        assert u.last_alert() == plain("stale_button")

    clock.set(dt.datetime(2026, 11, 28, 11, 0, tzinfo=TZ))  # Saturday: not in office hours
    assert "errand_reminders" not in (await sweeps.run_sweeps(
        harness.sessionmaker, harness.ctx)).done
    clock.set(dt.datetime(2026, 11, 30, 9, 0, tzinfo=TZ))  # Monday morning
    reports = await asyncio.gather(*(sweeps.run_sweeps(harness.sessionmaker, harness.ctx)
                                     for _ in range(2)))
    assert sum(r.done.get("errand_reminders", 0) for r in reports) == 1
    await harness.deliver()
    reminder = u.last
    assert reminder.text == t("ob_errand_confirm_reminder", id=1, item="代购药品和生活用品",
                              close="2026年11月30日 10:00")
    assert [b for b, _ in reminder.buttons] == [b for b, _ in done_message.buttons]

    satisfied = reminder.buttons[0][1]
    clock.set(dt.datetime(2026, 11, 30, 10, 5, tzinfo=TZ))
    reports = await asyncio.gather(*(sweeps.run_sweeps(harness.sessionmaker, harness.ctx)
                                     for _ in range(2)))
    assert sum(r.done.get("errand_timeouts", 0) for r in reports) == 1
    await harness.deliver()
    assert u.last.text == t("ob_errand_timed_out", id=1, item="代购药品和生活用品",
                            venue="泗河社区红帆驿站")
    assert vol1.last.text == t("ob_errand_closed", id=1,
                               rating=t("errand_rating_unrated"), hours="1", points=10)
    assert reminder.buttons == []  # closed: the reminder's buttons went
    await u.press_data(satisfied, reminder)  # too late: closed
    assert u.last_alert() == plain("err_errand_state", id=1, state=plain("errand_now_closed"))
    async with harness.sessionmaker() as s:
        errand = await s.get(Errand, 1)
        actions = list(await s.scalars(sa.select(ErrandEvent.action).order_by(ErrandEvent.id)))
    assert errand is not None and errand.state == ErrandState.CLOSED
    assert (errand.rating, errand.hours, errand.points) == ("unrated", 1.0, 10)
    assert (errand.remind_at, errand.close_at) == (None, None)
    assert actions[-2:] == ["remind", "timeout"]
    async with harness.sessionmaker() as s:  # for 王奶奶 (78): every message goes out first
        sent = (await s.execute(sa.select(OutboxMessage.kind, OutboxMessage.priority)
                                .where(OutboxMessage.kind.startswith("errand_")))).all()
    assert {kind for kind, _ in sent} >= {"errand_new", "errand_offer", "errand_accepted",
                                          "errand_done", "errand_confirm", "errand_timeout",
                                          "errand_closed"}
    assert {priority for _, priority in sent} == {URGENT}
    await organiser.say("/errandstats")
    figures = organiser.last.text
    assert "评价 0 件，满意率 —，超时未评价 1 件；确认完成 1 件，志愿服务 1 小时" in figures


async def test_a_rating_in_time_cancels_the_reminder_and_timeout(harness: Harness,
                                                                 org: Org) -> None:
    u = harness.user(7502)
    await a_done_errand(harness, org, u)
    errand = await the_errand(harness)
    assert errand.remind_at == dt.datetime(2026, 11, 28, 10, 0, tzinfo=TZ)
    assert errand.close_at == dt.datetime(2026, 11, 30, 10, 0, tzinfo=TZ)
    await u.press(plain("btn_errand_basic"))
    harness.ctx.clock.set(dt.datetime(2026, 12, 1, 9, 0, tzinfo=TZ))
    report = await sweeps.run_sweeps(harness.sessionmaker, harness.ctx)
    assert not report.done.get("errand_reminders") and not report.done.get("errand_timeouts")
    errand = await the_errand(harness)
    assert (errand.rating, errand.remind_at, errand.close_at) == ("basic", None, None)


async def test_a_block_head_orders_for_a_neighbour_and_is_named_with_their_building(
        harness: Harness, org: Org, session: AsyncSession, clock: ManualClock) -> None:
    head = await chat(harness, org, "head-shjd-01")  # 仲伟, block = "幸福小区/3号楼"
    assert [(m.role, m.label) for m in (await org.person("head-shjd-01")).memberships] == [
        ("block_head", "幸福小区/3号楼")]
    await order_for_grandma(head)
    await head.press(plain("btn_errand_confirm"))
    await head.say("/errands")  # whom each order is for
    assert head.last.text == t("errand_mine_line", id=1, item="代购药品和生活用品",
                               day="11月30日", state=t("errand_state_ordered"),
                               served=t("errand_mine_served", name="王奶奶"))
    await harness.deliver()
    organiser = await chat(harness, org, "org-shjd-01")
    named = t("errand_orderer", name="仲伟", role=t("errand_orderer_role",
                                                   role="幸福小区3号楼楼栋长"))
    assert named in organiser.last.text and PHONE in organiser.last.text
    await organiser.press(plain("btn_errand_auto"))
    await harness.deliver()
    vol1 = await chat(harness, org, "vol-1")
    assert "仲伟" not in vol1.last.text  # the offer: no contact, nor who ordered
    await vol1.press(plain("btn_errand_accept"))
    assert named in vol1.last.text
    await organiser.say("/orders")
    assert named in organiser.last.text

    # A resident ordering for themselves is not named again; a bad block is refused.
    assert errands.block_title("") == plain("role_block_head")
    assert errands.block_title("幸福小区/3号楼/2单元") == "幸福小区3号楼2单元单元长"
    text = EXAMPLE_ORG.read_text(encoding="utf-8").replace(
        'block = "幸福小区/3号楼"', 'block = "幸福小区/3号楼/2单元/201室"')
    with pytest.raises(OrgImportError) as err:
        await import_org(session, text, clock)
    assert any("head-shjd-01" in e and "block" in e for e in err.value.errors)


async def test_many_venues_ask_for_the_town_first(engine: AsyncEngine, org: Org,
                                                  ctx: ServiceContext,
                                                  session: AsyncSession) -> None:
    """With more 驿站 than errands.town_step, 点单 and 微心愿 ask for the town first; a
    town without 驿站 (forged) is refused."""
    from bot.app import make_request_router
    from bot.config import Config, FloodConfig

    jihe = (await session.scalars(sa.select(Venue).where(Venue.code == "RS-JHJD-01"))).one()
    jihe.errands = {"menu": ["陪同就医"], "rota": {}}
    await session.commit()
    config = Config(flood=FloodConfig(limit=1000))
    harness = Harness(config, make_sessionmaker(engine),
                      dataclasses.replace(ctx, errands=ErrandRules(town_step=1)),
                      await make_request_router(config, make_sessionmaker(engine)))
    u = harness.user(7601)
    await u.say(t("btn_errand"))
    towns = u.last_with_buttons()
    assert t("errand_pick_town") in towns.text
    assert [b for b, _ in towns.buttons] == ["济河街道（1）", "泗河街道（1）"]  # by code
    key = OrderCb.unpack(towns.buttons[0][1]).key
    jinzhuang = await org.place("SS-JZ")  # a town without 驿站 taking errands
    await u.press_data(OrderCb(step=Step.TOWN, value=jinzhuang.id, key=key).pack(), towns)
    assert u.last_alert() == plain("err_not_found")
    await u.press("济河街道（1）")
    assert u.last.text == t("errand_pick_venue")
    assert [b for b, _ in u.last.buttons] == ["济河社区红帆驿站"]
    await u.press("济河社区红帆驿站")
    assert u.last.text == t("errand_pick_item", venue="济河社区红帆驿站")

    await u.say("/wish")
    await u.press("泗河街道（1）")
    await u.press("泗河社区红帆驿站")
    assert u.last.text == t("wish_ask_text")


async def test_a_volunteer_at_capacity_is_skipped_and_cannot_be_assigned(
        session: AsyncSession, org: Org, ctx: ServiceContext, clock: ManualClock) -> None:
    """errands.volunteer_capacity = 1: vol-1 holds an accepted errand, so the next one goes
    down the rota to vol-2, and assigning vol-1 by hand is refused with a Chinese answer;
    once vol-1 has finished, they can be assigned again."""
    rules = ErrandRules(volunteer_capacity=1)
    life = errands.ErrandLifecycle(session, clock, ctx.calendar, rules)
    venue = (await session.scalars(sa.select(Venue).where(Venue.code == "RS-SHJD-01"))).one()
    resident = Person(name="居民", tg_user_id=7701, created_at=clock.now())
    session.add(resident)
    organiser, vol1 = await org.person("org-shjd-01"), await org.person("vol-1")

    async def order(n: int) -> Errand:
        errand = await life.order(resident, errands.ErrandDraft(
            key=f"cap-{n}", venue_id=venue.id, item="其他", name="张大爷", age=75,
            address="泗河社区1号楼101", phone="13800000000", day="2026-11-30",
            window="any"))
        await session.flush()
        return errand

    first = await order(1)
    assert (await life.auto(first, organiser)) == vol1  # Monday's rota: vol-1, vol-2
    await life.accept(first, vol1)
    second = await order(2)
    chosen = await life.auto(second, organiser)
    assert chosen is not None and chosen.code == "vol-2"  # vol-1 is full
    with pytest.raises(InvalidInput) as refused:
        await life.assign(second, organiser, vol1.id)
    assert refused.value.key == "err_errand_volunteer_full"
    await life.complete(first, vol1, "好了", None)  # done: no longer held
    assert (await life.assign(second, organiser, vol1.id)) == vol1
    assert (await errands.held(session, [vol1.id])) == {vol1.id: 1}
