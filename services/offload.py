"""CPU-heavy work (workbooks, charts, the 通报 PDF) away from the bot's event loop.

A worker *thread* still competes with the loop for the GIL (the loop waits up to the
interpreter's switch interval at every wake-up), so under load a chat answer took most of
a second while a workbook was built. A fresh process has its own interpreter: the loop
only awaits the result. Spawned per job (no fork of a process with threads and an event
loop), one at a time per call; the arguments and result must pickle.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


async def in_process(fn: Callable[..., T], *args: Any) -> T:
    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    try:
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)
    finally:
        pool.shutdown(wait=False)  # the worker exits by itself; never block the loop
