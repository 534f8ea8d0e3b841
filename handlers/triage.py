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
from handlers.staff_keyboards import TriageCb, triage_buttons
from models import Person, TicketState
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
        await message.answer(staff_views.triage_text(ticket, ctx.calendar.tz),
                             reply_markup=triage_buttons(
                                 ticket, suggested,
                                 nobody=await work.nobody_receives(session, ticket, suggested)))


async def on_triage_button(query: CallbackQuery, callback_data: TriageCb,
                           session: AsyncSession, ctx: ServiceContext, me: Person) -> None:
    assert isinstance(query.message, Message)
    ticket = await work.ticket_to_dispatch(session, me, callback_data.id)
    if ticket.state != TicketState.TRIAGE:
        # A triage card acts only while the ticket waits in triage: an old card must not
        # move a ticket a unit already has (that is a deliberate re-route).
        await query.message.edit_reply_markup(reply_markup=None)
        await query.answer(t("triage_card_stale", number=ticket.number,
                             state=t(f"state_{ticket.state}")), show_alert=True)
        return
    if callback_data.action == "assign":
        unit = await work.active_unit(session, callback_data.arg)
        await ctx.lifecycle(session).assign(ticket, me, unit.id)
        await query.message.edit_text(t("triage_done", number=ticket.number, unit=unit.name))
        await query.answer()
        return
    text = staff_views.triage_text(ticket, ctx.calendar.tz)
    if callback_data.action == "units":
        units, pages = await work.units_page(session, callback_data.arg)
        markup = triage_buttons(ticket, [], units_page=callback_data.arg, units=units,
                                pages=pages,
                                nobody=await work.nobody_receives(session, ticket, units))
    else:  # open: from the pushed 【待分派】 message
        suggested = await work.suggested_units(session, ticket)
        markup = triage_buttons(ticket, suggested,
                                nobody=await work.nobody_receives(session, ticket, suggested))
    if callback_data.action == "open":
        await query.message.answer(text, reply_markup=markup)
    else:
        await query.message.edit_reply_markup(reply_markup=markup)
    await query.answer()


def make_router() -> Router:
    router = Router(name=__name__)
    dispatchers = HasRole.for_command("triage")
    router.message.register(on_triage, Command("triage"), dispatchers)
    router.message.register(on_triage, F.text == t("btn_menu_triage"), dispatchers)
    router.callback_query.register(on_triage_button, TriageCb.filter())
    return router
