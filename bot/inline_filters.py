"""Synchronous filters called on the event loop, not in a thread.

aiogram calls every filter that is not a coroutine function (`F.text == ...`, a `State`
given as a filter, a plain predicate) through `asyncio.to_thread`. Ours are pure and take
microseconds, but each hop wakes a worker thread and the loop again and fights for the GIL:
in the load benchmark about 17 hops per update, a large share of the time an update took
under load. After the routers are built, this marks every synchronous filter (and
synchronous handler, should one appear) to be called inline. A filter must therefore never
block: no I/O, no waiting; anything slow belongs in a handler or a service that awaits it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aiogram import Router
from aiogram.dispatcher.event.handler import CallableObject


def _inline(obj: CallableObject) -> None:
    if obj.awaitable:
        return
    sync = obj.callback

    async def call(*args: Any, **kwargs: Any) -> Any:
        return sync(*args, **kwargs)

    # `params`/`varkw` were read from the original signature and stay as they are.
    obj.callback = call
    obj.awaitable = True


def callables(router: Router) -> Iterator[CallableObject]:
    """Every handler and filter object of `router` and the routers included in it."""
    for each in router.chain_tail:
        for observer in each.observers.values():
            for obj in (observer._handler, *observer.handlers):
                yield obj
                yield from obj.filters or ()


def inline_sync_filters(router: Router) -> int:
    """Call the synchronous filters and handlers of `router` (and below) on the loop;
    returns how many were changed."""
    changed = 0
    for obj in callables(router):
        if not obj.awaitable:
            _inline(obj)
            changed += 1
    return changed
