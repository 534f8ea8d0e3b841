"""Domain errors become a Chinese reply; anything else is logged and apologised for."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import ErrorEvent

from services.errors import DomainError
from services.texts import t

log = logging.getLogger(__name__)


async def _answer(event: ErrorEvent, text: str) -> None:
    update = event.update
    query = update.callback_query
    if query is not None:
        # Already answered before the failure, or too late: the text comes as a message
        # (bot.retry.LateAnswerInChat).
        await query.answer(text, show_alert=True)
    elif update.message is not None:
        await update.message.answer(text)


async def on_domain_error(event: ErrorEvent) -> None:
    assert isinstance(event.exception, DomainError)
    await _answer(event, event.exception.message)


async def on_unexpected(event: ErrorEvent) -> None:
    log.error("update %s failed", event.update.update_id, exc_info=event.exception)
    await _answer(event, t("internal_error"))


def make_router() -> Router:
    router = Router(name=__name__)
    router.errors.register(on_domain_error, ExceptionTypeFilter(DomainError))
    router.errors.register(on_unexpected)
    return router
