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
from tests.procs import child_env, free_port

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
