"""/start, /help and the last-resort fallback."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandStart
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from services import people
from services.context import ServiceContext
from services.texts import t


async def start(message: Message, session: AsyncSession, ctx: ServiceContext) -> None:
    user = message.from_user
    assert user is not None
    await people.ensure_resident(session, user.id, user.full_name, ctx.clock)
    await message.answer(t("start"))


async def help_(message: Message) -> None:
    await message.answer(t("help"))


async def fallback(message: Message) -> None:
    await message.answer(t("unknown_input"))


def make_router() -> Router:
    router = Router(name=__name__)
    router.message.register(start, CommandStart(), F.from_user)
    router.message.register(help_, Command("help"))
    router.message.register(fallback)
    return router
