import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from models import Person, Rating, Ticket, TicketEvent
from models import TicketState as S
from models.db import make_sessionmaker
from services.clock import ManualClock
from services.context import ServiceContext
from services.errors import Conflict, IllegalTransition, InvalidInput, NotAllowed, NotFound
from services.tickets import Draft, Lifecycle, Route
from tests.conftest import TZ, Org
from tests.helpers import events, new_resident, outbox

GRID = "SS-SHJD-01-G1"  # worker: grid-shjd-1


async def submit(session: AsyncSession, ctx: ServiceContext, org: Org, resident_tg: int = 1,
                 unit: str | None = "CG") -> tuple[Lifecycle, Ticket]:
    life = ctx.lifecycle(session)
    resident = await new_resident(session, ctx.clock, resident_tg)
    grid = await org.place(GRID)
    route = Route((await org.unit(unit)).id, "城乡建设", 0.9) if unit else None
    ticket = await life.submit(resident, Draft("小区路灯坏了好几天", place_id=grid.id,
                                               contact_phone="13800000000"), route)
    await session.commit()
    return life, ticket


async def test_confident_submit_is_assigned_with_deadline_and_messages(
        session: AsyncSession, ctx: ServiceContext, org: Org) -> None:
    life, ticket = await submit(session, ctx, org)
    worker = await org.person("grid-shjd-1")
    assert ticket.number == "MY20261127-0001"
    assert ticket.state == S.ASSIGNED and ticket.assignee_id == worker.id
    # Friday 10:00 + 3 working days = Wednesday 10:00.
    assert ticket.due_at == dt.datetime(2026, 12, 2, 10, tzinfo=TZ)
    assert [(e.action, e.from_state, e.to_state) for e in await events(session, ticket.id)] == [
        ("submit", None, S.SUBMITTED), ("assign", S.SUBMITTED, S.ASSIGNED)]
    sent = await outbox(session, ticket.id)
    chats = {m.chat_id for m in sent}
    assert worker.tg_user_id in chats
    assert (await org.person("staff-cg-1")).tg_user_id in chats
    assert (await org.person("staff-zj-1")).tg_user_id not in chats
    assert all(m.kind == "assignment" and m.keyboard == {
        "kind": "assignment", "args": {"ticket_id": ticket.id}} for m in sent)
    assert "2026年12月2日 10:00" in sent[0].text
    _, second = await submit(session, ctx, org, resident_tg=2)
    assert second.number == "MY20261127-0002"


async def test_low_confidence_goes_to_triage_and_dispatcher_reroute_is_a_correction(
        session: AsyncSession, ctx: ServiceContext, org: Org) -> None:
    life, ticket = await submit(session, ctx, org, unit=None)
    dispatcher = await org.person("staff-dispatch-1")
    assert ticket.state == S.TRIAGE and ticket.due_at is None
    assert {m.chat_id for m in await outbox(session, ticket.id)} >= {dispatcher.tg_user_id}
    with pytest.raises(NotFound):  # refused before anything is written; not theirs to see
        await life.assign(ticket, await org.person("staff-cg-1"), (await org.unit("GD")).id)
    await life.assign(ticket, dispatcher, (await org.unit("GD")).id)
    await session.commit()
    last = (await events(session, ticket.id))[-1]
    assert last.data["correction"] is True and last.actor_id == dispatcher.id
    kinds = [m.kind for m in await outbox(session, ticket.id)]
    assert "reassigned" in kinds  # the resident is told where it went


async def test_full_happy_path_to_closed(session: AsyncSession, ctx: ServiceContext,
                                         org: Org) -> None:
    life, ticket = await submit(session, ctx, org)
    staff = await org.person("staff-cg-1")
    resident_id = ticket.resident_id
    await life.accept(ticket, staff)
    with pytest.raises(InvalidInput):
        await life.resolve(ticket, staff, "   ")
    await life.resolve(ticket, staff, "已更换灯泡", ["photo-1"])
    await session.commit()
    result = [m for m in await outbox(session, ticket.id) if m.kind == "result"]
    assert result[0].keyboard["kind"] == "rating" and result[0].photos == ["photo-1"]
    resident = await session.get(type(staff), resident_id)
    await life.rate(ticket, resident, Rating.SATISFIED, solved=True)
    await session.commit()
    assert ticket.state == S.CLOSED and ticket.outcome == "rated"
    with pytest.raises(IllegalTransition):
        await life.rate(ticket, resident, Rating.UNSATISFIED,
                        solved=False)  # no rating twice


