"""Every push delivered or loudly failed: user text in pushed messages, sender faults."""

from __future__ import annotations

import html

import sqlalchemy as sa

from models import OutboxMessage, TicketState
from services.texts import t
from tests.bot_double import Harness
from tests.conftest import Org
from tests.test_resident import IN_GRID_1, tickets
from tests.test_staff import staff, the_ticket

NASTY = '<急>A&B小区路灯坏了好几天 <a href="http://evil.example">点我</a> 请尽快维修'


def shown(text: str) -> str:
    """What the user reads (HTML parse mode)."""
    return html.unescape(text)


async def test_user_text_with_markup_reaches_everyone_as_written(harness: Harness,
                                                                 org: Org) -> None:
    h = harness
    resident = h.user(6201, "A&B<先生>")
    await resident.say(t("btn_report"))
    await resident.say(NASTY)
    await resident.location(*IN_GRID_1)
    await resident.say(t("btn_no_phone"))
    await resident.press(t("btn_confirm"))
    ticket = await the_ticket(h)
    assert ticket.state == TicketState.ASSIGNED
    worker = await staff(h, org, "grid-shjd-1")
    unit_staff = await staff(h, org, "staff-zj-1")
    await h.deliver()  # checks delivered == enqueued
    for chatter in (worker, unit_staff):
        pushed = chatter.last
        assert NASTY in shown(pushed.text) and "<a href" not in pushed.text
        assert pushed.buttons  # 接单 reached them
    await worker.press(t("btn_work_accept"), worker.last)
    await worker.press(t("btn_work_resolve"), worker.last)
    await worker.say("已修复 <b>路灯</b> & 线路 <i")
    await h.deliver()
    result = resident.last
    assert "已修复 <b>路灯</b> & 线路 <i" in shown(result.text)
    assert [b for b, _ in result.buttons] == [t("rating_satisfied"),
                                              t("rating_basically_satisfied"),
                                              t("rating_unsatisfied")]


async def test_a_long_return_reason_is_clipped_not_the_message(harness: Harness,
                                                               org: Org) -> None:
    h = harness
    resident = h.user(6202)
    await resident.say(t("btn_report"))
    await resident.say("路灯坏了&" * 400)  # 2,000 characters, 3,600 once escaped
    await resident.location(*IN_GRID_1)
    await resident.say(t("btn_no_phone"))
    await resident.press(t("btn_confirm"))
    worker = await staff(h, org, "grid-shjd-1")
    dispatcher = await staff(h, org, "staff-dispatch-1")
    await h.deliver()
    await worker.press(t("btn_work_return"), worker.last)
    await worker.say("不归我们<管>" * 600)
    assert worker.last.text == t("returned_ok", number=(await the_ticket(h)).number)
    await h.deliver()
    card = dispatcher.last
    assert len(card.text) <= 4096 and card.text.startswith("【退单待分派】")
    assert "原因：不归我们<管>" in shown(card.text) and "路灯坏了&" in shown(card.text)
    async with h.sessionmaker() as s:
        states = set(await s.scalars(sa.select(OutboxMessage.state)))
    assert {st.value for st in states} == {"sent"}
    assert len(await tickets(h)) == 1
