"""Working-day calendar: China's official calendar plus the county's own extra days.

`chinese-calendar` knows each year's holidays and make-up working weekends only once the
State Council has published them (version 1.11 stops at 2026). For a year it does not
know, the calendar falls back to "Monday-Friday, plus the config's extra days", remembers
the gap and logs a warning once per year, so `minyi doctor` and `/health` can report it.
It never raises for a date: a deadline is never dropped because of a missing year.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from zoneinfo import ZoneInfo

import chinese_calendar

log = logging.getLogger(__name__)


class WorkingCalendar:
    def __init__(
        self,
        tz: ZoneInfo,
        *,
        extra_holidays: Iterable[dt.date] = (),
        extra_workdays: Iterable[dt.date] = (),
        work_start: dt.time = dt.time(8, 30),
        work_end: dt.time = dt.time(17, 30),
    ) -> None:
        self.tz = tz
        self.extra_holidays = frozenset(extra_holidays)
        self.extra_workdays = frozenset(extra_workdays)
        clash = self.extra_holidays & self.extra_workdays
        if clash:
            raise ValueError(f"dates both holiday and workday: {sorted(clash)}")
        if work_start >= work_end:
            raise ValueError("work_start must be before work_end")
        self.work_start = work_start
        self.work_end = work_end
        self.uncovered_years: set[int] = set()
        self._workdays: dict[dt.date, bool] = {}  # chinese-calendar is slow per call

    # -- single days -------------------------------------------------------------------
    def covers(self, year: int) -> bool:
        """True when the official calendar has data for `year`."""
        try:
            chinese_calendar.is_workday(dt.date(year, 6, 1))
        except NotImplementedError:
            return False
        return True

    def is_workday(self, day: dt.date) -> bool:
        known = self._workdays.get(day)
        if known is None:
            known = self._workdays[day] = self._is_workday(day)
        return known

    def _is_workday(self, day: dt.date) -> bool:
        if day in self.extra_workdays:
            return True
        if day in self.extra_holidays:
            return False
        try:
            return chinese_calendar.is_workday(day)
        except NotImplementedError:
            if day.year not in self.uncovered_years:
                self.uncovered_years.add(day.year)
                log.warning(
                    "chinese-calendar has no data for %s: counting Monday-Friday plus "
                    "calendar.extra_holidays/extra_workdays; add that year's official "
                    "days to the config or upgrade chinese-calendar",
                    day.year,
                )
            return day.weekday() < 5

    def next_workday(self, day: dt.date) -> dt.date:
        """The first working day strictly after `day`."""
        day += dt.timedelta(days=1)
        while not self.is_workday(day):
            day += dt.timedelta(days=1)
        return day

    # -- moments -------------------------------------------------------------------------
    def clock_start(self, moment: dt.datetime) -> dt.datetime:
        """When the working clock starts for something received at `moment` (local time).

        Inside working hours of a working day: at once. Before opening: that day's opening.
        After closing, or on a rest day: the next working day's opening.
        """
        local = _aware(moment).astimezone(self.tz)
        day = local.date()
        if self.is_workday(day):
            if local.time() < self.work_start:
                return self._at(day, self.work_start)
            if local.time() < self.work_end:
                return local
        return self._at(self.next_workday(day), self.work_start)

    def add_working_days(self, moment: dt.datetime, days: int) -> dt.datetime:
        """The moment `days` working days after `moment`, same local clock time.

        The count starts at `clock_start(moment)`. The result is in the calendar's zone.
        """
        if days < 0:
            raise ValueError("days must be >= 0")
        start = self.clock_start(moment)
        day = start.date()
        for _ in range(days):
            day = self.next_workday(day)
        return self._at(day, start.timetz().replace(tzinfo=None))

    def previous_workday(self, day: dt.date) -> dt.date:
        """The last working day strictly before `day`."""
        day -= dt.timedelta(days=1)
        while not self.is_workday(day):
            day -= dt.timedelta(days=1)
        return day

    def add_working_time(self, moment: dt.datetime, delta: dt.timedelta) -> dt.datetime:
        """`delta` of office hours after `moment` (the clock runs only 08:30-17:30 on
        working days), e.g. "accept within 2 working hours"."""
        cur = self.clock_start(moment)
        remaining = delta
        while True:
            day_end = self._at(cur.date(), self.work_end)
            if day_end - cur >= remaining:
                return cur + remaining
            remaining -= day_end - cur
            cur = self._at(self.next_workday(cur.date()), self.work_start)

    def working_time_before(self, moment: dt.datetime, delta: dt.timedelta) -> dt.datetime:
        """The moment `delta` of office hours before `moment` ("4 hours before the
        deadline" on the working clock: never at night, never on a holiday)."""
        cur = _aware(moment).astimezone(self.tz)
        remaining = delta
        while True:
            day = cur.date()
            if self.is_workday(day) and cur.time() > self.work_start:
                opening = self._at(day, self.work_start)
                end = min(cur, self._at(day, self.work_end))
                if end - opening >= remaining:
                    return end - remaining
                remaining -= end - opening
            cur = self._at(self.previous_workday(day), self.work_end)

    def is_working_moment(self, moment: dt.datetime) -> bool:
        local = _aware(moment).astimezone(self.tz)
        return (self.is_workday(local.date())
                and self.work_start <= local.time() < self.work_end)

    def _at(self, day: dt.date, time: dt.time) -> dt.datetime:
        return dt.datetime.combine(day, time, tzinfo=self.tz)


def _aware(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass an aware moment")
    return moment
