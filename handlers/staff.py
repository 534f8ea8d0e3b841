"""Grid workers and unit staff: accept, return, progress, resolve, transfer; /queue, /ticket.

Buttons come on the assignment message (pushed by the outbox). Each press is checked by
the lifecycle (who, which state); after an action the pressed message is edited to the
ticket's new buttons, so stale ones disappear. Steps that need words (return reason,
progress, result) are short FSM conversations with the ticket id in their data.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import keyboards as kb
from handlers import staff_views
from handlers.filters import HasRole
from handlers.reroute import reroute_button
from handlers.staff_keyboards import (
    WorkAction,
    WorkCb,
    callback_buttons,
    transfer_buttons,
    work_buttons,
)
from models import IN_WORK, EventAction, Person, Ticket
from services import access, places, work
from services.context import ServiceContext
from services.texts import t


class Work(StatesGroup):
    return_reason = State()
    whistle_reason = State()
    progress = State()
    resolve = State()


async def _refresh(query: CallbackQuery, ticket: Ticket) -> None:
    """Put the ticket's current buttons on the pressed message."""
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=work_buttons(ticket))


# -- the card's buttons: one handler per WorkAction --------------------------------------
async def on_detail(query: CallbackQuery, callback_data: WorkCb, session: AsyncSession,
                    ctx: ServiceContext, me: Person) -> None:
    assert isinstance(query.message, Message)
    ticket = await work.ticket_for(session, me, callback_data.id)
    await query.answer()
    await _send_view(query.message, session, ctx, me, ticket)


async def on_accept(query: CallbackQuery, callback_data: WorkCb, session: AsyncSession,
                    ctx: ServiceContext, me: Person) -> None:
    ticket = await work.ticket_for(session, me, callback_data.id)
    await ctx.lifecycle(session).accept(ticket, me)
    await _refresh(query, ticket)
    await query.answer(t("accepted_ok", number=ticket.number))


async def on_transfer(query: CallbackQuery, callback_data: WorkCb, session: AsyncSession,
                      ctx: ServiceContext, me: Person) -> None:
    """转派: the workers who could take it."""
    assert isinstance(query.message, Message)
    ticket = await work.ticket_for(session, me, callback_data.id)
    ctx.lifecycle(session).ensure_allowed(ticket, EventAction.TRANSFER, me)  # before the list
    people = await work.transfer_candidates(session, me, ticket)
    if not people:
        await query.answer(t("transfer_nobody"), show_alert=True)
        return
    await query.answer()
    await query.message.answer(t("transfer_pick", number=ticket.number),
                               reply_markup=transfer_buttons(
                                   ticket, [(p.id, p.name) for p in people]))


async def on_transfer_to(query: CallbackQuery, callback_data: WorkCb, session: AsyncSession,
                         ctx: ServiceContext, me: Person) -> None:
    assert isinstance(query.message, Message)
    ticket = await work.ticket_for(session, me, callback_data.id)
    target = await work.transfer_target(session, callback_data.arg)
    await ctx.lifecycle(session).transfer(ticket, me, target)
    await query.message.edit_text(t("transferred_ok", number=ticket.number, name=target.name))
    await query.answer()


# The buttons that ask for words first: (the step, the lifecycle action, the question).
STEPS = {WorkAction.RETURN: (Work.return_reason, EventAction.RETURN, "ask_return_reason"),
         WorkAction.WHISTLE: (Work.whistle_reason, EventAction.WHISTLE, "ask_whistle_reason"),
         WorkAction.PROGRESS: (Work.progress, EventAction.PROGRESS, "ask_progress"),
         WorkAction.RESOLVE: (Work.resolve, EventAction.RESOLVE, "ask_result")}


async def on_step(query: CallbackQuery, callback_data: WorkCb, state: FSMContext,
                  session: AsyncSession, ctx: ServiceContext, me: Person) -> None:
    assert isinstance(query.message, Message)
    ticket = await work.ticket_for(session, me, callback_data.id)
    step, check, prompt = STEPS[callback_data.action]
    ctx.lifecycle(session).ensure_allowed(ticket, check, me)  # a stale button: refused now
    await state.set_state(step)
    await state.set_data({"ticket_id": ticket.id, "photos": []})
    await query.answer()
    await query.message.answer(t(prompt, number=ticket.number, limit=work.MAX_RESULT_PHOTOS),
                               reply_markup=kb.cancel_only())


async def on_reason(message: Message, state: FSMContext, session: AsyncSession,
                    ctx: ServiceContext, me: Person) -> None:
    """The reason for 退回 or 吹哨 (the step says which); both go back to the dispatchers."""
    ticket = await ctx.lifecycle(session).get((await state.get_data())["ticket_id"])
    life = ctx.lifecycle(session)
    if await state.get_state() == Work.whistle_reason.state:
        await life.whistle(ticket, me, message.text or "")
        done = "whistled_ok"
    else:
        await life.return_to_triage(ticket, me, message.text or "")
        done = "returned_ok"
    await state.clear()
    await message.answer(t(done, number=ticket.number), reply_markup=kb.main_menu(me))


