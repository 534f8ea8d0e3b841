"""Ctrl-C (SIGINT) and SIGTERM stop `minyi sandbox` and `minyi run` within 2 seconds.

Each process is started for real, does some work (the sandbox answers /start; the bot
long-polls the emulator, so a getUpdates is open when the signal comes), and the time
from the signal to the process's exit is measured.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from bot.emulator import Emulator
from tests.procs import child_env, free_port, webhook_config

STOP_WITHIN = 2.0
TOKEN = "123456:STOP-token_abcdefghijklmnopqrstuvwxyz0"


async def _stop_time(proc: asyncio.subprocess.Process, sig: signal.Signals) -> float:
    started = time.monotonic()
    proc.send_signal(sig)
    try:
        await asyncio.wait_for(proc.wait(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
    return time.monotonic() - started


async def _line(proc: asyncio.subprocess.Process, needle: str, timeout: float = 60) -> None:
    assert proc.stdout is not None
    async with asyncio.timeout(timeout):
        while needle not in (await proc.stdout.readline()).decode():
            if proc.stdout.at_eof():
                raise AssertionError(f"the process ended before printing {needle!r}")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_sandbox_stops_within_two_seconds(sig: signal.Signals, tmp_path: Path) -> None:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "sandbox", "--port", str(port), "--db",
        str(tmp_path / "sandbox.db"), cwd=tmp_path, env=child_env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    await _line(proc, "sandbox: http://")

    def post(body: dict[str, object]) -> None:
        urllib.request.urlopen(urllib.request.Request(  # noqa: S310 (loopback)
            f"http://127.0.0.1:{port}/api/send", data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json",  # the page's own Origin
                     "Origin": f"http://127.0.0.1:{port}"}), timeout=10).read()

    await asyncio.to_thread(post, {"user_id": 10001, "text": "/start"})
    await asyncio.sleep(1.5)  # the reply went out; the bot is back in a long poll
    took = await _stop_time(proc, sig)
    assert proc.returncode == 0
    assert took < STOP_WITHIN, f"{sig.name}: stopped after {took:.2f} s"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_run_stops_within_two_seconds(sig: signal.Signals, tmp_path: Path) -> None:
    emu = Emulator()
    await emu.start()
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", cwd=tmp_path,
            env=child_env(MINYI_BOT_TOKEN=TOKEN, MINYI_API_BASE=emu.base,
                     MINYI_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        await _line(proc, "Run polling")
        await asyncio.sleep(1.0)  # inside a getUpdates long poll
        took = await _stop_time(proc, sig)
    finally:
        await emu.stop()
    assert proc.returncode == 0
    assert took < STOP_WITHIN, f"{sig.name}: stopped after {took:.2f} s"


# -- a stop lets the updates in hand finish ---------------------------------------------------
RESIDENT = 52001
IN_HAND_LATENCY = 1.0  # every Bot API call takes this long: the /start's sends are in hand


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_a_stop_finishes_the_update_in_hand(mode: str, tmp_path: Path) -> None:
    """SIGTERM while a /start is being answered: the resident still gets the whole answer
    (the privacy notice, then the greeting), no error reply, and the process exits 0. In
    webhook mode the request is answered 200 only after that (aiohttp's shutdown closed
    the bot's HTTP session before the updates in hand had finished)."""
    from services.texts import t

    emu = Emulator()
    await emu.start()
    emu.user(RESIDENT, "居民")
    port = free_port()
    secret = "stop-secret"
    env = child_env(MINYI_BOT_TOKEN=TOKEN, MINYI_API_BASE=emu.base,
                    MINYI_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    if mode == "webhook":
        env["MINYI_CONFIG"] = str(webhook_config(tmp_path, port, secret))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    post: asyncio.Task[int] | None = None
    try:
        await _line(proc, "Run polling" if mode == "polling" else "webhook listening")
        await asyncio.sleep(0.5)  # start-up's own calls are done
        emu.faults.latency = IN_HAND_LATENCY
        if mode == "polling":
            await emu.send_text(RESIDENT, "/start")
        else:
            post = asyncio.create_task(_post_update(
                f"http://127.0.0.1:{port}/tg", secret, emu.update_for(RESIDENT, "/start")))
        async with asyncio.timeout(30):  # the notice is out, the greeting in hand
            while len(emu.bot_texts(RESIDENT)) < 1:
                await asyncio.sleep(0.02)
        took = await _stop_time(proc, signal.SIGTERM)
        status = await post if post is not None else 200
    finally:
        if proc.returncode is None:
            proc.kill()
        await emu.stop()
    texts = emu.bot_texts(RESIDENT)
    assert t("internal_error") not in texts, texts
    assert any(x.startswith(t("start", county="泗水县", days=3)[:6]) for x in texts[1:]), texts
    assert proc.returncode == 0 and status == 200
    assert took < 10, f"stopped after {took:.2f} s"


async def _post_update(url: str, secret: str, update: dict[str, object]) -> int:
    import aiohttp

    async with aiohttp.ClientSession() as http, http.post(
            url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": secret}) as resp:
        return resp.status
