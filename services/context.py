"""What every use-case needs besides the DB session: the clock, the calendar and the rules
of each service, built once from the config (`bot.app.make_context`) and handed to the
handlers as `ctx`. Handlers take their figures from here and never read the config; the
defaults live in these dataclasses (the config's sections reference them)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from services.clock import Clock
from services.deadlines import WorkingCalendar
from services.errands import ErrandLifecycle, ErrandRules
from services.intake import IntakeRules, RequestRouter
from services.stats import Appraisal
from services.tickets import Lifecycle, Policy
from services.wishes import WishLifecycle


@dataclass(frozen=True)
class PrivacyTerms:
    retention_days: int = 365  # after closing, a request's personal fields are cleared
    draft_hours: int = 72  # an abandoned conversation draft is deleted


@dataclass(frozen=True)
class BookingRules:
    max_open: int = 2  # bookings a resident may hold at once


@dataclass(frozen=True)
class ServiceContext:
    clock: Clock
    calendar: WorkingCalendar
    policy: Policy = field(default_factory=Policy)
    intake: IntakeRules = field(default_factory=IntakeRules)
    privacy: PrivacyTerms = field(default_factory=PrivacyTerms)
    bookings: BookingRules = field(default_factory=BookingRules)
    errands: ErrandRules = field(default_factory=ErrandRules)
    appraisal: Appraisal = field(default_factory=Appraisal)  # how /stats appraises units
    # The request router (catalogue + learned table), set by bot.app.make_dispatcher:
    # built in a thread at start-up, so not by make_context.
    request_router: RequestRouter | None = None

    @property
    def router(self) -> RequestRouter:
        if self.request_router is None:
            raise RuntimeError("this context has no request router (bot.app.make_dispatcher)")
        return self.request_router

    def lifecycle(self, session: AsyncSession) -> Lifecycle:
        return Lifecycle(session, self.clock, self.calendar, self.policy)

    def wish_lifecycle(self, session: AsyncSession) -> WishLifecycle:
        return WishLifecycle(session, self.clock, self.errands)

    def errand_lifecycle(self, session: AsyncSession) -> ErrandLifecycle:
        return ErrandLifecycle(session, self.clock, self.calendar, self.errands)
