"""Two `minyi run` replicas in webhook mode on one PostgreSQL and Redis, behind nginx (or
the load generator's own failover where nginx is not installed), under the load
generator; one replica is SIGKILLed half way through.

Asserted: every conversation the resident saw through has exactly one ticket, nobody has
two; every push (outbox) is delivered, and at most the one in flight at the kill twice.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections import Counter
from pathlib import Path

import aiohttp
import sqlalchemy as sa

from models import OutboxMessage, Person, Ticket
from models.db import make_engine, make_sessionmaker
from tests.bench.load import GRID_CHAT, Cluster, LoadEmulator, play, reset_redis
from tests.conftest import external_url, pg_url, reset_postgres


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


async def test_sigkill_one_replica_in_the_middle_of_the_load(tmp_path: Path) -> None:
    db_url, redis_url = pg_url(), external_url("TEST_REDIS_URL")
    await reset_postgres(db_url)
    await reset_redis(redis_url)
    emu = LoadEmulator([])
    await emu.start()
    cluster = Cluster(tmp_path, db_url, redis_url, 2, emu.base, ports=free_ports(3))
    await asyncio.to_thread(cluster.prepare)
    engine = make_engine(db_url)
    try:
        await cluster.start()
        emu.targets = cluster.targets()
        emu._next = itertools.cycle(range(len(emu.targets)))

        async def kill_one() -> None:
            cluster.kill(0)

        async with aiohttp.ClientSession() as emu.http:
            result, users, done = await play(emu, rate=3.0, ramp=1.0, duration=12.0,
                                             think=0.2, during=kill_one)
        assert result.completed >= result.started // 2, result  # the load went on
        sm = make_sessionmaker(engine)

        async def outbox_states() -> Counter[str]:
            async with sm() as s:
                return Counter(x.value for x in await s.scalars(sa.select(OutboxMessage.state)))

        # The killed replica's claimed pushes come back after the lease (10 s here).
        for _ in range(180):
            if set(states := await outbox_states()) == {"sent"}:
                break
            await asyncio.sleep(0.5)
        assert set(states) == {"sent"}, states
        async with sm() as s:
            per_resident = Counter(await s.scalars(
                sa.select(Person.tg_user_id).join(Ticket, Ticket.resident_id == Person.id)))
            pushes = list(await s.scalars(sa.select(OutboxMessage.text).where(
                OutboxMessage.chat_id == GRID_CHAT)))
    finally:
        await cluster.stop()
        await engine.dispose()
        await emu.stop()
    for uid, finished in zip(users, done, strict=True):
        if finished:
            assert per_resident[uid] == 1, uid
    assert max(per_resident.values()) == 1  # no duplicate tickets
    assert sum(done) == sum(per_resident[u] for u, d in zip(users, done, strict=True) if d)
    delivered = Counter(emu.bot_texts(GRID_CHAT))
    assert pushes and all(delivered[text] >= 1 for text in pushes)  # every push delivered
    assert sum(n - 1 for text, n in delivered.items() if text in pushes) <= 1
