"""The statistics use-cases behind /stats and `minyi stats`: who sees what (scope), the
period asked for, and the files. Database reads are awaited; the fold runs in a worker
thread, drawing and workbook building in another process (services/offload.py), so the
bot keeps answering meanwhile."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from models import Person
from services import errand_stats, offload, report_files, stats
from services.context import ServiceContext
from services.stats import COUNTY, Appraisal, Report, Scope
from services.texts import fmt_moment, t


@dataclass(frozen=True)
class File:
    data: bytes
    filename: str
    caption: str


def period(ctx: ServiceContext, text: str) -> tuple[dt.datetime, dt.datetime]:
    """本月 / 上月 / 2026-11 / 2026-11-01..2026-11-15; ValueError on anything else."""
    tz = ctx.calendar.tz
    return stats.parse_period(text, ctx.clock.now().astimezone(tz).date(), tz)


async def compute(session: AsyncSession, ctx: ServiceContext, start: dt.datetime,
                  end: dt.datetime, appraisal: Appraisal, scope: Scope = COUNTY,
                  group: str = "unit") -> Report:
    return await stats.compute(session, start, end, ctx.clock.now(), ctx.calendar,
                               group=group, response_hours=appraisal.response_hours,
                               scope=scope)


async def errand_figures(session: AsyncSession, start: dt.datetime, end: dt.datetime,
                         scope: Scope = COUNTY) -> errand_stats.ErrandFigures:
    """The 红色代办 figures beside the 诉求 ones: the county's, or a unit leader's units'
    (the errands their 双报到 volunteers took, and where the units rank)."""
    return await errand_stats.compute(session, start, end, unit_ids=scope.unit_ids)


async def summary(session: AsyncSession, ctx: ServiceContext, person: Person,
                  start: dt.datetime, end: dt.datetime, appraisal: Appraisal
                  ) -> tuple[str, str, bytes]:
    """The chat answer to /stats: the text, the 红色代办 part and the chart, in the
    person's scope."""
    from services import report_charts

    scope = await stats.scope_for(session, person)
    report = await compute(session, ctx, start, end, appraisal, scope)
    errands = await errand_figures(session, start, end, scope)
    png = await offload.in_process(report_charts.chart_png, report, appraisal)
    return (report_files.summary_text(report, appraisal), errand_stats.section_text(errands),
            png)


async def export(session: AsyncSession, ctx: ServiceContext, person: Person,
                 start: dt.datetime, end: dt.datetime, appraisal: Appraisal) -> File:
    """/stats export: the workbook, every sheet in the person's scope."""
    scope = await stats.scope_for(session, person)
    report = await compute(session, ctx, start, end, appraisal, scope)
    data = await report_files.workbook(session, report, appraisal,
                                       await errand_figures(session, start, end, scope))
    words = report_files.period_words(report)
    return File(data, f"stats-{words['first']}-{words['last']}.xlsx",
                t("stats_export_caption", start=words["first"], last=words["last"],
                  end=words["end"]))


async def monthly_report(session: AsyncSession, ctx: ServiceContext, start: dt.datetime,
                         end: dt.datetime, appraisal: Appraisal, scope: Scope = COUNTY,
                         fmt: str = "pdf") -> bytes:
    """The one-page 通报 (PDF or PNG), with the change from the period before."""
    from services import report_charts

    report = await compute(session, ctx, start, end, appraisal, scope)
    before = stats.previous_period(start, end, ctx.calendar.tz)
    previous = await compute(session, ctx, *before, appraisal, scope)
    generated = fmt_moment(ctx.clock.now(), ctx.calendar.tz)
    errands = await errand_figures(session, start, end, scope)
    return await offload.in_process(report_charts.monthly_report, report, previous,
                                    appraisal, fmt, generated, errands)


async def report_file(session: AsyncSession, ctx: ServiceContext, person: Person,
                      start: dt.datetime, end: dt.datetime, appraisal: Appraisal) -> File:
    """/stats report: the 通报 as a PDF, in the person's scope."""
    scope = await stats.scope_for(session, person)
    data = await monthly_report(session, ctx, start, end, appraisal, scope)
    first = start.astimezone(ctx.calendar.tz).date()
    last = (end.astimezone(ctx.calendar.tz) - dt.timedelta(microseconds=1)).date()
    return File(data, f"tongbao-{first}-{last}.pdf",
                t("stats_report_caption", start=first.isoformat(), last=last.isoformat(),
                  end=end.astimezone(ctx.calendar.tz).date().isoformat()))
