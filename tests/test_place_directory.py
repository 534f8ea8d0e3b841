"""The place tree is read once per process (services.places' directory), not per update:
what a whole 我要反映 conversation reads, and how an org import and the TTL renew it."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from models import Place, Ticket
from services import places
from services.clock import ManualClock
from services.org_import import import_org
from tests.bot_double import Harness
from tests.conftest import EXAMPLE_ORG
from tests.test_per_update import SqlLog
from tests.test_resident import IN_GRID_1, submit_lamp

PLACES_TABLE = re.compile(r"\bplaces\b", re.IGNORECASE)


class PlaceReads(SqlLog):
    """The statements that read the places table, whole, and the Place objects loaded."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.loads = 0

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if PLACES_TABLE.search(statement):
            self.statements.append(" ".join(statement.split()))

    def _load(self, *_: Any) -> None:
        self.loads += 1

    def __enter__(self) -> PlaceReads:
        event.listen(Place, "load", self._load)
        return super().__enter__()  # type: ignore[return-value]

    def __exit__(self, *exc: Any) -> None:
        event.remove(Place, "load", self._load)
        super().__exit__(*exc)


async def test_a_conversation_reads_the_place_tree_once(harness: Harness,
                                                        engine: AsyncEngine) -> None:
    u = harness.user(7101)
    await u.say("/start")
    places.forget()  # cold, as in a process just started
    with PlaceReads(engine) as first:
        await submit_lamp(u)
    async with harness.sessionmaker() as s:
        [ticket] = await s.scalars(sa.select(Ticket))
        code = await s.scalar(sa.select(Place.code).where(Place.id == ticket.place_id))
    assert code == "SS-SHJD-01-G1"
    assert "泗河街道 · 泗河社区 · 泗河社区第1网格" in u.inbox[-2].text  # the summary's path
    # Before the directory: 203 Place objects and 14 statements on the places table.
    assert first.loads == 0, "no Place ORM object is loaded"
    assert len(first.statements) == 1, first.statements  # the tree, with one statement
    assert first.statements[0].startswith("SELECT places.id, places.code, places.name")
    with PlaceReads(engine) as again:
        await submit_lamp(u)
    assert again.loads == 0 and again.statements == []  # the process already has the tree


RENAMED = EXAMPLE_ORG.read_text(encoding="utf-8").replace(
    'name = "泗河社区第1网格"', 'name = "泗河社区一号网格"') + """
[[places]]
code = "SS-SHJD-01-G9"
name = "泗河社区第9网格"
kind = "grid"
parent = "SS-SHJD-01"
"""


async def path_of_grid(harness: Harness) -> tuple[str, list[str]]:
    """The path a shared location next to 第1网格 shows, and the 泗河社区 grids offered."""
    async with harness.sessionmaker() as s:
        found = await places.nearest(s, *IN_GRID_1, 10.0)
        shown = await places.path(s, found.place)
        grids = [p.name for p in await places.children(s, found.place.parent_id or 0)]
    return shown, grids


async def test_an_import_in_the_process_shows_at_once_and_the_ttl_renews(
        harness: Harness, engine: AsyncEngine, clock: ManualClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(places, "monotonic", lambda: now[0])
    assert await path_of_grid(harness) == ("泗河街道 · 泗河社区 · 泗河社区第1网格",
                                           ["泗河社区第1网格", "泗河社区第2网格"])
    # Imported in this process: the next reader sees it at once, also when another update
    # read the tree (the old one) while the import was not yet committed.
    async with harness.sessionmaker() as s:
        await import_org(s, RENAMED, clock)
        assert (await path_of_grid(harness))[0].endswith("泗河社区第1网格")
        await s.commit()
    assert await path_of_grid(harness) == ("泗河街道 · 泗河社区 · 泗河社区一号网格",
                                           ["泗河社区一号网格", "泗河社区第2网格",
                                            "泗河社区第9网格"])
    u = harness.user(7102)
    await submit_lamp(u)
    assert "泗河社区一号网格" in u.inbox[-2].text
    # Imported elsewhere (`minyi org import` beside the bot): kept until the TTL ends...
    async with harness.sessionmaker() as s:
        await s.execute(sa.update(Place).where(Place.code == "SS-SHJD-01-G1")
                        .values(name="泗河社区第1网格"))
        await s.commit()
    with PlaceReads(engine) as kept:
        now[0] += places.PLACES_TTL - 1
        assert (await path_of_grid(harness))[0].endswith("泗河社区一号网格")
    assert kept.statements == []
    with PlaceReads(engine) as renewed:  # ...then read anew, once
        now[0] += 2
        assert (await path_of_grid(harness))[0].endswith("泗河社区第1网格")
        assert (await path_of_grid(harness))[0].endswith("泗河社区第1网格")
    assert len(renewed.statements) == 1 and renewed.loads == 0
