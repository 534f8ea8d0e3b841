"""个人信息保护法 in chat: the notice and consent (/privacy, first /start), 我的信息
(/myinfo: everything stored about the resident, as a JSON file) and 删除我的信息
(/deleteme, confirmed with a button). The rules live in services/privacy.py."""

from __future__ import annotations

import json

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import BufferedInputFile, CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import keyboards as kb
from models import Person
from services import audit, privacy
from services.context import ServiceContext
from services.texts import t


def notice_text(ctx: ServiceContext) -> str:
    return t("privacy_notice", days=ctx.privacy.retention_days, hours=ctx.privacy.draft_hours)


async def show_notice(message: Message, me: Person, ctx: ServiceContext) -> None:
    """The notice; with 同意 / 不同意 while the resident has not agreed yet."""
    await message.answer(notice_text(ctx),
                         reply_markup=kb.consent_buttons() if me.consent_at is None else None)


async def on_consent(query: CallbackQuery, callback_data: kb.PrivacyCb, me: Person,
                     ctx: ServiceContext) -> None:
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)
    if callback_data.action == "agree":
        privacy.consent(me, ctx.clock)
        await query.answer(t("consent_thanks"))
        return
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(t("consent_declined"))


async def my_info(message: Message, state: FSMContext, session: AsyncSession, me: Person,
                  ctx: ServiceContext) -> None:
    data = await privacy.export(session, me, await state.get_data())
    audit.record(session, ctx.clock, me, "privacy.export", audit.person_label(me))
    body = json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
    await message.answer_document(BufferedInputFile(body, filename="my-info.json"),
                                  caption=t("myinfo_caption"))


async def delete_me(message: Message, ctx: ServiceContext) -> None:
    await message.answer(t("deleteme_confirm", days=ctx.privacy.retention_days),
                         reply_markup=kb.erase_buttons())


async def on_erase(query: CallbackQuery, callback_data: kb.PrivacyCb, state: FSMContext,
                   session: AsyncSession, me: Person, ctx: ServiceContext) -> None:
    assert isinstance(query.message, Message)
    if callback_data.action == "keep":
        await query.message.edit_text(t("deleteme_kept"))
        await query.answer()
        return
    kept = await privacy.erase(session, me, ctx.clock)
    await state.clear()  # the draft, if any
    await query.message.edit_text(t("deleteme_done", tickets=kept))
    await query.answer()


def make_router() -> Router:
    router = Router(name=__name__)
    router.message.register(show_notice, Command("privacy"))
    router.message.register(my_info, Command("myinfo"))
    router.message.register(my_info, F.text == t("btn_myinfo"))
    router.message.register(delete_me, Command("deleteme"))
    router.message.register(delete_me, F.text == t("btn_deleteme"))
    router.callback_query.register(on_consent,
                                   kb.PrivacyCb.filter(F.action.in_({"agree", "decline"})))
    router.callback_query.register(on_erase, kb.PrivacyCb.filter(F.action.in_({"erase",
                                                                                "keep"})))
    return router