async def test_wrong_people_are_refused(session: AsyncSession, ctx: ServiceContext,
                                        org: Org) -> None:
    life, ticket = await submit(session, ctx, org)
    # Who acts is checked first; a ticket they may not see is "not found" (issue 15).
    with pytest.raises(NotFound):
        await life.accept(ticket, await org.person("staff-zj-1"))  # other unit
    with pytest.raises(NotFound):
        await life.accept(ticket, await org.person("grid-shjd-2"))  # other grid
    with pytest.raises(NotAllowed):  # sees it (dispatcher), but accepting is the unit's
        await life.accept(ticket, await org.person("staff-dispatch-1"))
    await life.accept(ticket, await org.person("grid-shjd-1"))
    await life.resolve(ticket, await org.person("staff-cg-leader"), "已修好")
    stranger = await new_resident(session, ctx.clock, 77)
    with pytest.raises(NotFound):
        await life.rate(ticket, stranger, Rating.SATISFIED, solved=True)
    await life.mark_callback_due(ticket)
    with pytest.raises(NotFound):
        await life.record_callback(ticket, stranger, Rating.SATISFIED, solved=True)


async def test_unsatisfied_reopens_with_new_deadline(session: AsyncSession, ctx: ServiceContext,
                                                     org: Org, clock: ManualClock) -> None:
    life, ticket = await submit(session, ctx, org)
    staff = await org.person("staff-cg-1")
    resident = await session.get(type(staff), ticket.resident_id)
    await life.accept(ticket, staff)
    await life.resolve(ticket, staff, "已处理")
    clock.advance(dt.timedelta(days=3))  # Monday 10:00
    await life.rate(ticket, resident, Rating.UNSATISFIED, "灯还是不亮", solved=False)
    await session.commit()
    assert ticket.state == S.ASSIGNED and ticket.reopen_count == 1
    assert ticket.due_at == dt.datetime(2026, 12, 3, 10, tzinfo=TZ)
    reopen = (await events(session, ticket.id))[-1]
    assert (reopen.action, reopen.note, reopen.data["rating"]) == (
        "reopen", "灯还是不亮", "unsatisfied")
    sent = [m for m in await outbox(session, ticket.id) if m.kind == "reopened"]
    assert (await org.person("staff-cg-leader")).tg_user_id in {m.chat_id for m in sent}


async def test_return_escalate_and_close_invalid(session: AsyncSession, ctx: ServiceContext,
                                                 org: Org) -> None:
    life, ticket = await submit(session, ctx, org)
    staff = await org.person("staff-cg-1")
    with pytest.raises(InvalidInput):
        await life.return_to_triage(ticket, staff, "")
    await life.escalate(ticket, await org.person("grid-shjd-1"), "需要多部门协调")
    assert ticket.state == S.ASSIGNED and ticket.escalation_count == 1
    await life.return_to_triage(ticket, staff, "不属于本单位职责")
    assert ticket.state == S.TRIAGE and ticket.assignee_id is None
    dispatcher = await org.person("staff-dispatch-1")
    with pytest.raises(InvalidInput):
        await life.close(ticket, dispatcher, "invalid", "")
    await life.close(ticket, dispatcher, "invalid", "重复诉求")
    await session.commit()
    assert ticket.state == S.CLOSED and ticket.outcome == "invalid"
    kinds = [m.kind for m in await outbox(session, ticket.id)]
    assert {"escalation", "returned", "closed"} <= set(kinds)


async def test_callback_staff_unreachable_three_times_closes_as_no_callback(
        session: AsyncSession, ctx: ServiceContext, org: Org) -> None:
    life, ticket = await submit(session, ctx, org)
    staff = await org.person("staff-cg-1")
    caller = await org.person("staff-callback-1")
    await life.accept(ticket, staff)
    await life.resolve(ticket, staff, "已处理")
    with pytest.raises(IllegalTransition):
        await life.record_callback(ticket, caller, None)  # not due yet
    await life.mark_callback_due(ticket)
    for _ in range(3):
        await life.record_callback(ticket, caller, None, "无人接听")
    await session.commit()
    assert ticket.state == S.CLOSED and ticket.outcome == "no_callback"
    actions = [e.action for e in await events(session, ticket.id)]
    assert actions[-4:] == ["callback", "callback", "callback", "close"]


