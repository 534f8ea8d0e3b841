"""Presses on an errand: 下单 by the organiser, 接单 … 已完成 by the volunteer, the
orderer's confirmation and rating. One handler per action; each loads the errand through
the helper of the party the action belongs to (another person's errand is 'not found')."""

from __future__ import annotations

import datetime as dt

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import errand_keyboards as ekb
from handlers import keyboards as kb
from handlers.errand_keyboards import ErrandCb
from handlers.filters import HasRole
from models import Errand, Person
from services import errand_stats, errands, stats
from services.context import ServiceContext
from services.errand_notices import summary
from services.errands import ErrandAction, Party
from services.texts import t

A = ErrandAction


class Result(StatesGroup):
    note = State()  # the volunteer's 已完成 note / photo


LOADERS = {Party.ORDERER: errands.own, Party.ORGANISER: errands.for_organiser,
           Party.VOLUNTEER: errands.for_volunteer}


async def _load(session: AsyncSession, me: Person, data: ErrandCb) -> Errand:
    party = errands.TRANSITIONS[data.action].party
    return await LOADERS[party](session, me, data.id)


async def _message(query: CallbackQuery) -> Message:
    assert isinstance(query.message, Message)
    return query.message


async def _done(query: CallbackQuery, session: AsyncSession, errand: Errand, party: Party,
                text: str) -> None:
    """Committed, then shown: the pressed message keeps only the buttons still allowed."""
    await session.commit()
    await query.answer()
    message = await _message(query)
    await message.edit_reply_markup(reply_markup=ekb.for_errand(errand, party))
    await message.answer(text)


async def show_queue(message: Message, session: AsyncSession, me: Person) -> None:
    """/orders: the open orders of the organiser's 驿站, those that come first first."""
    queue = await errands.organiser_queue(session, me)
    if not queue:
        await message.answer(t("errand_queue_empty"))
        return
    await message.answer(t("errand_queue_head"))
    for errand in queue[:10]:
        venue = await errands.venue(session, errand.venue_id)
        await message.answer(summary(errand, venue.name, contact=True,
                                     orderer=await errands.orderer_line(session, errand)) + "\n"
                             + t(f"errand_state_{errand.state}"),
                             reply_markup=ekb.for_errand(errand, Party.ORGANISER))


async def on_assign(query: CallbackQuery, callback_data: ErrandCb, session: AsyncSession,
                    ctx: ServiceContext, me: Person) -> None:
    errand = await _load(session, me, callback_data)
    if callback_data.arg == 0:  # show the day's rota to choose from
        errands.check(errand, A.ASSIGN)
        venue = await errands.venue(session, errand.venue_id)
        people = await errands.rota(session, venue, errand.wanted_day)
        await query.answer()
        message = await _message(query)
        if not people:
            await message.answer(t("errand_no_rota", id=errand.id))
            return
        await message.answer(t("errand_pick_volunteer", id=errand.id), reply_markup=ekb.rota(
            errand.id, people, await errands.held(session, [p.id for p in people]),
            ctx.errands.volunteer_capacity))
        return
    chosen = await ctx.errand_lifecycle(session).assign(errand, me, callback_data.arg)
    await session.commit()
    await query.answer()
    # The picker becomes what was done: no list left to pick from again.
    await (await _message(query)).edit_text(
        t("errand_offered_to", id=errand.id, volunteer=chosen.name), reply_markup=None)


async def on_auto(query: CallbackQuery, callback_data: ErrandCb, session: AsyncSession,
                  ctx: ServiceContext, me: Person) -> None:
    errand = await _load(session, me, callback_data)
    chosen = await ctx.errand_lifecycle(session).auto(errand, me)
    await _done(query, session, errand, Party.ORGANISER,
                t("errand_offered_to", id=errand.id, volunteer=chosen.name) if chosen
                else t("errand_rota_out", id=errand.id))


async def on_accept(query: CallbackQuery, callback_data: ErrandCb, session: AsyncSession,
                    ctx: ServiceContext, me: Person) -> None:
    errand = await _load(session, me, callback_data)
    await ctx.errand_lifecycle(session).accept(errand, me)
    venue = await errands.venue(session, errand.venue_id)
    # Only now, and only to this volunteer, the beneficiary's contact.
    await _done(query, session, errand, Party.VOLUNTEER,
                t("errand_accepted_you", summary=summary(
                    errand, venue.name, contact=True,
                    orderer=await errands.orderer_line(session, errand))))


async def on_decline(query: CallbackQuery, callback_data: ErrandCb, session: AsyncSession,
                     ctx: ServiceContext, me: Person) -> None:
    errand = await _load(session, me, callback_data)
    await ctx.errand_lifecycle(session).decline(errand, me)
    await session.commit()
    await query.answer()
    message = await _message(query)
    await message.edit_reply_markup(reply_markup=None)
    await message.answer(t("errand_declined", id=errand.id))


async def on_visit(query: CallbackQuery, callback_data: ErrandCb, session: AsyncSession,
                   ctx: ServiceContext, me: Person) -> None:
    errand = await _load(session, me, callback_data)
    await ctx.errand_lifecycle(session).visit(errand, me)
    await _done(query, session, errand, Party.VOLUNTEER,
                t("errand_visited_you", id=errand.id))


