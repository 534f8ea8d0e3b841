"""APScheduler behind a small wrapper: started and stopped with the dispatcher.

Jobs are periodic sweeps that open their own DB session; there are no per-ticket jobs.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from bot.calendar import coverage_gaps
from services.context import ServiceContext

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self._aps = AsyncIOScheduler(timezone=ctx.calendar.tz)

    def add_sweep(self, name: str, func: Callable[[], Awaitable[None]],
                  trigger: BaseTrigger) -> None:
        """A sweep runs one at a time (max_instances=1) and is skipped, not piled up."""
        self._aps.add_job(func, trigger, id=name, name=name, max_instances=1,
                          coalesce=True, replace_existing=True, misfire_grace_time=60)

    def add_default_sweeps(self) -> None:
        self.add_sweep("calendar-coverage", self.check_calendar,
                       CronTrigger(hour=8, minute=0, timezone=self.ctx.calendar.tz))

    async def check_calendar(self) -> None:
        today = self.ctx.clock.now().astimezone(self.ctx.calendar.tz).date()
        for year in coverage_gaps(self.ctx.calendar, today):
            log.warning("calendar: no official holiday data for %s; deadlines near it count "
                        "Monday-Friday plus config extra days", year)

    @property
    def running(self) -> bool:
        return self._aps.running

    def job_ids(self) -> list[str]:
        return [job.id for job in self._aps.get_jobs()]

    def start(self) -> None:
        if not self._aps.running:
            self._aps.start()

    def shutdown(self) -> None:
        if self._aps.running:
            self._aps.shutdown(wait=False)
