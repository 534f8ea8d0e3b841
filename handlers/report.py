"""我要反映: the guided, forgiving conversation that turns a resident's words into a ticket.

Steps: description → place → phone → summary/confirm. Photos, voice notes, a shared
location or contact are taken at any step. The draft (`services.intake.ReportDraft`)
lives in FSM data (database or Redis), so a restart continues where the resident was;
nothing is written to the tickets table before 确认, and /cancel leaves nothing behind.
"""

from __future__ import annotations

from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message, ReplyKeyboardRemove
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import keyboards as kb
from handlers import views
from handlers.keyboards import ReportAction, ReportCb
from handlers.privacy import notice_text
from models import Person, PlaceKind
from services import intake, places, work
from services.context import ServiceContext
from services.errors import InvalidInput
from services.intake import ReportDraft
from services.texts import plain, t


class Report(StatesGroup):
    text = State()
    matter = State()  # asked only when the router is unsure which matter it is
    place = State()
    phone = State()
    confirm = State()


# -- entering the steps --------------------------------------------------------------------
async def begin(message: Message, state: FSMContext, me: Person, ctx: ServiceContext) -> None:
    await state.clear()
    await state.set_state(Report.text)
    await state.set_data(ReportDraft.new(me).to_dict())
    if me.consent_at is None:  # 个人信息保护法: the notice before a first request
        await message.answer(notice_text(ctx))
    await message.answer(t("report_ask_text"), reply_markup=kb.cancel_only())


async def begin_with_text(message: Message, state: FSMContext, session: AsyncSession,
                          me: Person, ctx: ServiceContext) -> None:
    """Words typed outside any conversation (the greeting says 直接告诉我们): the start of
    我要反映 with them as the description. Too few to be a description ("你好"): say how to
    start instead. Consent is asked as for 我要反映: the notice now, 确认提交 later."""
    try:
        text = intake.check_description(message.text, ctx.intake)
    except InvalidInput as exc:
        if exc.key != "err_text_meaningless":
            raise
        await message.answer(t("free_text_short", minimum=ctx.intake.min_text_chars),
                             reply_markup=kb.main_menu(me))
        return
    await state.clear()
    await state.set_state(Report.text)
    await state.set_data(ReportDraft.new(me).to_dict())
    if me.consent_at is None:
        await message.answer(notice_text(ctx))
    await message.answer(t("report_from_free_text"), reply_markup=kb.cancel_only())
    await _take_text(message, state, session, me, ctx, text)


async def _draft(state: FSMContext) -> ReportDraft:
    return ReportDraft.from_dict(await state.get_data())


async def _update(state: FSMContext, **changes: Any) -> None:
    """Change the stored draft's fields by name (ReportDraft.changes refuses other names)."""
    await state.update_data(ReportDraft.changes(**changes))


async def _ask_place(message: Message, state: FSMContext, session: AsyncSession) -> None:
    draft = await _draft(state)
    await state.set_state(Report.place)
    suggested = await places.named_in(session, draft.text)
    await message.answer(t("report_ask_place"), reply_markup=kb.ask_location())
    await message.answer(t("report_pick_town"), reply_markup=kb.place_choices(
        await places.towns(session), draft.key, suggested=suggested))


async def _ask_phone(message: Message, state: FSMContext, resident: Person) -> None:
    await state.set_state(Report.phone)
    await message.answer(t("report_ask_phone"),
                         reply_markup=kb.ask_phone(intake.mask_phone(resident.phone)))


async def _show_summary(message: Message, state: FSMContext, session: AsyncSession,
                        *, keyboard_removed: bool = False) -> None:
    """The summary has inline buttons only: the reply keyboard of the step before (location,
    phone, 取消) is taken away first, unless the phone step's answer already did."""
    if not keyboard_removed:
        await message.answer(t("summary_ready"), reply_markup=ReplyKeyboardRemove())
    draft = await _draft(state)
    await state.set_state(Report.confirm)
    await _update(state, editing=False)
    text = views.summary(draft, await places.path(session, await intake.place_of(session, draft)),
                         intake.mask_phone(draft.phone))
    if draft.needs_consent:
        text += "\n\n" + t("summary_consent")
    await message.answer(text, reply_markup=kb.confirm(draft.key))


async def _next_after(step: State, message: Message, state: FSMContext,
                      session: AsyncSession, resident: Person) -> None:
    """Go on from `step`, or back to the summary when the resident was editing."""
    if step == Report.phone:  # its answer (saved / declined) took the keyboard away
        await _show_summary(message, state, session, keyboard_removed=True)
    elif (await _draft(state)).editing:
        await _show_summary(message, state, session)
    elif step == Report.text:
        await _ask_place(message, state, session)
    else:
        await _ask_phone(message, state, resident)


