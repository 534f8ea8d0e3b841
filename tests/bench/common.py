"""What the database benchmarks share: their command-line options and a fresh database."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from models import migrate
from models.db import make_engine
from tests.conftest import reset_postgres


def add_database_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pg", default=os.environ.get(
        "TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"),
        help="a PostgreSQL database the benchmark may wipe")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--no-pg", action="store_true")


def databases(args: argparse.Namespace, tmp: Path) -> list[tuple[str, str]]:
    """(name, URL) of each database to measure: a SQLite file in `tmp`, PostgreSQL."""
    targets = []
    if not args.no_sqlite:
        targets.append(("SQLite", f"sqlite+aiosqlite:///{tmp / 'bench.db'}"))
    if not args.no_pg:
        targets.append(("PostgreSQL", args.pg))
    return targets


async def fresh_engine(url: str) -> AsyncEngine:
    """An engine on an emptied, migrated database."""
    if url.startswith("postgresql"):
        await reset_postgres(url)
    engine = make_engine(url)
    await migrate.upgrade(engine)
    return engine


async def analyze(engine: AsyncEngine) -> None:
    """Fresh planner statistics after a bulk load (PostgreSQL; SQLite needs none)."""
    if engine.dialect.name == "postgresql":
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(sa.text("ANALYZE"))


def logged_errors(logs: Iterable[Path]) -> list[str]:
    """The ERROR lines of the bots' logs, each with the last line of its traceback."""
    found = []
    for log in logs:
        lines = log.read_text("utf-8", errors="replace").splitlines()
        for i, line in enumerate(lines):
            if " ERROR " in line or line.startswith("ERROR"):
                tail = next((x for x in lines[i + 1:i + 80] if x and not x[0].isspace()
                             and not x.startswith("Traceback")), "")
                found.append(f"{line[:160]} | {tail[:200]}")
    return found
