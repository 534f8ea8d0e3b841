"""Grid workers, unit staff, dispatchers and callback staff in chat (real Dispatcher)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from handlers.staff_keyboards import RateCb, WorkCb
from models import OutboxMessage, Person, Rating, Ticket, TicketEvent, TicketState
from services import invites
from services.clock import ManualClock
from services.texts import answer_words, t
from tests.bot_double import Chatter, Harness
from tests.conftest import Org
from tests.test_resident import LAMP, submit_lamp, tickets


async def staff(h: Harness, org: Org, code: str) -> Chatter:
    person = await org.person(code)
    assert person.tg_user_id is not None
    return h.user(person.tg_user_id, person.name)


async def the_ticket(h: Harness) -> Ticket:
    [ticket] = await tickets(h)
    return ticket


async def test_full_life_across_roles(harness: Harness, org: Org) -> None:
    h = harness
    resident = h.user(6001, "李四")
    await resident.say(t("btn_report"))
    await resident.say(LAMP)
    await resident.photo("PH-1")
    await resident.location(35.6726, 117.2626)
    await resident.say("13805371234")
    await resident.press(t("btn_confirm"))
    ticket = await the_ticket(h)
    worker = await staff(h, org, "grid-shjd-1")
    unit_staff = await staff(h, org, "staff-cg-1")
    assert await h.deliver() > 0
    # The grid worker's assignment: photo with the text as caption and three buttons.
    pushed = worker.last
    assert ticket.number in pushed.text and pushed.photo == "PH-1"
    assert [b for b, _ in pushed.buttons] == [t("btn_work_accept"), t("btn_work_return"),
                                               t("btn_work_whistle"), t("btn_work_detail")]
    assert ticket.number in unit_staff.last.text
    # Detail: the assignee sees the phone, the unit's other staff see it masked.
    await worker.press(t("btn_work_detail"), pushed)
    assert "13805371234" in worker.inbox[-2].text and worker.last.text.startswith("[位置")
    await unit_staff.press(t("btn_work_detail"), unit_staff.last)
    view = unit_staff.inbox[-2].text
    assert "138****1234" in view and "13805371234" not in view
    # Accept: the pressed message gets the next buttons; the other copy goes stale.
    await worker.press(t("btn_work_accept"), pushed)
    assert [b for b, _ in pushed.buttons] == [
        t("btn_work_progress"), t("btn_work_resolve"), t("btn_work_transfer"),
        t("btn_work_whistle"), t("btn_work_detail")]
    zj_copy = next(m for m in unit_staff.inbox if m.buttons and ticket.number in m.text)
    await unit_staff.press(t("btn_work_accept"), zj_copy)
    assert unit_staff.last_alert() == t("err_illegal_transition", number=ticket.number,
                                        state=t("state_accepted"), action=t("action_accept"))
    await h.deliver()
    assert t("ob_accepted", number=ticket.number, unit="县城市管理局",
             due="2026年12月2日 10:00") == resident.last.text
    # Progress reaches the resident.
    await worker.press(t("btn_work_progress"), pushed)
    await worker.say("已联系电工，明天上午更换灯泡")
    assert worker.last.text == t("progress_ok", number=ticket.number)
    await h.deliver()
    assert "已联系电工" in resident.last.text
    # Transfer to the unit's staff member, who accepts and resolves with a photo.
    await worker.press(t("btn_work_transfer"), pushed)
    await worker.press(unit_staff.user.first_name)
    assert worker.last.text == t("transferred_ok", number=ticket.number,
                                 name=unit_staff.user.first_name)
    await h.deliver()
    handed = unit_staff.last
    assert handed.text.startswith(t("ob_transferred"))
    await unit_staff.press(t("btn_work_accept"), handed)
    await unit_staff.press(t("btn_work_resolve"), handed)
    await unit_staff.photo("RESULT-1")
    assert unit_staff.last.text == t("result_photo_saved", count=1)
    await unit_staff.say("路灯已更换，恢复照明")
    assert unit_staff.last.text == t("resolved_ok", number=ticket.number)
    await h.deliver()
    assert "路灯已更换" in resident.last.text and resident.last.photo == "RESULT-1"
    # Two questions: 已解决/未解决, then the satisfaction. 未解决 reopens even with 满意;
    # a press on the old buttons is refused; 已解决 + 满意 closes.
    await resident.press(t("solved_false"), resident.last)
    assert resident.last.text == t("ask_satisfaction", number=ticket.number,
                                   solved=t("solved_false"))
    assert (await the_ticket(h)).state == TicketState.RESOLVED  # nothing half-recorded
    rating_msg = resident.last
    await resident.press(t("rating_satisfied"), rating_msg)
    answer = answer_words(False, "satisfied")
    assert resident.last.text == t("rated_reopened", number=ticket.number, answer=answer)
    await resident.say("只换了一盏，另一盏还是不亮")
    assert resident.last.text == t("follow_up_sent", number=ticket.number)
    await resident.press_data(RateCb(id=ticket.id, solved=True,
                                     rating=Rating.SATISFIED).pack(), rating_msg)
    assert "不能评价" in resident.last_alert()
    await h.deliver()
    assert any("另一盏还是不亮" in m.text for m in unit_staff.inbox)
    reopened = next(m for m in reversed(unit_staff.inbox) if "退回重办" in m.text)
    assert answer in reopened.text
    await unit_staff.press(t("btn_work_accept"), reopened)
    await unit_staff.press(t("btn_work_resolve"), reopened)
    await unit_staff.say("已加装第二盏灯")
    await h.deliver()
    await resident.press(t("solved_true"), resident.last)
    await resident.press(t("rating_satisfied"), resident.last)
    assert resident.last.text == t("rated_thanks", number=ticket.number,
                                   answer=answer_words(True, "satisfied"))
    ticket = await the_ticket(h)
    assert ticket.state == TicketState.CLOSED and ticket.reopen_count == 1
    assert ticket.outcome == "rated"


async def test_refusals_wrong_role_other_unit_forged(harness: Harness, org: Org) -> None:
    h = harness
    resident = h.user(6002)
    await submit_lamp(resident)
    ticket = await the_ticket(h)
    outsider = await staff(h, org, "staff-gd-1")  # 供电: not this ticket's unit
    await outsider.say(f"/ticket {ticket.number}")
    assert outsider.last.text == t("err_not_found")
    await outsider.press_data(WorkCb(action="accept", id=ticket.id).pack(),
                              resident.last)
    assert outsider.last_alert() == t("err_not_found")
    await resident.press_data(WorkCb(action="accept", id=ticket.id).pack(), resident.last)
    assert resident.last_alert() == t("err_not_found")
    await resident.say("/queue")
    assert resident.last.text == "/queue 仅供网格员、承办单位工作人员或单位负责人使用。"
    await resident.say("/triage")
    assert resident.last.text == "/triage 仅供县民意诉求受理中心分派员或管理员使用。"
    await resident.press_data(WorkCb(action="accept", id=999999).pack(), resident.last)
    assert resident.last_alert() == t("err_not_found")
    other = h.user(6003)
    await other.press_data(RateCb(id=ticket.id, solved=True).pack(), resident.last)
    assert other.last_alert() == t("err_not_found")
    worker = await staff(h, org, "grid-shjd-1")
    await worker.say("/queue")
    assert ticket.number in worker.last.text
    await worker.say(f"/ticket {ticket.number}")
    assert ticket.number in worker.inbox[-2].text or ticket.number in worker.last.text


async def test_triage_return_and_correction(harness: Harness, org: Org) -> None:
    h = harness
    resident = h.user(6004)
    await resident.say(t("btn_report"))
    await resident.say("请问这个事情应该找谁办理呢")  # nothing the router can use
    await resident.say("泗河社区")
    await resident.say(t("btn_no_phone"))
    await resident.press(t("btn_confirm"))
    ticket = await the_ticket(h)
    assert ticket.state == TicketState.TRIAGE
    assert resident.last.text.startswith("提交成功") and "县民意诉求受理中心" in resident.last.text
    dispatcher = await staff(h, org, "staff-dispatch-1")
    await h.deliver()
    assert ticket.number in dispatcher.last.text
    await dispatcher.say("/triage")
    item = dispatcher.last
    assert ticket.number in item.text and t("btn_triage_other") in [b for b, _ in item.buttons]
    await dispatcher.press(t("btn_triage_other"), item)
    await dispatcher.press(t("btn_next"), item)
    assert "城市管理" not in str(item.buttons)
    await dispatcher.press(t("btn_prev"), item)
    await dispatcher.press("城市管理", item)
    assert item.text == t("triage_done", number=ticket.number, unit="县城市管理局")
    async with h.sessionmaker() as s:
        assign = await s.scalar(sa.select(TicketEvent).where(
            TicketEvent.ticket_id == ticket.id, TicketEvent.action == "assign"))
    assert assign is not None and assign.data["correction"] is True
    # The unit says "not ours": reason required, back to the dispatchers.
    cg = await staff(h, org, "staff-cg-1")
    await h.deliver()
    pushed = cg.last
    await cg.press(t("btn_work_return"), pushed)
    assert cg.last.text == t("ask_return_reason", number=ticket.number)
    await cg.say("属于供电公司管辖的线路")
    assert cg.last.text == t("returned_ok", number=ticket.number)
    await h.deliver()
    assert "属于供电公司管辖" in dispatcher.last.text
    await dispatcher.press(t("btn_triage_open"), dispatcher.last)
    assert ticket.number in dispatcher.last.text
    assert (await the_ticket(h)).state == TicketState.TRIAGE


async def test_invite_binds_and_merges_the_resident_record(
        harness: Harness, org: Org, clock: ManualClock) -> None:
    h = harness
    newcomer = h.user(6100, "王五")
    await submit_lamp(newcomer)  # first a resident
    async with h.sessionmaker() as s:
        person = await invites.new_staff(s, invites.Role.UNIT_STAFF, unit_code="CG",
                                         grid_code=None, name="王五", phone="", clock=clock)
        invite = await invites.create(s, person, clock, hours=72)
        expired = await invites.create(s, person, clock, hours=1)
        await s.commit()
    await newcomer.say("/start nonsense-token")
    assert newcomer.last.text == t("err_invite_unknown")
    await newcomer.say(f"/start {invite.token}")
    assert newcomer.last.text.startswith("欢迎，王五") and "承办单位工作人员" in newcomer.last.text
    async with h.sessionmaker() as s:
        bound = await s.scalar(sa.select(Person).where(Person.tg_user_id == 6100))
        assert bound is not None and bound.code == person.code
        mine = await s.scalar(sa.select(Ticket))
        assert mine is not None and mine.resident_id == bound.id
    await newcomer.say(t("btn_my"))
    assert mine.number in newcomer.last.text
    intruder = h.user(6101)
    await intruder.say(f"/start {invite.token}")
    assert intruder.last.text == t("err_invite_used")
    clock.advance(dt.timedelta(hours=2))
    await intruder.say(f"/start {expired.token}")
    assert intruder.last.text == t("err_invite_expired")


async def test_outbox_rows_written_with_the_change(harness: Harness) -> None:
    """Nothing is pushed directly: the assignment exists as outbox rows before delivery."""
    resident = harness.user(6200)
    await submit_lamp(resident)
    async with harness.sessionmaker() as s:
        kinds = {r.kind for r in await s.scalars(sa.select(OutboxMessage))}
    assert "assignment" in kinds


async def test_whistle_button_and_callback_staff(harness: Harness, org: Org) -> None:
    h = harness
    resident = h.user(6300)
    await submit_lamp(resident)
    ticket = await the_ticket(h)
    worker = await staff(h, org, "grid-shjd-1")
    await h.deliver()
    pushed = next(m for m in worker.inbox if m.buttons)
    await worker.press(t("btn_work_whistle"), pushed)
    assert worker.last.text == t("ask_whistle_reason", number=ticket.number)
    await worker.say("涉及供电线路改造，网格无法单独解决")
    assert worker.last.text == t("whistled_ok", number=ticket.number)
    assert (await the_ticket(h)).state == TicketState.TRIAGE
    dispatcher = await staff(h, org, "staff-dispatch-1")
    await h.deliver()
    assert "【吹哨】" in dispatcher.last.text
    # Callback staff: a resolved ticket the resident did not rate.
    async with h.sessionmaker() as s:
        tk = await s.get(Ticket, ticket.id)
        assert tk is not None
        life = h.ctx.lifecycle(s)
        admin = await s.scalar(sa.select(Person).where(Person.code == "staff-dispatch-1"))
        gd = await s.scalar(sa.select(Person).where(Person.code == "staff-gd-1"))
        unit = await org.unit("GD")
        await life.assign(tk, admin, unit.id, assignee_id=gd.id)
        await life.accept(tk, gd)
        await life.resolve(tk, gd, "线路已改造")
        await life.mark_callback_due(tk)
        await s.commit()
    caller = await staff(h, org, "staff-callback-1")
    await caller.say("/callbacks")
    item = caller.last
    assert ticket.number in item.text and "电话：未留电话" in item.text
    assert "问题解决了吗" in item.text  # the script asks both questions, solved first
    assert [b for b, _ in item.buttons] == [t("solved_true"), t("solved_false"),
                                            t("rating_unreachable")]
    await caller.press(t("solved_true"), item)
    assert [b for b, _ in item.buttons] == [t(f"rating_{r}") for r in Rating] + [
        t("rating_unreachable")]
    assert (await the_ticket(h)).state == TicketState.CALLBACK_DUE  # nothing recorded yet
    for _ in range(3):
        await caller.press_data(
            next(d for b, d in item.buttons if b == t("rating_unreachable")), item)
    closed = await the_ticket(h)
    assert closed.state == TicketState.CLOSED and closed.outcome == "no_callback"
    await caller.say("/callbacks")
    assert caller.last.text == t("callbacks_empty")


async def test_result_photos_past_the_limit_are_told(harness: Harness, org: Org) -> None:
    """A result photo past work.MAX_RESULT_PHOTOS is not kept, and the worker is told so
    (also for the captioned photo that resolves), never dropped silently."""
    from services.work import MAX_RESULT_PHOTOS

    h = harness
    await submit_lamp(h.user(6010))
    ticket = await the_ticket(h)
    worker = await staff(h, org, "grid-shjd-1")
    await h.deliver()
    card = worker.last
    await worker.press(t("btn_work_accept"), card)
    await worker.press(t("btn_work_resolve"), card)
    # The prompt states the limit; at exactly the limit no more photos are asked for.
    assert worker.last.text == t("ask_result", number=ticket.number, limit=MAX_RESULT_PHOTOS)
    assert f"最多{MAX_RESULT_PHOTOS}张" in worker.last.text
    for i in range(MAX_RESULT_PHOTOS):
        await worker.photo(f"R-{i}")
        if i == MAX_RESULT_PHOTOS - 2:
            assert worker.last.text == t("result_photo_saved", count=MAX_RESULT_PHOTOS - 1)
    assert worker.last.text == t("result_photo_full", count=MAX_RESULT_PHOTOS)
    assert "继续发送照片" not in worker.last.text
    await worker.photo("R-too-many")
    assert worker.last.text == t("result_photo_limit", limit=MAX_RESULT_PHOTOS)
    await worker.photo("R-captioned", caption="路灯已更换，恢复照明")
    assert worker.last.text == (t("result_photo_limit", limit=MAX_RESULT_PHOTOS) + "\n"
                                + t("resolved_ok", number=ticket.number))
    resolved = await the_ticket(h)
    assert resolved.result_photos == [f"R-{i}" for i in range(MAX_RESULT_PHOTOS)]


def test_card_buttons_follow_the_transition_table() -> None:
    """The card offers every worker action the lifecycle allows from the ticket's state,
    except those named (with the reason) in NOT_ON_CARD: a transition added to the table
    shows up on the cards or is excluded on purpose."""
    from handlers.staff_keyboards import CARD_ACTIONS, NOT_ON_CARD, WorkAction, card_actions
    from services.tickets import ALLOWED_FROM

    for state in TicketState:
        allowed = {a for a, event in CARD_ACTIONS.items() if state in ALLOWED_FROM[event]}
        shown = set(card_actions(state)) - {WorkAction.DETAIL}
        assert shown == {a for a in allowed if (state, a) not in NOT_ON_CARD}, state
        assert (WorkAction.DETAIL in card_actions(state)) == bool(shown)
    for (state, action), reason in NOT_ON_CARD.items():  # no stale exclusion
        assert state in ALLOWED_FROM[CARD_ACTIONS[action]] and reason
    assert card_actions(TicketState.ASSIGNED) == (
        WorkAction.ACCEPT, WorkAction.RETURN, WorkAction.WHISTLE, WorkAction.DETAIL)
    assert card_actions(TicketState.ACCEPTED) == (
        WorkAction.PROGRESS, WorkAction.RESOLVE, WorkAction.TRANSFER, WorkAction.WHISTLE,
        WorkAction.DETAIL)


async def test_community_picked_without_location_reaches_its_grid_worker(
        harness: Harness, org: Org) -> None:
    """The place buttons stop at the community; its grid worker is still the assignee: told,
    with the work buttons, and the ticket in 我的待办 (README: the place's grid worker)."""
    from services.texts import plain

    h = harness
    u = h.user(6020)
    await u.say(t("btn_report"))
    await u.say(LAMP)
    await u.press(plain("btn_suggested_place", name="泗河社区"))
    await u.say(t("btn_no_phone"))
    await u.press(t("btn_confirm"))
    ticket = await the_ticket(h)
    worker = await staff(h, org, "grid-shjd-1")
    community = await org.place("SS-SHJD-01")
    assert ticket.place_id == community.id  # the community, not one of its grids
    assert ticket.assignee_id == (await org.person("grid-shjd-1")).id
    await h.deliver()
    card = next(m for m in worker.inbox if ticket.number in m.text)
    assert t("btn_work_accept") in [b for b, _ in card.buttons]
    await worker.say(t("btn_menu_queue"))
    assert ticket.number in worker.last.text
    await worker.press(t("btn_work_accept"), card)
    assert (await the_ticket(h)).state == TicketState.ACCEPTED
