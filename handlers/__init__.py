"""aiogram Routers per audience; `get_routers` decides their order.

Each module builds its Router in `make_router()` rather than at import time, so several
dispatchers (tests, the sandbox) can live in one process: a Router attaches only once.
"""

from __future__ import annotations

from aiogram import Router

from handlers import (
    appointments,
    common,
    errand_actions,
    errands,
    errors,
    my_requests,
    privacy,
    proxy_intake,
    rating,
    report,
    reroute,
    roster,
    staff,
    stats,
    triage,
    wishes,
)


def get_routers() -> list[Router]:
    # errors first so its handlers see every failure; the commands that work in any state
    # (/start, /cancel) before the conversations; the fallback last.
    return [errors.make_router(), common.make_router(), privacy.make_router(),
            staff.make_router(),
            triage.make_router(), reroute.make_router(), proxy_intake.make_router(),
            stats.make_router(),
            rating.make_router(),
            appointments.make_router(), roster.make_router(),
            errands.make_router(), errand_actions.make_router(),
            wishes.make_router(),
            report.make_router(),
            my_requests.make_router(), common.make_fallback_router()]
