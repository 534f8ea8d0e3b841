"""/stats [period], /stats export [period], /stats report [period] for dispatchers, admins
(the county) and unit leaders (their units; every figure and sheet scoped)."""

from __future__ import annotations

import datetime as dt

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, Message
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import HasRole
from models import Person
from services import reports
from services.context import ServiceContext
from services.texts import t

KINDS = ("export", "report")
MAX_PERIOD = dt.timedelta(days=3 * 366)  # longer is a typing error, and a very long chart


async def on_stats(message: Message, session: AsyncSession, ctx: ServiceContext,
                   me: Person, command: CommandObject | None = None) -> None:
    args = (command.args or "").split() if command else []  # the menu button: this month
    kind = args[0] if args and args[0] in KINDS else "summary"
    try:
        start, end = reports.period(ctx, " ".join(args[1:] if kind in KINDS else args))
    except (ValueError, OverflowError):  # not a period, or past the year 9999
        start = end = None
    if start is None or end is None or end - start > MAX_PERIOD:
        await message.answer(t("stats_usage"))
        return
    appraisal = ctx.appraisal
    if kind == "summary":
        text, errands, png = await reports.summary(session, ctx, me, start, end, appraisal)
        await message.answer(text)
        await message.answer(errands)
        await message.answer_photo(BufferedInputFile(png, filename="stats.png"))
        return
    make = reports.export if kind == "export" else reports.report_file
    file = await make(session, ctx, me, start, end, appraisal)
    await message.answer_document(BufferedInputFile(file.data, filename=file.filename),
                                  caption=file.caption)


def make_router() -> Router:
    router = Router(name=__name__)
    leaders = HasRole.for_command("stats")
    router.message.register(on_stats, Command("stats"), leaders)
    router.message.register(on_stats, F.text == t("btn_menu_stats"), leaders)
    return router
