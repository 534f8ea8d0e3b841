"""/stats [period] and /stats export [period] for dispatchers, admins and unit leaders."""

from __future__ import annotations

import datetime as dt

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Config
from handlers.filters import HasRole
from models import Person, Role
from models.db import in_worker_thread
from services import access, report_files, stats
from services.context import ServiceContext
from services.errors import NotAllowed
from services.texts import t

MAX_PERIOD = dt.timedelta(days=3 * 366)  # longer is a typing error, and a very long chart


def _scope(me: Person) -> int | None:
    """Dispatchers and admins see every unit; a unit leader sees their own unit."""
    if access.is_dispatcher(me):
        return None
    units = [m.unit_id for m in me.memberships if m.role == Role.UNIT_LEADER and m.unit_id]
    if not units:
        raise NotAllowed()
    return units[0]


async def on_stats(message: Message, session: AsyncSession, ctx: ServiceContext,
                   me: Person, config: Config, command: CommandObject | None = None) -> None:
    args = (command.args or "").split() if command else []  # the menu button: this month
    export = bool(args) and args[0] == "export"
    period = " ".join(args[1:] if export else args)
    tz = ctx.calendar.tz
    try:
        start, end = stats.parse_period(period, ctx.clock.now().astimezone(tz).date(), tz)
    except (ValueError, OverflowError):  # not a period, or past the year 9999
        start = end = None
    if start is None or end is None or end - start > MAX_PERIOD:
        await message.answer(t("stats_usage"))
        return
    scope = _scope(me)

    async def render(own: AsyncSession) -> tuple[bytes | str, bytes]:
        """Figures, chart and workbook: CPU-heavy, so off the event loop."""
        report = await stats.compute(own, start, end, ctx.clock.now(), ctx.calendar,
                                     response_hours=config.stats.response_hours,
                                     unit_id=scope)
        if export:
            return await report_files.workbook(own, report, tz), b""
        return report_files.summary_text(report, tz), report_files.chart_png(report)

    first, chart = await in_worker_thread(session, render)
    if isinstance(first, bytes):
        await message.answer_document(
            BufferedInputFile(first, filename=f"stats-{start:%Y%m%d}-{end:%Y%m%d}.xlsx"),
            caption=t("stats_export_caption", start=f"{start:%Y-%m-%d}", end=f"{end:%Y-%m-%d}"))
        return
    await message.answer(first)
    await message.answer_photo(BufferedInputFile(chart, filename="stats.png"))


def make_router() -> Router:
    router = Router(name=__name__)
    leaders = HasRole.for_command("stats")
    router.message.register(on_stats, Command("stats"), leaders)
    router.message.register(on_stats, F.text == t("btn_menu_stats"), leaders)
    return router
