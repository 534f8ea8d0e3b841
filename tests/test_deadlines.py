import datetime as dt
import logging
from zoneinfo import ZoneInfo

import pytest

from services.deadlines import WorkingCalendar

TZ = ZoneInfo("Asia/Shanghai")


def at(y: int, m: int, d: int, h: int = 10, mi: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, h, mi, tzinfo=TZ)


@pytest.fixture
def cal() -> WorkingCalendar:
    return WorkingCalendar(TZ)


def test_national_day_week_with_make_up_saturday(cal: WorkingCalendar) -> None:
    # 2026-10-01..07 are holidays; Saturday 2026-10-10 is a make-up working day.
    assert cal.add_working_days(at(2026, 9, 30), 3) == at(2026, 10, 10)
    assert cal.is_workday(dt.date(2026, 10, 10))
    assert not cal.is_workday(dt.date(2026, 10, 5))
    # Submitted during the holiday: the clock starts at the first working morning.
    assert cal.add_working_days(at(2026, 10, 3, 15), 3) == at(2026, 10, 12, 8, 30)
    # The make-up Sunday before (2026-09-20) counts too.
    assert cal.add_working_days(at(2026, 9, 18), 1) == at(2026, 9, 20)


def test_office_hours_decide_when_the_clock_starts(cal: WorkingCalendar) -> None:
    # Friday 2026-11-27 after closing -> Monday's opening, +3 -> Thursday 08:30.
    assert cal.add_working_days(at(2026, 11, 27, 18), 3) == at(2026, 12, 3, 8, 30)
    # Before opening on a working day: that day's opening.
    assert cal.add_working_days(at(2026, 11, 26, 7), 1) == at(2026, 11, 27, 8, 30)
    # Zero days is the clock start itself.
    assert cal.add_working_days(at(2026, 11, 28, 12), 0) == at(2026, 11, 30, 8, 30)


def test_utc_input_is_counted_in_local_time(cal: WorkingCalendar) -> None:
    # 2026-09-30 02:00 UTC is 10:00 in Sishui.
    utc = dt.datetime(2026, 9, 30, 2, 0, tzinfo=dt.UTC)
    assert cal.add_working_days(utc, 3) == at(2026, 10, 10)


def test_config_extra_days_win_over_the_official_calendar() -> None:
    cal = WorkingCalendar(TZ, extra_holidays=[dt.date(2026, 12, 1)],
                          extra_workdays=[dt.date(2026, 11, 28)])
    assert cal.is_workday(dt.date(2026, 11, 28))  # a Saturday made a working day
    assert not cal.is_workday(dt.date(2026, 12, 1))
    # Fri 27 10:00 +3: Sat 28 (extra), Mon 30, (Tue 1 off) Wed 2.
    assert cal.add_working_days(at(2026, 11, 27), 3) == at(2026, 12, 2)


def test_uncovered_year_falls_back_to_weekends_and_reports_once(
        cal: WorkingCalendar, caplog: pytest.LogCaptureFixture) -> None:
    assert not cal.covers(2027) and cal.covers(2026)
    with caplog.at_level(logging.WARNING):
        # Thursday 2026-12-31 10:00 + 3 -> Jan 1 2027 is not known: counted as a weekday.
        due = cal.add_working_days(at(2026, 12, 31), 3)
        cal.add_working_days(at(2027, 3, 1), 5)
    assert due == at(2027, 1, 5)
    assert cal.uncovered_years == {2027}
    warnings = [r for r in caplog.records if "2027" in r.getMessage()]
    assert len(warnings) == 1


def test_uncovered_year_uses_config_extra_days() -> None:
    cal = WorkingCalendar(TZ, extra_holidays=[dt.date(2027, 1, 1)])
    assert cal.add_working_days(at(2026, 12, 31), 3) == at(2027, 1, 6)


def test_bad_arguments_are_refused(cal: WorkingCalendar) -> None:
    with pytest.raises(ValueError):
        cal.add_working_days(dt.datetime(2026, 9, 30, 10), 3)  # noqa: DTZ001 - naive on purpose
    with pytest.raises(ValueError):
        cal.add_working_days(at(2026, 9, 30), -1)
    with pytest.raises(ValueError):
        WorkingCalendar(TZ, extra_holidays=[dt.date(2026, 1, 5)],
                        extra_workdays=[dt.date(2026, 1, 5)])


def test_every_day_of_two_years_gives_a_working_due_moment(cal: WorkingCalendar) -> None:
    moment = at(2026, 1, 1, 0)
    while moment.year < 2028:
        due = cal.add_working_days(moment, 3)
        assert due > moment and cal.is_workday(due.date())
        moment += dt.timedelta(hours=7)