# -- step 1: the description ---------------------------------------------------------------
async def on_text(message: Message, state: FSMContext, session: AsyncSession,
                  me: Person, ctx: ServiceContext
                  ) -> None:
    text = intake.check_description(message.text, ctx.intake)
    await _take_text(message, state, session, me, ctx, text)


async def _take_text(message: Message, state: FSMContext, session: AsyncSession,
                     me: Person, ctx: ServiceContext, text: str) -> None:
    """Keep the description; when the router is unsure, ask which matter is closest."""
    await _update(state, text=text, matter=None, offers=[])
    offers = await intake.matters_to_offer(session, ctx.router, text)
    if not offers:
        await _next_after(Report.text, message, state, session, me)
        return
    draft = await _draft(state)
    await _update(state, offers=offers)
    await state.set_state(Report.matter)
    await message.answer(t("report_ask_matter"), reply_markup=kb.matter_choices(
        [name for _, name in offers], draft.key))


async def on_matter_button(query: CallbackQuery, callback_data: kb.MatterCb,
                           state: FSMContext, session: AsyncSession, me: Person) -> None:
    draft = await _draft(state)
    offers = draft.offers
    if (await state.get_state() != Report.matter.state or callback_data.key != draft.key
            or callback_data.pick >= len(offers)):
        await query.answer(plain("stale_button"), show_alert=True)
        return
    assert isinstance(query.message, Message)
    if callback_data.pick < 0:
        await _update(state, matter=intake.NO_MATTER)
        await query.message.edit_text(t("report_matter_none"))
    else:
        code, name = offers[callback_data.pick]
        await _update(state, matter=code)
        await query.message.edit_text(t("report_matter_chosen", matter=views.esc(name, 60)))
    await query.answer()
    await _next_after(Report.text, query.message, state, session, me)


# -- media and shares accepted at any step ----------------------------------------------
async def on_photo(message: Message, state: FSMContext, session: AsyncSession,
                   me: Person, ctx: ServiceContext
                   ) -> None:
    draft = await _draft(state)
    assert message.photo
    if not intake.add_photo(draft, message.photo[-1].file_id, ctx.intake):  # the largest
        await message.answer(t("report_photo_limit", limit=ctx.intake.max_photos))
        return
    quiet = message.media_group_id is not None and message.media_group_id == draft.group
    await _update(state, photos=draft.photos, group=message.media_group_id)
    if message.caption and await state.get_state() == Report.text.state:
        text = intake.check_description(message.caption, ctx.intake)
        await _take_text(message, state, session, me, ctx, text)
        return
    if not quiet:
        await message.answer(t("report_photo_saved", count=len(draft.photos),
                               limit=ctx.intake.max_photos) + "\n" +
                             await _prompt(state))


async def on_voice(message: Message, state: FSMContext, ctx: ServiceContext) -> None:
    media = message.voice or message.video_note or message.video or message.audio
    assert media is not None
    kind = ("voice" if message.voice else "video_note" if message.video_note
            else "video" if message.video else "audio")
    draft = await _draft(state)
    if not intake.add_attachment(draft, kind, media.file_id, ctx.intake):
        await message.answer(t("report_voice_limit", limit=ctx.intake.max_attachments)
                             + "\n" + await _prompt(state))
        return
    await _update(state, attachments=draft.attachments)
    await message.answer(t("report_voice_saved") + "\n" + await _prompt(state))


async def on_location(message: Message, state: FSMContext, session: AsyncSession,
                      me: Person, ctx: ServiceContext) -> None:
    loc = message.location
    assert loc is not None
    found = await places.nearest(session, loc.latitude, loc.longitude, ctx.intake.max_km)
    await _update(state, lat=loc.latitude, lon=loc.longitude, place_id=found.place.id)
    await message.answer(t("report_location_saved",
                           place=views.esc(await places.path(session, found.place), 300)))
    if await state.get_state() == Report.place.state:
        await _next_after(Report.place, message, state, session, me)


async def on_contact(message: Message, state: FSMContext, session: AsyncSession,
                     me: Person) -> None:
    assert message.contact is not None
    await _take_phone(message, state, session, me, message.contact.phone_number)


async def on_unsupported(message: Message, state: FSMContext) -> None:
    """Stickers, files, polls…: kindly ask for words; the step does not change."""
    await message.answer(t("report_unsupported") + "\n" + await _prompt(state))