async def test_callback_staff_record_unsatisfied_reopens(session: AsyncSession,
                                                         ctx: ServiceContext, org: Org) -> None:
    life, ticket = await submit(session, ctx, org)
    staff = await org.person("staff-cg-1")
    await life.accept(ticket, staff)
    await life.resolve(ticket, staff, "已处理")
    await life.mark_callback_due(ticket)
    await life.record_callback(ticket, await org.person("staff-callback-1"),
                               Rating.UNSATISFIED, "电话回访：问题仍在", solved=True)
    assert ticket.state == S.ASSIGNED and ticket.reopen_count == 1


async def test_unsolved_reopens_whatever_the_satisfaction(
        session: AsyncSession, ctx: ServiceContext, org: Org) -> None:
    """问题是否解决 is its own question: 未解决 sends the request back even when 满意."""
    life, ticket = await submit(session, ctx, org)
    staff = await org.person("staff-cg-1")
    await life.accept(ticket, staff)
    await life.resolve(ticket, staff, "已处理")
    resident = await session.get(Person, ticket.resident_id)
    assert resident is not None
    await life.rate(ticket, resident, Rating.SATISFIED, solved=False)
    assert ticket.state == S.ASSIGNED and ticket.reopen_count == 1
    assert (ticket.solved, ticket.rating) == (False, Rating.SATISFIED)
    reopen = (await session.scalars(sa.select(TicketEvent).where(
        TicketEvent.ticket_id == ticket.id, TicketEvent.action == "reopen"))).one()
    assert reopen.data["solved"] is False and reopen.data["rating"] == "satisfied"
    await life.accept(ticket, staff)
    await life.resolve(ticket, staff, "重新处理")
    await life.mark_callback_due(ticket)
    caller = await org.person("staff-callback-1")
    with pytest.raises(InvalidInput):  # the script asks both questions
        await life.record_callback(ticket, caller, Rating.SATISFIED)
    await life.record_callback(ticket, caller, Rating.BASIC, solved=True)
    assert ticket.state == S.CLOSED and ticket.solved is True


async def test_nothing_is_written_when_the_transaction_rolls_back(
        session: AsyncSession, ctx: ServiceContext, org: Org) -> None:
    life, ticket = await submit(session, ctx, org)
    ticket_id = ticket.id
    n_events, n_out = len(await events(session, ticket_id)), len(await outbox(session))
    await life.accept(ticket, await org.person("staff-cg-1"))
    await session.rollback()
    fresh = await session.get(Ticket, ticket_id, populate_existing=True)
    assert fresh.state == S.ASSIGNED
    assert len(await events(session, ticket_id)) == n_events
    assert len(await outbox(session)) == n_out


async def test_concurrent_changes_of_one_ticket_conflict(
        engine: AsyncEngine, session: AsyncSession, ctx: ServiceContext, org: Org) -> None:
    _, ticket = await submit(session, ctx, org)
    ticket_id = ticket.id
    maker = make_sessionmaker(engine)
    async with maker() as a, maker() as b:
        ta, tb = await a.get(Ticket, ticket_id), await b.get(Ticket, ticket_id)
        la, lb = ctx.lifecycle(a), ctx.lifecycle(b)
        await la.accept(ta, await Org(a).person("staff-cg-1"))
        await a.commit()
        with pytest.raises(Conflict):
            await lb.return_to_triage(tb, await Org(b).person("staff-cg-1"), "不归我们")
        await b.rollback()
    session.expire_all()
    assert (await session.get(Ticket, ticket_id)).state == S.ACCEPTED


async def test_empty_text_and_unknown_unit(session: AsyncSession, ctx: ServiceContext,
                                           org: Org) -> None:
    life = ctx.lifecycle(session)
    resident = await new_resident(session, ctx.clock, 5)
    with pytest.raises(InvalidInput):
        await life.submit(resident, Draft("  \n "), None)
    with pytest.raises(InvalidInput):
        await life.submit(resident, Draft("有问题"), Route(unit_id=999_999))
    long = await life.submit(resident, Draft("长" * 20_000), None)
    assert len(long.text) == 4000 and long.state == S.TRIAGE