async def on_callbacks(message: Message, session: AsyncSession, ctx: ServiceContext,
                       me: Person) -> None:
    """回访: tickets whose residents did not rate in time, with phone and answer buttons."""
    tickets = await work.callback_queue(session, me, clock=ctx.clock)
    if not tickets:
        await message.answer(t("callbacks_empty"))
        return
    await message.answer(t("callbacks_header", count=len(tickets)))
    for ticket in tickets:
        await message.answer(staff_views.callback_text(ticket, ctx.calendar.tz),
                             reply_markup=callback_buttons(ticket.id))


async def on_progress(message: Message, state: FSMContext, session: AsyncSession,
                      ctx: ServiceContext, me: Person) -> None:
    ticket = await ctx.lifecycle(session).get((await state.get_data())["ticket_id"])
    photos = [message.photo[-1].file_id] if message.photo else []
    await ctx.lifecycle(session).progress(ticket, me, message.text or message.caption or "",
                                          photos)
    await state.clear()
    await message.answer(t("progress_ok", number=ticket.number), reply_markup=kb.main_menu(me))


async def on_result_photo(message: Message, state: FSMContext) -> None:
    """Result photos come first; the result text then resolves the ticket."""
    assert message.photo
    photos = list((await state.get_data()).get("photos", []))
    if not work.add_result_photo(photos, message.photo[-1].file_id):
        await message.answer(t("result_photo_limit", limit=work.MAX_RESULT_PHOTOS))
        return
    await state.update_data(photos=photos)
    full = len(photos) >= work.MAX_RESULT_PHOTOS  # the last one: ask for the words only
    await message.answer(t("result_photo_full" if full else "result_photo_saved",
                           count=len(photos)))


async def on_result(message: Message, state: FSMContext, session: AsyncSession,
                    ctx: ServiceContext, me: Person) -> None:
    data = await state.get_data()
    photos = list(data.get("photos", []))
    dropped = bool(message.photo) and message.photo[-1].file_id not in photos and (
        not work.add_result_photo(photos, message.photo[-1].file_id))
    ticket = await ctx.lifecycle(session).get(data["ticket_id"])
    await ctx.lifecycle(session).resolve(ticket, me, message.text or message.caption or "",
                                         photos)
    await state.clear()
    done = t("resolved_ok", number=ticket.number)
    if dropped:  # the captioned photo was one too many: said, not silently lost
        done = t("result_photo_limit", limit=work.MAX_RESULT_PHOTOS) + "\n" + done
    await message.answer(done, reply_markup=kb.main_menu(me))


async def _send_view(message: Message, session: AsyncSession, ctx: ServiceContext,
                     me: Person, ticket: Ticket) -> None:
    v = await work.view(session, me, ticket.id, ctx.clock)
    text = staff_views.ticket_view(v, await places.path(session, v.place), ctx.calendar.tz,
                                   ctx.clock.now())
    # work.view has already refused anyone who may not see it; buttons for those who work it.
    markup = work_buttons(ticket) if access.does_the_work(me, ticket) else None
    if markup is None and access.may_dispatch(me) and ticket.state in IN_WORK:
        markup = reroute_button(ticket)  # 改派: deliberate, with a confirmation
    await message.answer(text, reply_markup=markup)
    if ticket.latitude is not None and ticket.longitude is not None:
        await message.answer_location(ticket.latitude, ticket.longitude)


async def on_queue(message: Message, session: AsyncSession, ctx: ServiceContext,
                   me: Person) -> None:
    tickets = await work.queue(session, me)
    await message.answer(staff_views.queue_text(tickets, ctx.calendar.tz, ctx.clock.now()))


async def on_ticket_command(message: Message, command: CommandObject, session: AsyncSession,
                            ctx: ServiceContext, me: Person) -> None:
    number = (command.args or "").strip()
    if not number:
        await message.answer(t("ticket_usage"))
        return
    ticket = await work.by_number(session, me, number)
    await _send_view(message, session, ctx, me, ticket)


def make_router() -> Router:
    router = Router(name=__name__)
    workers = HasRole.for_command("queue")
    staff = HasRole.for_command("ticket")
    words = F.text & ~F.text.in_(kb.menu_texts())
    router.callback_query.register(on_detail, WorkCb.filter(F.action == WorkAction.DETAIL))
    router.callback_query.register(on_accept, WorkCb.filter(F.action == WorkAction.ACCEPT))
    router.callback_query.register(on_transfer,
                                   WorkCb.filter(F.action == WorkAction.TRANSFER))
    router.callback_query.register(on_transfer_to, WorkCb.filter(F.action == WorkAction.TO))
    router.callback_query.register(on_step, WorkCb.filter(F.action.in_(set(STEPS))))
    router.message.register(on_reason, StateFilter(Work.return_reason, Work.whistle_reason),
                            words)
    router.message.register(on_progress, Work.progress, words | F.photo)
    router.message.register(on_result, Work.resolve, words)
    router.message.register(on_result, Work.resolve, F.photo & F.caption)
    router.message.register(on_result_photo, Work.resolve, F.photo)
    router.message.register(on_queue, Command("queue"), workers)
    router.message.register(on_queue, F.text == t("btn_menu_queue"), workers)
    router.message.register(on_ticket_command, Command("ticket"), staff)
    callback_staff = HasRole.for_command("callbacks")
    router.message.register(on_callbacks, Command("callbacks"), callback_staff)
    router.message.register(on_callbacks, F.text == t("btn_menu_callbacks"), callback_staff)
    return router