async def _prompt(state: FSMContext) -> str:
    current = await state.get_state()
    return {Report.text.state: t("prompt_text"), Report.matter.state: t("prompt_matter"),
            Report.place.state: t("prompt_place"),
            Report.phone.state: t("prompt_phone"),
            Report.confirm.state: t("prompt_confirm")}.get(current or "", "")


# -- step 2: the place -------------------------------------------------------------------
async def on_place_button(query: CallbackQuery, callback_data: kb.PlaceCb, state: FSMContext,
                          session: AsyncSession, me: Person) -> None:
    draft = await _draft(state)
    if await state.get_state() != Report.place.state or callback_data.key != draft.key:
        await query.answer(t("stale_button"), show_alert=True)
        return
    assert isinstance(query.message, Message)
    if callback_data.id == 0:
        await query.message.edit_text(t("report_pick_town"), reply_markup=kb.place_choices(
            await places.towns(session), draft.key))
        await query.answer()
        return
    place = await places.get(session, callback_data.id)
    below = await places.children(session, place.id)
    if callback_data.final or not below:
        chosen = await places.settle(session, place)
        await _update(state, place_id=chosen.id)
        await query.message.edit_text(t("report_place_chosen", place=views.esc(
            await places.path(session, chosen), 300)))
        await query.answer()
        await _next_after(Report.place, query.message, state, session, me)
        return
    grids_only = all(p.kind == PlaceKind.GRID for p in below)
    prompt = t("report_pick_grid") if grids_only else t("report_pick_community")
    await query.message.edit_text(prompt, reply_markup=kb.place_choices(
        below, draft.key, current=place, final_children=grids_only))
    await query.answer()


async def on_address(message: Message, state: FSMContext, session: AsyncSession,
                     me: Person) -> None:
    """A typed address: kept as written; a place name in it settles the place."""
    draft = await _draft(state)
    await intake.take_address(session, draft, message.text)
    await _update(state, address=draft.address, place_id=draft.place_id)
    await _next_after(Report.place, message, state, session, me)


# -- step 3: the phone -------------------------------------------------------------------
async def on_phone_text(message: Message, state: FSMContext, session: AsyncSession,
                        me: Person) -> None:
    text = (message.text or "").strip()
    if text == t("btn_no_phone"):
        await _update(state, phone=None, phone_declined=True, anonymous=False)
        await message.answer(t("report_phone_declined"), reply_markup=ReplyKeyboardRemove())
        await _next_after(Report.phone, message, state, session, me)
        return
    if text == t("btn_anonymous"):
        await _update(state, phone=None, phone_declined=True, anonymous=True)
        await message.answer(t("report_anonymous"), reply_markup=ReplyKeyboardRemove())
        await _next_after(Report.phone, message, state, session, me)
        return
    if me.phone and text == t("btn_use_phone", phone=intake.mask_phone(me.phone)):
        await _take_phone(message, state, session, me, me.phone)
        return
    await _take_phone(message, state, session, me, text)


async def _take_phone(message: Message, state: FSMContext, session: AsyncSession,
                      me: Person, raw: str) -> None:
    phone = intake.normalise_phone(raw)
    await _update(state, phone=phone, phone_declined=False, anonymous=False)
    if await state.get_state() == Report.phone.state:
        await message.answer(t("report_phone_saved"), reply_markup=ReplyKeyboardRemove())
        await _next_after(Report.phone, message, state, session, me)
    else:
        await message.answer(t("report_phone_saved") + "\n" + await _prompt(state))


# -- step 4: confirm or edit: one handler per ReportAction --------------------------------
async def _current(query: CallbackQuery, callback_data: ReportCb, state: FSMContext,
                   session: AsyncSession, me: Person) -> ReportDraft | None:
    """The draft the summary's button belongs to; None (answered) when the button is stale:
    a draft already submitted says its number."""
    draft = await _draft(state) if await state.get_state() == Report.confirm.state else None
    if draft is not None and callback_data.key == draft.key:
        return draft
    done = await intake.submitted_before(session, me, callback_data.key)
    if done is not None:
        await query.answer(t("already_submitted", number=done.number), show_alert=True)
    else:
        await query.answer(t("stale_button"), show_alert=True)
    return None


async def on_cancel(query: CallbackQuery, callback_data: ReportCb, state: FSMContext,
                    session: AsyncSession, me: Person) -> None:
    if await _current(query, callback_data, state, session, me) is None:
        return
    assert isinstance(query.message, Message)
    await state.clear()
    await query.message.edit_reply_markup(reply_markup=None)
    await query.message.answer(t("cancelled"), reply_markup=kb.main_menu(me))
    await query.answer()


