"""Deadline sweep benchmark: the cost of one sweep follows the number due, not the number open.

    python -m tests.bench.sweeps [--sizes 100000 1000000] [--pg URL] [--no-sqlite]

Fills a database with open tickets (1 % with a reminder due now, the rest due later),
then times, at each size: finding the due rows (the indexed SELECT a sweep starts with)
and one sweep batch (100 due tickets: reminder written to the outbox, next reminder
planned, committed). Median of 5. PostgreSQL: the URL of a database it may wipe
(default $TEST_DATABASE_URL).
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

from models import Person, Ticket, TicketState, Unit
from models.db import make_sessionmaker
from services import sweeps
from services.clock import ManualClock
from services.context import ServiceContext
from services.deadlines import WorkingCalendar
from services.tickets import Policy
from tests.bench.common import add_database_options, analyze, databases, fresh_engine

TZ = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 11, 27, 10, 0, tzinfo=TZ)
CHUNK = 20_000


async def fill(engine: AsyncEngine, start: int, stop: int, unit_id: int,
               resident_id: int) -> None:
    due = NOW - dt.timedelta(minutes=5)
    later = NOW + dt.timedelta(days=2)
    rows = []
    for i in range(start, stop):
        is_due = i % 100 == 0
        rows.append({
            "number": f"MYB-{i:08d}", "resident_id": resident_id, "title": "", "text": "路灯坏了",
            "photos": [], "attachments": [], "address": "", "state": TicketState.ASSIGNED,
            "unit_id": unit_id, "routing": {}, "due_at": later + dt.timedelta(hours=8),
            "remind_at": due if is_due else later, "escalate_at": later,
            "reminders_sent": 0, "escalation_count": 0, "reopen_count": 0,
            "callback_attempts": 0, "result_text": "", "result_photos": [],
            "created_at": NOW, "updated_at": NOW, "version": 1,
        })
        if len(rows) == CHUNK:
            async with engine.begin() as conn:
                await conn.execute(sa.insert(Ticket), rows)
            rows = []
    if rows:
        async with engine.begin() as conn:
            await conn.execute(sa.insert(Ticket), rows)


async def measure(engine: AsyncEngine, ctx: ServiceContext) -> tuple[float, float]:
    sm = make_sessionmaker(engine)
    reminders = sweeps.SWEEPS[0]
    finds, batches = [], []
    for _ in range(5):
        async with sm() as session:
            t0 = time.perf_counter()
            await session.execute(sa.select(Ticket.id).where(
                Ticket.remind_at <= ctx.clock.now()).order_by(Ticket.remind_at).limit(100))
            finds.append(time.perf_counter() - t0)
        async with sm() as session:
            t0 = time.perf_counter()
            n = await sweeps.sweep_batch(session, ctx, reminders)
            batches.append(time.perf_counter() - t0)
            assert n == 100, n
    return statistics.median(finds), statistics.median(batches)


async def bench(url: str, sizes: list[int]) -> list[tuple[int, float, float]]:
    engine = await fresh_engine(url)
    ctx = ServiceContext(ManualClock(NOW), WorkingCalendar(TZ), Policy())
    async with make_sessionmaker(engine)() as session:
        unit = Unit(code="CG", name="县城市管理局")
        resident = Person(name="居民", created_at=NOW, memberships=[])
        session.add_all([unit, resident])
        await session.commit()
        unit_id, resident_id = unit.id, resident.id
    results, have = [], 0
    for size in sizes:
        t0 = time.perf_counter()
        await fill(engine, have, size, unit_id, resident_id)
        have = size
        await analyze(engine)
        print(f"  {engine.dialect.name}: {size:,} tickets filled in "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
        find, batch = await measure(engine, ctx)
        results.append((size, find, batch))
    await engine.dispose()
    return results


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    add_database_options(p)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        table = []
        for name, url in databases(args, Path(tmp)):
            for size, find, batch in asyncio.run(bench(url, args.sizes)):
                table.append((name, size, find, batch))
    print("| database | open tickets | due (1 %) | find due rows | one sweep batch (100) |")
    print("|---|---|---|---|---|")
    for name, size, find, batch in table:
        print(f"| {name} | {size:,} | {size // 100:,} | {find * 1000:.1f} ms | "
              f"{batch * 1000:.1f} ms |")


if __name__ == "__main__":
    main()