async def on_complete(query: CallbackQuery, callback_data: ErrandCb, state: FSMContext,
                      session: AsyncSession, me: Person) -> None:
    """Ask for the result first; the errand is completed when it arrives."""
    errand = await _load(session, me, callback_data)
    errands.check(errand, A.COMPLETE)
    await state.set_state(Result.note)
    await state.set_data({"errand_id": errand.id})
    await query.answer()
    await (await _message(query)).answer(
        t("errand_ask_result", id=errand.id, limit=errands.MAX_RESULT_PHOTOS),
        reply_markup=kb.cancel_only())


async def on_result_photo(message: Message, state: FSMContext) -> None:
    """A photo without a caption is kept (up to the limit); the text then completes."""
    assert message.photo
    data = await state.get_data()
    if data.get("photo"):
        await message.answer(t("errand_result_photo_limit", limit=errands.MAX_RESULT_PHOTOS))
        return
    await state.update_data(photo=message.photo[-1].file_id)
    await message.answer(t("errand_result_photo_saved", id=data["errand_id"]))


async def on_result(message: Message, state: FSMContext, session: AsyncSession,
                    ctx: ServiceContext, me: Person) -> None:
    """The result text (or a captioned photo) completes the errand with the photo kept."""
    data = await state.get_data()
    errand = await errands.for_volunteer(session, me, data["errand_id"])
    photo = data.get("photo")
    dropped = bool(message.photo) and photo is not None
    if message.photo and photo is None:
        photo = message.photo[-1].file_id
    await ctx.errand_lifecycle(session).complete(
        errand, me, message.text or message.caption or "", photo)
    await state.clear()
    await session.commit()
    done = t("errand_completed_you", id=errand.id)
    if dropped:  # the captioned photo was one too many: said, not silently lost
        done = t("errand_result_photo_limit", limit=errands.MAX_RESULT_PHOTOS) + "\n" + done
    await message.answer(done, reply_markup=kb.main_menu(me))


async def on_rate(query: CallbackQuery, callback_data: ErrandCb, session: AsyncSession,
                  ctx: ServiceContext, me: Person) -> None:
    errand = await _load(session, me, callback_data)
    await ctx.errand_lifecycle(session).rate(errand, me, callback_data.action)
    await _done(query, session, errand, Party.ORDERER,
                t("errand_rated_bad", id=errand.id) if callback_data.action == A.UNSATISFIED
                else t("errand_rated", id=errand.id,
                       rating=t(f"errand_rating_{callback_data.action}")))


async def on_cancel(query: CallbackQuery, callback_data: ErrandCb, session: AsyncSession,
                    ctx: ServiceContext, me: Person) -> None:
    errand = await _load(session, me, callback_data)
    await ctx.errand_lifecycle(session).cancel(errand, me)
    await _done(query, session, errand, Party.ORDERER, t("errand_cancelled", id=errand.id))


async def volunteer(message: Message, session: AsyncSession, ctx: ServiceContext,
                    me: Person) -> None:
    """/volunteer: one's own service hours and points."""
    local = ctx.clock.now().astimezone(ctx.calendar.tz)
    month = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    rec = await errands.record(session, me, month)
    await message.answer(t("volunteer_record", name=me.name, errands=rec.errands,
                           hours=f"{rec.hours:g}", points=rec.points,
                           month_errands=rec.month_errands,
                           month_hours=f"{rec.month_hours:g}", month_points=rec.month_points))


async def on_stats(message: Message, session: AsyncSession, ctx: ServiceContext,
                   me: Person, command: CommandObject | None = None) -> None:
    """/errandstats [period]: the 红色代办 figures of one's 驿站 (or all, for the centre)."""
    venue_ids = errand_stats.scope(me)
    tz = ctx.calendar.tz
    try:
        start, end = stats.parse_period(command.args or "" if command else "",
                                        ctx.clock.now().astimezone(tz).date(), tz)
    except (ValueError, OverflowError):
        start = end = None
    if start is None or end is None or end - start > dt.timedelta(days=3 * 366):
        await message.answer(t("errand_stats_usage"))
        return
    figures = await errand_stats.compute(session, start, end, venue_ids,
                                         now=ctx.clock.now().astimezone(tz))
    await message.answer(errand_stats.summary_text(
        figures, start.date(), (end - dt.timedelta(days=1)).date()))


def make_router() -> Router:
    router = Router(name=__name__)
    for action, handler in ((A.ASSIGN, on_assign), (A.AUTO, on_auto), (A.ACCEPT, on_accept),
                            (A.DECLINE, on_decline), (A.VISIT, on_visit),
                            (A.COMPLETE, on_complete), (A.SATISFIED, on_rate),
                            (A.BASIC, on_rate), (A.UNSATISFIED, on_rate),
                            (A.CANCEL, on_cancel)):
        router.callback_query.register(handler, ErrandCb.filter(F.action == action))
    router.message.register(on_result_photo, StateFilter(Result.note), F.photo,
                            ~F.caption)
    router.message.register(on_result, StateFilter(Result.note), F.text | F.photo,
                            ~F.text.in_(kb.menu_texts()))
    for command, handler in (("orders", show_queue), ("volunteer", volunteer),
                             ("errandstats", on_stats)):
        allowed = HasRole.for_command(command)
        router.message.register(handler, Command(command), allowed)
        router.message.register(handler, F.text == t(f"btn_menu_{command}"), allowed)
    return router
