"""aiogram Routers per audience; `get_routers` decides their order.

Each module builds its Router in `make_router()` rather than at import time, so several
dispatchers (tests, the sandbox) can live in one process: a Router attaches only once.
"""

from __future__ import annotations

from aiogram import Router

from handlers import common, errors


def get_routers() -> list[Router]:
    # errors first so its handlers see every failure; common last (it holds fallbacks).
    return [errors.make_router(), common.make_router()]
