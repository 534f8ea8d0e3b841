"""What a resident and everyday staff see: keyboards per step, menus and "/" lists per role,
refusals that name the role, the wording of places, reopenings, states, appointments."""

from __future__ import annotations

import sqlalchemy as sa
from aiogram.methods import SetMyCommands
from aiogram.types import BotCommandScopeChat, ReplyKeyboardMarkup, ReplyKeyboardRemove

from models import OutboxMessage, Person, Rating, TicketState, Unit
from services.texts import t
from tests.bot_double import Chatter, Harness
from tests.conftest import Org
from tests.test_appointments import TOPIC
from tests.test_resident import LAMP, submit_lamp, tickets


def reply_keyboard_now(u: Chatter) -> ReplyKeyboardMarkup | ReplyKeyboardRemove | None:
    """The reply keyboard the chat shows: the last one sent (or its removal)."""
    marks = [m.markup for m in u.inbox
             if isinstance(m.markup, ReplyKeyboardMarkup | ReplyKeyboardRemove)]
    return marks[-1] if marks else None


async def test_summary_has_only_its_own_keyboard_and_one_place(harness: Harness) -> None:
    u = harness.user(8801)
    await u.say(t("btn_report"))
    await u.say(LAMP)
    await u.press("泗河街道")
    # Below a town the communities are listed: the fallback names what is not known.
    labels = [b for b, _ in u.last_with_buttons().buttons]
    assert "就是泗河街道（不清楚具体社区或村）" in labels
    assert not any("不清楚具体网格" in b for b in labels)
    await u.say("东关社区")  # typed: the place is settled by the name in it
    assert t("btn_no_phone") in [b.text for row in reply_keyboard_now(u).keyboard  # type: ignore[union-attr]
                                 for b in row]
    await u.say(t("btn_no_phone"))
    assert u.last.text.startswith("请核对")
    assert isinstance(reply_keyboard_now(u), ReplyKeyboardRemove)  # no 使用本机号码 / 不留电话
    assert "地点：泗河街道 · 东关社区\n" in u.last.text  # not "东关社区（东关社区）"
    # 改地点: the old typed address goes; a shared location settles the new place.
    await u.press(t("btn_edit_place"))
    assert any(b.request_location for row in reply_keyboard_now(u).keyboard  # type: ignore[union-attr]
               for b in row)
    await u.location(35.6726, 117.2626)
    assert u.last.text.startswith("请核对")
    assert isinstance(reply_keyboard_now(u), ReplyKeyboardRemove)  # no 📍 发送当前位置
    assert "东关社区" not in u.last.text and t("summary_pin") in u.last.text
    # 改地点 again, now a typed address without a place name: neither pin nor old place.
    await u.press(t("btn_edit_place"))
    await u.say("幸福小区3号楼")
    assert t("summary_pin") not in u.last.text
    assert "地点：幸福小区3号楼\n" in u.last.text
    # A typed phone is acknowledged and its keyboard removed before the summary.
    await u.press(t("btn_edit_phone"))
    await u.say("13912345678")
    assert u.inbox[-2].text == t("report_phone_saved")
    assert isinstance(reply_keyboard_now(u), ReplyKeyboardRemove)


def commands_set_for(h: Harness, chat_id: int) -> list[str]:
    calls = [c for c in h.recorder.calls if isinstance(c, SetMyCommands)
             and isinstance(c.scope, BotCommandScopeChat) and c.scope.chat_id == chat_id]
    assert calls, f"no setMyCommands for chat {chat_id}"
    return [c.command for c in calls[-1].commands]


async def test_each_role_has_its_menu_and_command_list(harness: Harness, org: Org) -> None:
    h = harness

    async def chat(code: str) -> Chatter:
        person = await org.person(code)
        return h.user(person.tg_user_id or 0, person.name)

    worker, dispatcher = await chat("grid-shjd-1"), await chat("staff-dispatch-1")
    leader, callback = await chat("staff-cg-leader"), await chat("staff-callback-1")
    rep, resident = await chat("rep-1"), h.user(8802)
    organiser, volunteer = await chat("org-shjd-01"), await chat("vol-1")
    expected = {
        worker: (["我的待办", "帮助"], ["start", "queue", "ticket", "help", "cancel"]),
        dispatcher: (["待分派", "待回访", "统计", "预约名单", "帮助"],
                     ["start", "triage", "callbacks", "stats", "roster", "ticket", "help",
                      "cancel"]),
        leader: (["我的待办", "统计", "帮助"],
                 ["start", "queue", "stats", "ticket", "help", "cancel"]),
        callback: (["待回访", "帮助"], ["start", "callbacks", "ticket", "help", "cancel"]),
        rep: (["预约名单", "帮助"], ["start", "roster", "ticket", "help", "cancel"]),
        organiser: (["代办单", "代办情况", "帮助"],
                    ["start", "orders", "errandstats", "help", "cancel"]),
        volunteer: (["我的志愿服务", "帮助"], ["start", "volunteer", "help", "cancel"]),
    }
    for who, (buttons, commands) in expected.items():
        await who.say("/start")
        assert who.last.reply_buttons == buttons, who.user.first_name
        # Their own greeting, not the resident's privacy notice with 同意/不同意.
        assert who.last.text.startswith(f"您好，{who.user.first_name}！"), who.last.text
        assert "工作台" in who.last.text
        assert not [m for m in who.inbox if t("btn_consent") in [b for b, _ in m.buttons]]
        assert t("privacy_notice", days=365, hours=72) not in [m.text for m in who.inbox]
        assert commands_set_for(h, who.user.id) == commands
        assert "/" + commands[1] in who.last.text  # the help lists their commands
    await resident.say("/start")
    assert resident.last.reply_buttons == [t("btn_report"), t("btn_my"), t("btn_appointment"),
                                           t("btn_errand"), t("btn_help")]
    assert not [c for c in h.recorder.calls if isinstance(c, SetMyCommands)
                and getattr(c.scope, "chat_id", None) == resident.user.id]
    # The buttons work; a command of another role names who may use it.
    await dispatcher.say("待分派")
    assert dispatcher.last.text == t("triage_empty")
    await worker.say("我的待办")
    assert worker.last.text == t("queue_empty")
    await worker.say("/triage")
    assert worker.last.text == "/triage 仅供县民意诉求受理中心分派员或管理员使用。"
    await dispatcher.say("/queue")
    assert dispatcher.last.text == "/queue 仅供网格员、承办单位工作人员或单位负责人使用。"
    # Cancelling a step gives the staff member their own menu back, not the resident's.
    await worker.say("/cancel")
    assert worker.last.reply_buttons == ["我的待办", "帮助"]


