"""Routing in chat: the resident asked which matter when the router is unsure, and the
dispatcher's 代录 of phone and counter requests, through the real Dispatcher."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from models import Person, Ticket, TicketState
from services import stats
from services.routing_history import corrected_examples
from services.texts import t
from tests.bot_double import Harness
from tests.conftest import Org

ROAD = "这条路坑坑洼洼的 电动车过去颠死了"  # 城区道路 (城管) or 公路 (交通)?
IN_GRID_1 = (35.6726, 117.2626)


async def all_tickets(h: Harness) -> list[Ticket]:
    async with h.sessionmaker() as s:
        return list(await s.scalars(sa.select(Ticket).order_by(Ticket.id)))


async def test_unsure_router_asks_the_resident_and_learns_the_choice(
        harness: Harness, org: Org) -> None:
    h = harness
    u = h.user(8001)
    await u.say(t("btn_report"))
    await u.say(ROAD)
    asked = u.last
    assert asked.text == t("report_ask_matter")
    labels = [b for b, _ in asked.buttons]
    assert 3 <= len(labels) <= 4 and labels[-1] == t("btn_matter_none")
    assert "城区道路和人行道破损" in labels and "国省县乡公路破损和养护" in labels
    await u.say("随便写点")  # words instead of a button: asked again, nothing lost
    assert u.last.text == t("prompt_matter")
    road = dict(asked.buttons)["城区道路和人行道破损"]
    await u.press_data(road, asked)
    assert asked.text == t("report_matter_chosen", matter="城区道路和人行道破损")
    await u.press_data(road, asked)  # the same button again: stale
    assert u.last_alert() == t("stale_button")
    await u.location(*IN_GRID_1)
    await u.say(t("btn_no_phone"))
    await u.press(t("btn_confirm"))
    [ticket] = await all_tickets(h)
    assert ticket.state == TicketState.ASSIGNED
    assert ticket.unit_id == (await org.unit("CG")).id
    assert ticket.routing["rule"] == "resident"
    assert ticket.routing["resident_choice"] == "CG07"
    assert [s["unit"] for s in ticket.routing["suggestions"]][:2] == ["JT", "CG"]

    other = h.user(8002)
    await other.say(t("btn_report"))
    await other.say(ROAD)
    await other.press(t("btn_matter_none"))
    assert other.last_with_buttons().text != t("report_ask_matter")
    await other.location(*IN_GRID_1)
    await other.say(t("btn_no_phone"))
    await other.press(t("btn_confirm"))
    second = (await all_tickets(h))[-1]
    assert second.state == TicketState.TRIAGE and second.unit_id is None
    assert second.routing["resident_choice"] == "none"
    async with h.sessionmaker() as s:
        assert await corrected_examples(s) == [(ROAD, "CG")]  # the choice, labelled


async def test_a_clear_request_is_not_asked(harness: Harness, org: Org) -> None:
    u = harness.user(8003)
    await u.say(t("btn_report"))
    await u.say("小区路灯坏了")
    assert t("report_ask_matter") not in [m.text for m in u.inbox]
    assert u.last.text == t("report_pick_town")


async def dispatcher(h: Harness, org: Org) -> object:
    person = await org.person("staff-dispatch-1")
    assert person.tg_user_id is not None
    return h.user(person.tg_user_id, person.name)


async def test_dispatcher_records_phone_and_counter_requests(
        harness: Harness, org: Org, ctx) -> None:  # type: ignore[no-untyped-def]
    h = harness
    d = await dispatcher(h, org)
    await d.say("/record")  # type: ignore[attr-defined]
    await d.press(t("channel_phone"))  # type: ignore[attr-defined]
    await d.say("王大爷")  # type: ignore[attr-defined]
    await d.say("12345")  # type: ignore[attr-defined]
    assert d.last.text == t("err_phone_invalid")  # type: ignore[attr-defined]
    await d.say("13905379999")  # type: ignore[attr-defined]
    await d.say("泉林镇卞桥村")  # type: ignore[attr-defined]
    await d.say("邻居天天往俺家门口倒脏水")  # type: ignore[attr-defined]
    preview = d.last  # type: ignore[attr-defined]
    assert "邻里纠纷" in preview.text and "泉林镇人民政府" in preview.text
    assert preview.buttons[0][0] == t("btn_record_confirm", unit="泉林镇人民政府")
    await d.press(t("btn_record_confirm", unit="泉林镇人民政府"), preview)  # type: ignore[attr-defined]
    [phoned] = await all_tickets(h)
    assert preview.text.startswith(t("record_done", number=phoned.number,
                                     unit="泉林镇人民政府")[:8])
    assert (phoned.channel, phoned.routing["rule"]) == ("phone", "dispatcher")
    assert phoned.unit_id == (await org.unit("U-QL")).id
    async with h.sessionmaker() as s:
        caller = await s.get(Person, phoned.resident_id)
        assert caller is not None and caller.tg_user_id is None
        assert (caller.name, caller.phone) == ("王大爷", "13905379999")

    # At the counter, corrected by the dispatcher: the learned example is their choice.
    await d.say("/record")  # type: ignore[attr-defined]
    await d.press(t("channel_counter"))  # type: ignore[attr-defined]
    await d.say("李阿姨")  # type: ignore[attr-defined]
    await d.say("13905378888")  # type: ignore[attr-defined]
    await d.press(t("btn_record_skip_place"))  # type: ignore[attr-defined]
    await d.say("家里突然没电了 邻居家也没电")  # type: ignore[attr-defined]
    preview = d.last  # type: ignore[attr-defined]
    assert "国网泗水县供电公司" in preview.text
    await d.press(t("btn_triage_other"), preview)  # type: ignore[attr-defined]
    await d.press("国网泗水县供电公司", preview)  # type: ignore[attr-defined]
    counter = (await all_tickets(h))[-1]
    assert (counter.channel, counter.state) == ("counter", TicketState.ASSIGNED)

    # The caller has no chat: once resolved, the callback staff phone at once.
    async with h.sessionmaker() as s:
        ticket = await s.get(Ticket, counter.id)
        worker = await s.scalar(sa.select(Person).where(Person.code == "staff-gd-1"))
        assert ticket is not None and worker is not None
        life = ctx.lifecycle(s)
        await life.accept(ticket, worker)
        await life.resolve(ticket, worker, "已恢复供电")
        assert ticket.callback_at == ctx.clock.now()
        await s.commit()
        day = ctx.clock.now().astimezone(ctx.calendar.tz).date()
        start = dt.datetime.combine(day, dt.time(), ctx.calendar.tz)
        report = await stats.compute(s, start, start + dt.timedelta(days=1), ctx.clock.now(),
                                     ctx.calendar, group="channel")
    assert {name: f.received for name, f in report.groups.items()} == {
        t("channel_phone"): 1, t("channel_counter"): 1}


async def test_only_dispatchers_record(harness: Harness, org: Org) -> None:
    u = harness.user(8004)
    await u.say("/start")
    await u.say("/record")
    assert t("record_ask_channel") not in [m.text for m in u.inbox]
