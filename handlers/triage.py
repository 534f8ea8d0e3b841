"""The county intake centre's dispatchers: /triage and one-tap assignment.

Each ticket waiting in triage is shown with the router's two suggestions and the terms
that drove them; a tap assigns (recorded as a routing correction by the lifecycle), or
"其他单位…" pages through every active unit.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import staff_views
from handlers.filters import HasRole
from handlers.staff_keyboards import TriageAction, TriageCb, triage_buttons
from models import Person, Ticket, TicketState, Unit
from services import work
from services.context import ServiceContext
from services.texts import t


async def on_triage(message: Message, session: AsyncSession, ctx: ServiceContext,
                    me: Person) -> None:
    tickets = await work.triage_queue(session, me)
    if not tickets:
        await message.answer(t("triage_empty"))
        return
    await message.answer(t("triage_header", count=len(tickets)))
    for ticket in tickets:
        suggested = await work.suggested_units(session, ticket)
        await message.answer(staff_views.triage_text(ticket, ctx.calendar.tz, _names(suggested)),
                             reply_markup=triage_buttons(
                                 ticket, suggested,
                                 nobody=await work.nobody_receives(session, ticket, suggested)))


async def _waiting(query: CallbackQuery, callback_data: TriageCb, session: AsyncSession,
                   me: Person) -> Ticket | None:
    """The ticket of a triage card, for a dispatcher, while it waits in triage. An old card
    must not move a ticket a unit already has (that is a deliberate re-route): its
    buttons go, and the dispatcher is told the ticket's state."""
    assert isinstance(query.message, Message)
    ticket = await work.ticket_to_dispatch(session, me, callback_data.id)
    if ticket.state == TicketState.TRIAGE:
        return ticket
    await query.message.edit_reply_markup(reply_markup=None)
    await query.answer(t("triage_card_stale", number=ticket.number,
                         state=t(f"state_{ticket.state}")), show_alert=True)
    return None


async def on_assign(query: CallbackQuery, callback_data: TriageCb, session: AsyncSession,
                    ctx: ServiceContext, me: Person) -> None:
    assert isinstance(query.message, Message)
    if (ticket := await _waiting(query, callback_data, session, me)) is None:
        return
    unit = await work.active_unit(session, callback_data.arg)
    await ctx.lifecycle(session).assign(ticket, me, unit.id)
    await query.message.edit_text(t("triage_done", number=ticket.number, unit=unit.name))
    await query.answer()


async def on_units(query: CallbackQuery, callback_data: TriageCb, session: AsyncSession,
                   me: Person) -> None:
    """其他单位…: a page of every active unit on the same card."""
    assert isinstance(query.message, Message)
    if (ticket := await _waiting(query, callback_data, session, me)) is None:
        return
    units, pages = await work.units_page(session, callback_data.arg)
    await query.message.edit_reply_markup(reply_markup=triage_buttons(
        ticket, [], units_page=callback_data.arg, units=units, pages=pages,
        nobody=await work.nobody_receives(session, ticket, units)))
    await query.answer()


async def on_open(query: CallbackQuery, callback_data: TriageCb, session: AsyncSession,
                  ctx: ServiceContext, me: Person) -> None:
    """打开 on a pushed 【待分派】 message: the card with the router's suggestions."""
    assert isinstance(query.message, Message)
    if (ticket := await _waiting(query, callback_data, session, me)) is None:
        return
    suggested = await work.suggested_units(session, ticket)
    await query.message.answer(staff_views.triage_text(ticket, ctx.calendar.tz, _names(suggested)),
                               reply_markup=triage_buttons(
                                   ticket, suggested,
                                   nobody=await work.nobody_receives(session, ticket,
                                                                     suggested)))
    await query.answer()


def _names(units: list[Unit]) -> dict[str, str]:
    return {u.code: u.name for u in units}


def make_router() -> Router:
    router = Router(name=__name__)
    dispatchers = HasRole.for_command("triage")
    router.message.register(on_triage, Command("triage"), dispatchers)
    router.message.register(on_triage, F.text == t("btn_menu_triage"), dispatchers)
    router.callback_query.register(on_assign, TriageCb.filter(F.action == TriageAction.ASSIGN))
    router.callback_query.register(on_units, TriageCb.filter(F.action == TriageAction.UNITS))
    router.callback_query.register(on_open, TriageCb.filter(F.action == TriageAction.OPEN))
    return router