async def test_reopen_without_reason_and_finished_wording(harness: Harness, org: Org) -> None:
    h = harness
    resident = h.user(8803)
    await submit_lamp(resident)
    [ticket] = await tickets(h)
    worker = await org.person("grid-shjd-1")
    async with h.sessionmaker() as s:
        me = await s.scalar(sa.select(Person).where(Person.tg_user_id == 8803))
        w = await s.get(Person, worker.id)
        tk = await s.get(type(ticket), ticket.id)
        assert me is not None and w is not None and tk is not None
        life = h.ctx.lifecycle(s)
        await life.accept(tk, w)
        await life.resolve(tk, w, "已更换灯泡", [])
        await life.rate(tk, me, Rating.UNSATISFIED, solved=True)  # no reason given
        await s.commit()
        texts = [r.text for r in await s.scalars(sa.select(OutboxMessage).where(
            OutboxMessage.kind == "reopened"))]
    assert texts and all("【退回重办】" in x for x in texts)
    assert not any("：—" in x for x in texts)
    assert "群众评价：已解决，不满意（第1次）\n" in texts[0]
    async with h.sessionmaker() as s:
        tk = await s.get(type(ticket), ticket.id)
        me = await s.scalar(sa.select(Person).where(Person.tg_user_id == 8803))
        w = await s.get(Person, worker.id)
        assert tk is not None and me is not None and w is not None
        life = h.ctx.lifecycle(s)
        await life.accept(tk, w)
        await life.resolve(tk, w, "已更换灯泡并检修线路", [])
        await life.rate(tk, me, Rating.SATISFIED, solved=True)
        await s.commit()
        assert tk.state == TicketState.CLOSED
    await resident.say(t("btn_my"))
    listing = resident.last.text
    assert f"{ticket.number}【已办结】" in listing and "已关闭" not in listing


async def test_appointment_confirmation_and_roster_unit(harness: Harness, org: Org) -> None:
    u = harness.user(8804)
    await u.say(t("btn_appointment"))
    await u.press("泗河街道")
    await u.press("泗河社区党群服务中心")
    await u.press("12月15日")
    await u.press("09:00")
    await u.say(TOPIC)
    confirm = u.last.text
    for part in ("泗河社区党群服务中心", "泗水县泗河街道泗河社区泉源大道166号",
                 "2026年12月15日（星期二）09:00–09:30", TOPIC):
        assert part in confirm, part
    await u.press(t("btn_confirm"))
    receiver = harness.user((await org.person("rep-1")).tg_user_id or 0)
    await receiver.say("/roster 2026-12-15")
    async with harness.sessionmaker() as s:
        names = set(await s.scalars(sa.select(Unit.name)))
    unit = receiver.last.text.rsplit("可能承办：", 1)[1]
    assert unit in names, unit  # a unit, not a category


async def test_unreachable_resident_hears_finished_not_closed(harness: Harness,
                                                              org: Org) -> None:
    h = harness
    resident = h.user(8805)
    await submit_lamp(resident)
    [ticket] = await tickets(h)
    worker = await org.person("grid-shjd-1")
    async with h.sessionmaker() as s:
        tk = await s.get(type(ticket), ticket.id)
        w = await s.get(Person, worker.id)
        assert tk is not None and w is not None
        life = h.ctx.lifecycle(s)
        await life.accept(tk, w)
        await life.resolve(tk, w, "已更换灯泡", [])
        await life.mark_callback_due(tk)
        await life.close(tk, None, "no_callback")
        await s.commit()
        [text] = [r.text for r in await s.scalars(sa.select(OutboxMessage).where(
            OutboxMessage.kind == "closed"))]
    assert "已办结" in text and "已关闭" not in text
    await resident.say(t("btn_my"))
    assert f"{ticket.number}【已办结】" in resident.last.text
