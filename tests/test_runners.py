"""The real bot runs against a Bot API peer on loopback, in both modes."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from bot.app import StartupError, build_app
from bot.config import load_config
from bot.emulator import Emulator
from bot.runners import run_polling, run_webhook
from services.texts import t
from tests.conftest import ROOT, external_url
from tests.procs import child_env, free_port, until

TOKEN = "123456:TEST-token_abcdefghijklmnopqrstuvwxyz"


def env_for(api: Emulator, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"MINYI_BOT_TOKEN": TOKEN, "MINYI_API_BASE": api.base,
            "MINYI_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", **extra}


async def test_polling_answers_start_and_survives_a_failing_set_my_commands(
        api: Emulator, tmp_path: Path) -> None:
    api.faults.methods.add("setMyCommands")
    gc.unfreeze()
    app = await build_app(load_config(env=env_for(api, tmp_path)))
    task = asyncio.create_task(run_polling(app))
    await api.send_text(555, "/start")
    await until(lambda: len(api.bot_texts(555)) == 2, 10)
    # a first /start: the privacy notice (个人信息保护法), then the welcome and menu
    assert api.bot_texts(555) == [t("privacy_notice", days=365, hours=72),
                                  t("start", county=t("county_generic"), days=3)]  # no org yet
    assert app.scheduler.running and "calendar-coverage" in app.scheduler.job_ids()
    await app.dp.stop_polling()
    await asyncio.wait_for(task, 10)
    assert not app.scheduler.running
    assert {"deleteWebhook", "setMyCommands", "getMe", "getUpdates"} <= set(api.methods())
    # What start-up built is out of the collector's way (bot.app.freeze_long_lived).
    assert gc.get_freeze_count() > 0


async def test_webhook_sets_the_hook_and_refuses_requests_without_the_secret(
        api: Emulator, tmp_path: Path) -> None:
    port = free_port()
    config = load_config(env=env_for(
        api, tmp_path, MINYI_MODE="webhook", MINYI_WEBHOOK_URL="https://minyi.example.cn",
        MINYI_WEBHOOK_SECRET="s3cret-Token"))
    config.telegram.webhook.host, config.telegram.webhook.port = "127.0.0.1", port
    app = await build_app(config)
    stop = asyncio.Event()
    task = asyncio.create_task(run_webhook(app, stop))
    await until(lambda: "setWebhook" in api.methods(), 10)
    hook = dict(api.requests)["setWebhook"]
    assert hook["url"] == "https://minyi.example.cn/telegram/webhook"
    assert hook["secret_token"] == "s3cret-Token"
    url = f"http://127.0.0.1:{port}/telegram/webhook"
    body = json.dumps(api.update_for(777, "/start"), ensure_ascii=False)
    async with aiohttp.ClientSession() as http:
        async with http.post(url, data=body) as resp:
            assert resp.status == 401
        bad = {"X-Telegram-Bot-Api-Secret-Token": "wrong"}
        async with http.post(url, data=body, headers=bad) as resp:
            assert resp.status == 401
        assert api.bot_texts(777) == []
        good = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-Token",
                "Content-Type": "application/json"}
        async with http.post(url, data=body, headers=good) as resp:
            assert resp.status == 200
        await until(lambda: api.bot_texts(777), 10)
        async with http.get(f"http://127.0.0.1:{port}/health") as resp:
            # ok/failing only: no database URL, host or user names for the world to read
            assert resp.status == 200 and await resp.json() == {"status": "ok"}
    stop.set()
    await asyncio.wait_for(task, 10)
    assert not app.scheduler.running


@pytest.mark.parametrize("redis", ["unreachable", "up"])
async def test_webhook_health_fails_while_redis_is_unreachable(
        redis: str, api: Emulator, tmp_path: Path) -> None:
    """Conversation state, the per-user lock and flood control live in Redis: a replica
    that cannot reach it fails every update, so /health answers 503 (as for the database)
    and monitoring sees it."""
    redis_url = (f"redis://127.0.0.1:{free_port()}/0" if redis == "unreachable"
                 else external_url("TEST_REDIS_URL"))
    port = free_port()
    config = load_config(env=env_for(
        api, tmp_path, MINYI_MODE="webhook", MINYI_WEBHOOK_URL="https://minyi.example.cn",
        MINYI_WEBHOOK_SECRET="s3cret-Token", MINYI_REDIS_URL=redis_url))
    config.telegram.webhook.host, config.telegram.webhook.port = "127.0.0.1", port
    app = await build_app(config)
    stop = asyncio.Event()
    task = asyncio.create_task(run_webhook(app, stop))
    try:
        await until(lambda: "setWebhook" in api.methods(), 10)
        async with aiohttp.ClientSession() as http, \
                http.get(f"http://127.0.0.1:{port}/health") as resp:
            answer = resp.status, await resp.json()
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert answer == ((503, {"status": "failing"}) if redis == "unreachable"
                      else (200, {"status": "ok"}))


async def test_no_token_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(StartupError, match="MINYI_BOT_TOKEN"):
        await build_app(load_config(env={"MINYI_DATABASE_URL": "sqlite+aiosqlite:///x.db"}))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=tmp_path,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 2
    lines = err.decode().strip().splitlines()
    assert lines == [t("cli_no_token")]


async def test_sigterm_stops_the_polling_bot_cleanly(api: Emulator, tmp_path: Path) -> None:
    env = child_env(**env_for(api, tmp_path))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        await until(lambda: "getUpdates" in api.methods(), timeout=30)
        await api.send_text(888, "/help")
        await until(lambda: api.bot_texts(888), timeout=10)
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 20)
    finally:
        if proc.returncode is None:
            proc.kill()
    assert proc.returncode == 0, err.decode()
    assert "bot stopped" in err.decode()
    assert "Traceback" not in err.decode()
    assert (tmp_path / "bot.db").exists()  # the embedded database created itself


async def test_a_stop_lets_the_updates_in_hand_finish(api: Emulator, tmp_path: Path) -> None:
    """aiogram's polling stop does not wait for the handlers it started; the app does
    (bot.middlewares.InFlight) before closing its HTTP session and engine."""
    app = await build_app(load_config(env=env_for(api, tmp_path)))
    task = asyncio.create_task(run_polling(app))
    await until(lambda: "getUpdates" in api.methods(), 10)
    api.faults.latency = 0.5  # each Bot API call takes half a second
    await api.send_text(557, "/start")
    await until(lambda: "sendMessage" in api.methods(), 10)  # the handler is under way
    await app.dp.stop_polling()
    await asyncio.wait_for(task, 15)
    assert api.bot_texts(557) == [t("privacy_notice", days=365, hours=72),
                                  t("start", county=t("county_generic"), days=3)]
