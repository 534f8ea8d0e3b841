"""aiogram Routers per audience; `get_routers` decides their order."""

from __future__ import annotations

from aiogram import Router

from handlers import common, errors


def get_routers() -> list[Router]:
    # errors first so its error handler sees everything; common last (fallbacks).
    return [errors.router, common.router]
