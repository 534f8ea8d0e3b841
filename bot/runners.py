"""Long polling and webhook runners; both stop cleanly on SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

from bot.app import App, close_app
from bot.health import health_report

log = logging.getLogger(__name__)


async def run_polling(app: App) -> None:
    try:
        await app.bot.delete_webhook(drop_pending_updates=False)
        await app.dp.start_polling(
            app.bot, allowed_updates=app.dp.resolve_used_update_types(),
            handle_signals=True, close_bot_session=False,
        )
    finally:
        await close_app(app)


class UpdatesHandler(SimpleRequestHandler):
    """aiogram's webhook handler, except that it leaves the bot's HTTP session open at
    shutdown. aiohttp runs the shutdown callbacks before it waits for the requests in
    hand, and aiogram's handler closes the session in the first of them: an update being
    answered then failed half way (the resident got an error instead of the rest of the
    answer). The dispatcher's shutdown (`bot.app._on_shutdown`) waits for the updates in
    hand first, and `close_app` closes the session after it."""

    async def close(self) -> None:
        return None


def make_webhook_app(app: App) -> web.Application:
    """The aiohttp app: Telegram updates on the configured path, and /health."""
    hook = app.config.telegram.webhook
    web_app = web.Application()
    # Answered after the update is handled (committed), not at once: a replica killed in
    # the middle leaves the request unanswered, so nginx or Telegram gives it to another.
    UpdatesHandler(
        dispatcher=app.dp, bot=app.bot, handle_in_background=False,
        secret_token=hook.secret.get_secret_value(),  # required by the config
    ).register(web_app, path=hook.path)
    setup_application(web_app, app.dp, bot=app.bot)

    async def health(_request: web.Request) -> web.Response:
        # ok/failing only: the details (hosts, database, versions) stay in `minyi doctor`.
        report = await health_report(app.config, app.engine, app.ctx)
        return web.json_response({"status": "ok" if report["ok"] else "failing"},
                                 status=200 if report["ok"] else 503)

    web_app.router.add_get("/health", health)
    return web_app


async def set_webhook(app: App) -> None:
    hook = app.config.telegram.webhook
    await app.bot.set_webhook(
        url=hook.url.rstrip("/") + hook.path,
        secret_token=hook.secret.get_secret_value(),
        allowed_updates=app.dp.resolve_used_update_types(),
    )


async def run_webhook(app: App, stop: asyncio.Event | None = None) -> None:
    hook = app.config.telegram.webhook
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(make_webhook_app(app))
    await runner.setup()
    try:
        await web.TCPSite(runner, hook.host, hook.port).start()
        await set_webhook(app)
        log.info("webhook listening on %s:%s%s", hook.host, hook.port, hook.path)
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await runner.cleanup()  # runs dispatcher shutdown (scheduler, storage)
        await close_app(app)
