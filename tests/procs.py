"""Shared by the tests that start real processes and servers (e2e, runners, stop, sandbox,
browser): a free loopback port, a clean child environment, and one way to wait.

Waiting is always for a condition with a deadline, never a blind sleep: `until` polls the
condition (sync or async) and returns its first truthy value, or fails after `timeout`.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import socket
from collections.abc import Callable
from typing import Any

from tests.conftest import ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(**extra: str) -> dict[str, str]:
    """A child `python -m bot …`: this checkout on its path, unbuffered, nothing else
    inherited (no MINYI_* of the developer's shell)."""
    return {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1",
            **extra}


async def until(cond: Callable[[], Any], timeout: float = 30, every: float = 0.05) -> Any:
    """The first truthy value of `cond()` (awaited when it returns an awaitable)."""
    async with asyncio.timeout(timeout):
        while True:
            value = cond()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value
            await asyncio.sleep(every)
