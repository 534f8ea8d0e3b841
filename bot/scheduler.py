"""APScheduler behind a small wrapper: started and stopped with the dispatcher.

Jobs are periodic sweeps that open their own DB session; there are no per-ticket jobs.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.calendar import coverage_gaps
from services import privacy, sweeps
from services.context import ServiceContext
from services.stats import Appraisal

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(self, ctx: ServiceContext,
                 sessionmaker: async_sessionmaker[AsyncSession] | None = None) -> None:
        self.ctx = ctx
        self.sessionmaker = sessionmaker
        self._aps = AsyncIOScheduler(timezone=ctx.calendar.tz)

    def add_sweep(self, name: str, func: Callable[[], Awaitable[None]],
                  trigger: BaseTrigger) -> None:
        """A sweep runs one at a time (max_instances=1) and is skipped, not piled up."""
        self._aps.add_job(func, trigger, id=name, name=name, max_instances=1,
                          coalesce=True, replace_existing=True, misfire_grace_time=60)

    def add_default_sweeps(self, sweep_seconds: int = 30,
                           digest_time: dt.time = dt.time(9, 0),
                           monthly_report: bool = True,
                           appraisal: Appraisal | None = None,
                           retention: bool = False) -> None:
        tz = self.ctx.calendar.tz
        self.add_sweep("calendar-coverage", self.check_calendar,
                       CronTrigger(hour=8, minute=0, timezone=tz))
        if self.sessionmaker is not None:
            self.add_sweep("deadlines", self.deadlines, IntervalTrigger(seconds=sweep_seconds))
            self.add_sweep("daily-digest", self.digest,
                           CronTrigger(hour=digest_time.hour, minute=digest_time.minute,
                                       timezone=tz))
            if retention:  # the terms are the context's (privacy.retention_days, ...)
                self.add_sweep("privacy-retention", self.apply_retention,
                               CronTrigger(hour=3, minute=15, timezone=tz))
            if monthly_report:
                self.appraisal = appraisal or Appraisal()
                self.add_sweep("monthly-report", self.monthly,
                               CronTrigger(hour=8, minute=30, timezone=tz))

    async def deadlines(self) -> None:
        """Reminders, overdue escalation, callbacks timing out, late accepts."""
        assert self.sessionmaker is not None
        report = await sweeps.run_sweeps(self.sessionmaker, self.ctx)
        if any(report.done.values()):
            log.info("deadline sweeps: %s", report.done)

    async def apply_retention(self) -> None:
        assert self.sessionmaker is not None
        done = await privacy.run_retention(self.sessionmaker, self.ctx.clock,
                                            self.ctx.privacy.retention_days,
                                            self.ctx.privacy.draft_hours)
        if any(done.values()):
            log.info("privacy retention: %s", done)

    async def monthly(self) -> None:
        assert self.sessionmaker is not None
        queued = await sweeps.monthly_report(self.sessionmaker, self.ctx, self.appraisal)
        if queued:
            log.info("monthly report queued for %d chats", queued)

    async def digest(self) -> None:
        assert self.sessionmaker is not None
        told = await sweeps.daily_digest(self.sessionmaker, self.ctx)
        if told:
            log.info("daily digest sent to %d units", told)

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
