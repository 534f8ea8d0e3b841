"""Statistics benchmark: a month's figures over 1,000,000 tickets and their events.

    python -m tests.bench.stats [--tickets 1000000] [--pg URL] [--no-sqlite] [--no-pg]

Fills a database with tickets spread evenly over 36 months, each with its events
(submit, assign, accept, resolve, rate: five per ticket), then times
`services.stats.compute` for one month (median of 3): the events read from the database,
the fold in a worker thread. Target: under 2 s on PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from models import Person, Ticket, TicketEvent, TicketState, Unit
from models.db import make_sessionmaker
from services import stats
from services.deadlines import WorkingCalendar
from tests.bench.common import add_database_options, analyze, databases, fresh_engine

TZ = ZoneInfo("Asia/Shanghai")
FIRST = dt.datetime(2024, 1, 1, 9, 0, tzinfo=TZ)
SPAN = dt.timedelta(days=36 * 30)
CHUNK = 10_000


async def fill(engine: AsyncEngine, n: int, units: list[int], resident: int) -> None:
    step = SPAN / n
    tickets, events = [], []
    next_event = 1
    for i in range(1, n + 1):
        created = FIRST + step * i
        due = created + dt.timedelta(days=3)
        resolved = created + dt.timedelta(hours=20 + i % 70)
        unit = units[i % len(units)]
        tickets.append({
            "id": i, "number": f"MYS-{i:08d}", "resident_id": resident, "title": "",
            "text": "路灯坏了", "photos": [], "attachments": [], "address": "",
            "state": TicketState.CLOSED, "unit_id": unit, "category": "城乡建设",
            "routing": {}, "due_at": due, "reminders_sent": 0, "escalation_count": 0,
            "reopen_count": 0, "callback_attempts": 0, "result_text": "修好了",
            "result_photos": [], "resolved_at": resolved, "closed_at": resolved,
            "solved": i % 20 != 0,
            "outcome": "rated", "created_at": created, "updated_at": resolved, "version": 1})
        rating = "satisfied" if i % 10 else "basically_satisfied"
        for action, when, data in (
                ("submit", created, {}), ("assign", created, {"unit_id": unit}),
                ("accept", created + dt.timedelta(minutes=15 + i % 200), {}),
                ("resolve", resolved, {"on_time": resolved <= due}),
                ("rate", resolved + dt.timedelta(hours=2),
                 {"outcome": "rated", "rating": rating, "solved": i % 20 != 0})):
            events.append({"id": next_event, "ticket_id": i, "at": when, "action": action,
                           "from_state": None, "to_state": TicketState.CLOSED, "note": "",
                           "data": data})
            next_event += 1
        if len(tickets) == CHUNK:
            await _flush(engine, tickets, events)
            tickets, events = [], []
    if tickets:
        await _flush(engine, tickets, events)


async def _flush(engine: AsyncEngine, tickets: list[dict], events: list[dict]) -> None:  # type: ignore[type-arg]
    async with engine.begin() as conn:
        await conn.execute(sa.insert(Ticket), tickets)
        await conn.execute(sa.insert(TicketEvent), events)


async def bench(url: str, n: int) -> float:
    engine = await fresh_engine(url)
    sm = make_sessionmaker(engine)
    async with sm() as session:
        units = [Unit(code=f"U{i}", name=f"单位{i}") for i in range(30)]
        resident = Person(name="居民", created_at=FIRST, memberships=[])
        session.add_all([*units, resident])
        await session.commit()
        unit_ids, resident_id = [u.id for u in units], resident.id
    t0 = time.perf_counter()
    await fill(engine, n, unit_ids, resident_id)
    await analyze(engine)
    print(f"  {engine.dialect.name}: {n:,} tickets and {5 * n:,} events in "
          f"{time.perf_counter() - t0:.0f} s", flush=True)
    start = dt.datetime(2025, 6, 1, tzinfo=TZ)
    end = dt.datetime(2025, 7, 1, tzinfo=TZ)
    cal = WorkingCalendar(TZ)
    times = []
    for _ in range(3):
        async with sm() as session:
            t0 = time.perf_counter()
            report = await stats.compute(session, start, end, end, cal)
            times.append(time.perf_counter() - t0)
    f = report.total
    print(f"  {engine.dialect.name}: June 2025 received {f.received:,}, resolved "
          f"{f.resolved:,}, answered {f.answered:,}; rates {f.rates}; "
          f"times {', '.join(f'{s:.2f}' for s in times)} s", flush=True)
    await engine.dispose()
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tickets", type=int, default=1_000_000)
    add_database_options(p)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [(name, asyncio.run(bench(url, args.tickets)))
                for name, url in databases(args, Path(tmp))]
    print("| database | tickets | events | one month's statistics |")
    print("|---|---|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {args.tickets:,} | {5 * args.tickets:,} | {seconds:.2f} s |")


if __name__ == "__main__":
    main()
