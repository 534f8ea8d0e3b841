"""What every use-case needs besides the DB session: clock, calendar and policy."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from services.clock import Clock
from services.deadlines import WorkingCalendar
from services.tickets import Lifecycle, Policy


@dataclass(frozen=True)
class ServiceContext:
    clock: Clock
    calendar: WorkingCalendar
    policy: Policy

    def lifecycle(self, session: AsyncSession) -> Lifecycle:
        return Lifecycle(session, self.clock, self.calendar, self.policy)
