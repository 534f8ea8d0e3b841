"""The per-user lock in Redis (one update at a time per user, across replicas), held as a
short lease that its holder renews while the update runs.

aiogram's `RedisEventIsolation` takes a lock that lasts 60 s. A replica killed in the
middle of an update left that user's lock in Redis for a minute: nginx handed the update
to another replica, which waited for the lock, and so did every later update of that
user. aiogram answers a webhook request after 55 s whatever happens, so the retried update
was then committed after Telegram already had its 200 (a crash in between would lose it).
Here the lock expires `lease` seconds after its holder stops renewing it (it renews every
third of that), so a dead replica holds a user up for at most `lease` seconds, and a live
one keeps the lock however long its update takes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiogram.fsm.storage.base import BaseEventIsolation, DefaultKeyBuilder, KeyBuilder, StorageKey
from redis.exceptions import LockError

log = logging.getLogger(__name__)

LEASE_SECONDS = 10.0


class LeasedRedisIsolation(BaseEventIsolation):
    def __init__(self, redis: Any, key_builder: KeyBuilder | None = None,
                 lease: float | None = None) -> None:
        self.redis = redis
        self.key_builder = key_builder or DefaultKeyBuilder()
        self.lease = lease or LEASE_SECONDS

    @contextlib.asynccontextmanager
    async def lock(self, key: StorageKey) -> AsyncIterator[None]:
        name = self.key_builder.build(key, "lock")
        lock = self.redis.lock(name, timeout=self.lease)
        await lock.acquire()
        renewal = _Renewal(lock, name, self.lease / 3)
        try:
            yield None
        finally:
            await renewal.stop()
            try:
                await lock.release()
            except LockError:  # it expired: renewals failed (Redis away, a long stall)
                log.warning("the lock %s expired before its update finished", name)

    async def close(self) -> None:
        return None


class _Renewal:
    """Renews a held lock every `every` seconds, from the first `every` on: an update that
    ends sooner (nearly all do, in milliseconds) costs one cancelled timer, no task."""

    def __init__(self, lock: Any, name: str, every: float) -> None:
        self.lock, self.name, self.every = lock, name, every
        self.task: asyncio.Task[None] | None = None
        self.timer = asyncio.get_running_loop().call_later(every, self._start)

    def _start(self) -> None:
        self.task = asyncio.create_task(self._renew())

    async def _renew(self) -> None:
        while True:
            try:
                await self.lock.reacquire()  # the lease starts again from now
            except LockError:
                log.warning("the lock %s was lost while its update ran", self.name)
                return
            except Exception as exc:  # Redis unreachable for a moment: try again
                log.warning("renewing the lock %s failed: %s", self.name, exc)
            await asyncio.sleep(self.every)

    async def stop(self) -> None:
        self.timer.cancel()
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
