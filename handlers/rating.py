"""The resident's 满意 / 基本满意 / 不满意 and callback staff's recorded answers."""

from __future__ import annotations

from aiogram import Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import keyboards as kb
from handlers.my_requests import FollowUp
from handlers.staff_keyboards import CallbackCb, RateCb
from models import Person, Rating, Ticket, TicketState
from services.context import ServiceContext
from services.errors import InvalidInput, NotFound
from services.texts import t


def _rating(value: str) -> Rating:
    try:
        return Rating(value)
    except ValueError as exc:
        raise InvalidInput("stale_button") from exc


async def on_rate(query: CallbackQuery, callback_data: RateCb, state: FSMContext,
                  session: AsyncSession, ctx: ServiceContext, me: Person) -> None:
    ticket = await session.get(Ticket, callback_data.id)
    if ticket is None or ticket.resident_id != me.id:
        raise NotFound()
    rating = _rating(callback_data.rating)
    await ctx.lifecycle(session).rate(ticket, me, rating)
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)
    await query.answer()
    assert isinstance(query.message, Message)
    if rating == Rating.UNSATISFIED:
        # Reopened at once; the reason is optional and reaches the unit as a follow-up.
        await state.set_state(FollowUp.text)
        await state.set_data({"ticket_id": ticket.id})
        await query.message.answer(t("rated_reopened", number=ticket.number),
                                   reply_markup=kb.cancel_only())
        return
    await query.message.answer(t("rated_thanks", number=ticket.number,
                                 rating=t(f"rating_{rating}")))


async def on_callback_result(query: CallbackQuery, callback_data: CallbackCb,
                             session: AsyncSession, ctx: ServiceContext, me: Person) -> None:
    ticket = await session.get(Ticket, callback_data.id)
    if ticket is None:
        raise NotFound()
    rating = None if callback_data.result == "unreachable" else _rating(callback_data.result)
    await ctx.lifecycle(session).record_callback(ticket, me, rating)
    if isinstance(query.message, Message):
        if ticket.state != TicketState.CALLBACK_DUE:  # answered, or closed as 未回访
            await query.message.edit_reply_markup(reply_markup=None)
        await query.message.answer(t("callback_recorded", number=ticket.number,
                                     result=t(f"rating_{callback_data.result}")))
    await query.answer()


def make_router() -> Router:
    router = Router(name=__name__)
    router.callback_query.register(on_rate, RateCb.filter())
    router.callback_query.register(on_callback_result, CallbackCb.filter())
    return router
