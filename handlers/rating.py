"""The resident's two answers (问题是否解决, then 满意度) and the callback staff's script.

Both ask the same two questions in the same order. The first press only shows the second
question (its answer travels in the buttons' data); the lifecycle records both at once, so
nothing is stored for half an answer. 未解决 or 不满意 reopens the request.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import keyboards as kb
from handlers.my_requests import FollowUp
from handlers.staff_keyboards import CallbackCb, RateCb, callback_buttons, satisfaction_buttons
from models import Person, TicketState
from services.context import ServiceContext
from services.texts import answer_words, t


async def on_solved(query: CallbackQuery, callback_data: RateCb, session: AsyncSession,
                    ctx: ServiceContext, me: Person) -> None:
    """First answer: ask the satisfaction, carrying it."""
    ticket = await ctx.lifecycle(session).get(callback_data.id)
    ctx.lifecycle(session).check_rate(ticket, me)
    assert isinstance(query.message, Message)
    await query.message.edit_reply_markup(reply_markup=None)
    await query.answer()
    await query.message.answer(
        t("ask_satisfaction", number=ticket.number,
          solved=t(f"solved_{str(callback_data.solved).lower()}")),
        reply_markup=satisfaction_buttons(ticket.id, callback_data.solved))


async def on_rate(query: CallbackQuery, callback_data: RateCb, state: FSMContext,
                  session: AsyncSession, ctx: ServiceContext, me: Person) -> None:
    ticket = await ctx.lifecycle(session).get(callback_data.id)
    assert callback_data.rating is not None
    await ctx.lifecycle(session).rate(ticket, me, callback_data.rating,
                                      solved=callback_data.solved)
    await session.commit()  # "已办结" / "已退回重办" is shown only once it is true
    assert isinstance(query.message, Message)
    await query.message.edit_reply_markup(reply_markup=None)
    await query.answer()
    answer = answer_words(callback_data.solved, callback_data.rating)
    if ticket.state != TicketState.CLOSED:
        # Reopened at once; the reason is optional and reaches the unit as a follow-up.
        await state.set_state(FollowUp.text)
        await state.set_data({"ticket_id": ticket.id})
        await query.message.answer(t("rated_reopened", number=ticket.number, answer=answer),
                                   reply_markup=kb.cancel_only())
        return
    await query.message.answer(t("rated_thanks", number=ticket.number, answer=answer))


async def on_callback_solved(query: CallbackQuery, callback_data: CallbackCb,
                             session: AsyncSession, ctx: ServiceContext, me: Person) -> None:
    """The callback staff's first answer: show the satisfaction buttons for the same call."""
    ticket = await ctx.lifecycle(session).get(callback_data.id)
    ctx.lifecycle(session).check_callback(ticket, me)
    assert isinstance(query.message, Message)
    await query.message.edit_reply_markup(
        reply_markup=callback_buttons(ticket.id, callback_data.solved))
    await query.answer(t("callback_ask_satisfaction"))


async def on_callback_result(query: CallbackQuery, callback_data: CallbackCb,
                             session: AsyncSession, ctx: ServiceContext, me: Person) -> None:
    ticket = await ctx.lifecycle(session).get(callback_data.id)
    await ctx.lifecycle(session).record_callback(
        ticket, me, callback_data.rating, solved=callback_data.solved)
    await session.commit()  # recorded before it is said to be
    result = (t("rating_unreachable") if callback_data.rating is None
              else answer_words(callback_data.solved, callback_data.rating))
    assert isinstance(query.message, Message)
    if ticket.state != TicketState.CALLBACK_DUE:  # answered, or closed as 未回访
        await query.message.edit_reply_markup(reply_markup=None)
    elif callback_data.solved is not None:  # unreachable mid-script: start again next call
        await query.message.edit_reply_markup(reply_markup=callback_buttons(ticket.id))
    await query.message.answer(t("callback_recorded", number=ticket.number, result=result))
    await query.answer()


def make_router() -> Router:
    router = Router(name=__name__)
    router.callback_query.register(on_solved, RateCb.filter(F.rating.is_(None)))
    router.callback_query.register(on_rate, RateCb.filter())
    router.callback_query.register(on_callback_result, CallbackCb.filter(F.unreachable))
    router.callback_query.register(on_callback_solved, CallbackCb.filter(F.rating.is_(None)))
    router.callback_query.register(on_callback_result, CallbackCb.filter())
    return router
