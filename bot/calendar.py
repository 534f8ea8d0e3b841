"""Build the working calendar from config and report the years it cannot vouch for."""

from __future__ import annotations

import datetime as dt

from bot.config import Config
from services.deadlines import WorkingCalendar


def make_calendar(config: Config) -> WorkingCalendar:
    cal = config.calendar
    return WorkingCalendar(
        config.tz,
        extra_holidays=cal.extra_holidays,
        extra_workdays=cal.extra_workdays,
        work_start=cal.work_start,
        work_end=cal.work_end,
    )


def coverage_gaps(calendar: WorkingCalendar, today: dt.date, horizon_days: int = 60
                  ) -> list[int]:
    """Years within the horizon that the official calendar data does not cover."""
    years = {today.year, (today + dt.timedelta(days=horizon_days)).year}
    return sorted(y for y in years if not calendar.covers(y))
