"""Runtime: configuration, app factory, runners, scheduler and CLI."""

from bot.lazy_types import load as _load_aiogram

_load_aiogram()  # before anything imports aiogram: see bot/lazy_types.py
