"""改派: a dispatcher moves a ticket a unit already has to another unit, on purpose.

From the dispatcher's view of the ticket (`/ticket NUMBER`): 改派… → a unit (pages of the
active units, those nobody would receive it in marked) → a confirmation that says what
changes (from which unit to which; the previous unit is told) and asks whether the
router was wrong — only then is it stored as a routing correction. An old 【待分派】 card
never does this: it acts only while its ticket is in triage.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.keyboard_builder import InlineKeyboardBuilder
from handlers.staff_keyboards import RerouteAction, RerouteCb
from models import IN_WORK, Person, Ticket
from services import work
from services.context import ServiceContext
from services.errors import IllegalTransition
from services.texts import plain, t


def reroute_button(ticket: Ticket) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=t("btn_reroute"), callback_data=RerouteCb(action=RerouteAction.UNITS,
                                                                 id=ticket.id))
    return kb.as_markup()


async def _movable(session: AsyncSession, me: Person, ticket_id: int) -> Ticket:
    """A dispatcher's ticket that a unit has (assigned or accepted)."""
    ticket = await work.ticket_to_dispatch(session, me, ticket_id)
    if ticket.state not in IN_WORK:
        raise IllegalTransition(number=ticket.number, state=t(f"state_{ticket.state}"),
                                action=t("action_reroute"))
    return ticket


async def on_units(query: CallbackQuery, callback_data: RerouteCb, session: AsyncSession,
                   me: Person) -> None:
    """改派…: a page of the active units but the ticket's own."""
    assert isinstance(query.message, Message)  # CallbackMessage guarantees one
    ticket = await _movable(session, me, callback_data.id)
    units, pages = await work.units_page(session, callback_data.arg)
    nobody = await work.nobody_receives(session, ticket, units)
    kb = InlineKeyboardBuilder()
    for unit in units:
        if unit.id != ticket.unit_id:
            kb.button(text=plain("btn_unit_nobody", unit=unit.name) if unit.id in nobody
                      else unit.name,
                      callback_data=RerouteCb(action=RerouteAction.PICK, id=ticket.id,
                                              arg=unit.id))
    if callback_data.arg > 0:
        kb.button(text=t("btn_prev"), callback_data=RerouteCb(
            action=RerouteAction.UNITS, id=ticket.id, arg=callback_data.arg - 1))
    if callback_data.arg < pages - 1:
        kb.button(text=t("btn_next"), callback_data=RerouteCb(
            action=RerouteAction.UNITS, id=ticket.id, arg=callback_data.arg + 1))
    kb.adjust(2)
    await query.message.edit_reply_markup(reply_markup=kb.as_markup())
    await query.answer()


async def on_pick(query: CallbackQuery, callback_data: RerouteCb, session: AsyncSession,
                  me: Person) -> None:
    """A unit picked: say what changes and ask whether the router was wrong."""
    assert isinstance(query.message, Message)
    ticket = await _movable(session, me, callback_data.id)
    unit = await work.active_unit(session, callback_data.arg)
    previous = await work.unit(session, ticket.unit_id)
    kb = InlineKeyboardBuilder()
    for wrong in (True, False):
        kb.button(text=t("btn_reroute_wrong" if wrong else "btn_reroute_keep"),
                  callback_data=RerouteCb(action=RerouteAction.GO, id=ticket.id, arg=unit.id,
                                          wrong=wrong))
    kb.adjust(1)
    await query.answer()
    await query.message.answer(t("reroute_confirm", number=ticket.number,
                                 previous=previous.name if previous else "—",
                                 unit=unit.name), reply_markup=kb.as_markup())


async def on_go(query: CallbackQuery, callback_data: RerouteCb, session: AsyncSession,
                ctx: ServiceContext, me: Person) -> None:
    assert isinstance(query.message, Message)
    ticket = await _movable(session, me, callback_data.id)
    unit = await work.active_unit(session, callback_data.arg)
    await ctx.lifecycle(session).assign(ticket, me, unit.id, reroute=True,
                                        router_wrong=callback_data.wrong)
    await query.message.edit_text(t("reroute_done", number=ticket.number, unit=unit.name),
                                  reply_markup=None)
    await query.answer()


def make_router() -> Router:
    router = Router(name=__name__)
    router.callback_query.register(on_units, RerouteCb.filter(F.action == RerouteAction.UNITS))
    router.callback_query.register(on_pick, RerouteCb.filter(F.action == RerouteAction.PICK))
    router.callback_query.register(on_go, RerouteCb.filter(F.action == RerouteAction.GO))
    return router