async def _edit(query: CallbackQuery, callback_data: ReportCb, state: FSMContext,
                session: AsyncSession, me: Person) -> Message | None:
    """Leave the summary for a step, coming back to it after."""
    if await _current(query, callback_data, state, session, me) is None:
        return None
    assert isinstance(query.message, Message)
    await _update(state, editing=True)
    await query.message.edit_reply_markup(reply_markup=None)
    await query.answer()
    return query.message


async def on_edit_text(query: CallbackQuery, callback_data: ReportCb, state: FSMContext,
                       session: AsyncSession, me: Person) -> None:
    if (message := await _edit(query, callback_data, state, session, me)) is not None:
        await state.set_state(Report.text)
        await message.answer(t("report_ask_text"), reply_markup=kb.cancel_only())


async def on_edit_place(query: CallbackQuery, callback_data: ReportCb, state: FSMContext,
                        session: AsyncSession, me: Person) -> None:
    if (message := await _edit(query, callback_data, state, session, me)) is not None:
        # A new place: the old address and pin must not stay.
        await _update(state, place_id=None, address="", lat=None, lon=None)
        await _ask_place(message, state, session)


async def on_edit_phone(query: CallbackQuery, callback_data: ReportCb, state: FSMContext,
                        session: AsyncSession, me: Person) -> None:
    if (message := await _edit(query, callback_data, state, session, me)) is not None:
        await _ask_phone(message, state, me)


async def on_submit(query: CallbackQuery, callback_data: ReportCb, state: FSMContext,
                    session: AsyncSession, ctx: ServiceContext, me: Person) -> None:
    draft = await _current(query, callback_data, state, session, me)
    if draft is None:
        return
    assert isinstance(query.message, Message)
    ticket, created = await intake.submit(session, ctx, ctx.router, me,
                                          draft.ticket_draft())
    if not created:  # submitted before, but the answer never got through: say which
        await state.clear()
        await query.message.edit_reply_markup(reply_markup=None)
        await query.answer(t("already_submitted", number=ticket.number), show_alert=True)
        return
    # The number shown must exist: the ticket is committed before anything is shown or the
    # draft dropped (with Redis the draft is gone at once), so a failed answer loses nothing
    # and a second tap finds the ticket by its submission key.
    await session.commit()
    await state.clear()
    unit = await work.unit(session, ticket.unit_id) if ticket.unit_id else None
    days = await ctx.lifecycle(session).deadline_days(ticket)
    await query.message.edit_reply_markup(reply_markup=None)
    await query.answer(t("submitted_short", number=ticket.number))
    await query.message.answer(
        views.submitted(ticket, unit.name if unit else None, ctx.calendar.tz, days),
        reply_markup=kb.main_menu(me))


async def on_unexpected_text_at_confirm(message: Message) -> None:
    await message.answer(t("prompt_confirm"))


async def on_text_at_matter(message: Message) -> None:
    await message.answer(t("prompt_matter"))


def make_router() -> Router:
    router = Router(name=__name__)
    in_report = StateFilter(Report)
    words = F.text & ~F.text.in_(kb.menu_texts())
    router.message.register(begin, F.text == t("btn_report"))
    router.message.register(begin, Command("report"))
    router.message.register(on_photo, in_report, F.photo)
    router.message.register(on_voice, in_report,
                            F.voice | F.video_note | F.video | F.audio)
    router.message.register(on_location, in_report, F.location)
    router.message.register(on_contact, in_report, F.contact)
    router.message.register(on_text, Report.text, words)
    router.message.register(on_address, Report.place, words)
    router.message.register(on_phone_text, Report.phone, words)
    router.message.register(on_unexpected_text_at_confirm, Report.confirm, words)
    router.message.register(on_text_at_matter, Report.matter, words)
    router.message.register(on_unsupported, in_report, ~F.text)
    router.callback_query.register(on_place_button, kb.PlaceCb.filter())
    router.callback_query.register(on_matter_button, kb.MatterCb.filter())
    for action, handler in ((ReportAction.SUBMIT, on_submit),
                            (ReportAction.EDIT_TEXT, on_edit_text),
                            (ReportAction.EDIT_PLACE, on_edit_place),
                            (ReportAction.EDIT_PHONE, on_edit_phone),
                            (ReportAction.CANCEL, on_cancel)):
        router.callback_query.register(handler, ReportCb.filter(F.action == action))
    return router
