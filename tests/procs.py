"""Shared by the tests that start real processes and servers (e2e, runners, stop, sandbox,
browser, the load generator): a free loopback port, a clean child environment, one way to
wait, starting and stopping `python -m bot`, and driving it through the emulator.

Waiting is always for a condition with a deadline, never a blind sleep: `until` polls the
condition (sync or async) and returns its first truthy value, or fails after `timeout`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.conftest import ROOT

if TYPE_CHECKING:
    import pytest

    from bot.emulator import Emulator

TOKEN = "123456:E2E-token_abcdefghijklmnopqrstuvwxyz0"


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


# -- the bot as a process --------------------------------------------------------------------
def webhook_config(directory: Path, port: int, secret: str) -> Path:
    """`directory/config.toml` for webhook mode on 127.0.0.1:`port`, path /tg."""
    config = directory / "config.toml"
    config.write_text(
        f'[telegram]\nmode = "webhook"\n[telegram.webhook]\nhost = "127.0.0.1"\n'
        f'port = {port}\npath = "/tg"\nurl = "http://127.0.0.1:{port}"\n'
        f'secret = "{secret}"\n', encoding="utf-8")
    return config


def start_bot(env: Mapping[str, str], cwd: Path, log: Path, *args: str
              ) -> subprocess.Popen[bytes]:
    """`python -m bot <args> run`, its output appended to `log`."""
    return subprocess.Popen([sys.executable, "-m", "bot", *args, "run"], cwd=cwd,
                            env=dict(env), stdout=log.open("ab"), stderr=subprocess.STDOUT)


def kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL: a crash, nothing flushed or said goodbye."""
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


async def stop(*procs: subprocess.Popen[bytes] | None, timeout: float = 15) -> None:
    """SIGTERM to each one still running, then wait; killed after `timeout`.

    The wait runs in a thread: the emulator lives in this event loop, and a bot that is
    stopping still finishes its updates in flight, whose Bot API calls it must answer
    (a blocking wait left them hanging until the bot's shutdown timeout, then failing)."""
    running = [p for p in procs if p is not None and p.poll() is None]
    for proc in running:
        proc.send_signal(signal.SIGTERM)
    for proc in running:
        try:
            await asyncio.to_thread(proc.wait, timeout)
        except subprocess.TimeoutExpired:
            proc.kill()


class BotProcess:
    """`minyi run` against the emulator, on a SQLite file."""

    def __init__(self, emu: Emulator, db: Path, tmp: Path, **env: str) -> None:
        self.env = {**os.environ, "MINYI_BOT_TOKEN": TOKEN, "MINYI_API_BASE": emu.base,
                    "MINYI_DATABASE_URL": f"sqlite+aiosqlite:///{db}", "MINYI_LOG_LEVEL":
                    "WARNING", "PYTHONUNBUFFERED": "1", **env}
        self.env.pop("MINYI_CONFIG", None)
        self.tmp = tmp
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = tmp / "bot.log"

    def start(self, *args: str) -> None:
        self.proc = start_bot(self.env, self.tmp, self.log, *args)

    def kill(self) -> None:
        assert self.proc is not None
        kill(self.proc)

    async def stop(self) -> None:
        await stop(self.proc)


@contextlib.asynccontextmanager
async def emulator(users: Mapping[int, str]) -> AsyncIterator[Emulator]:
    """The Bot API emulator, running, with these Telegram users (id -> first name)."""
    from bot.emulator import Emulator

    emu = Emulator()
    await emu.start()
    for user, name in users.items():
        emu.user(user, name)
    try:
        yield emu
    finally:
        await emu.stop()


def example_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: tuple[Path, ...],
               bind: Mapping[int, str]) -> Path:
    """The example county (`minyi org import <files>`) in a SQLite file, the people whose
    codes `bind` names bound to those Telegram ids."""
    from bot.cli import main as cli

    path = tmp_path / "e2e.db"
    monkeypatch.setenv("MINYI_DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    monkeypatch.delenv("MINYI_CONFIG", raising=False)
    assert cli(["org", "import", *map(str, files)]) == 0
    with sqlite3.connect(path) as conn:
        for tg, code in bind.items():
            conn.execute("UPDATE people SET tg_user_id = ? WHERE code = ?", (tg, code))
    return path


# -- driving it through the emulator ---------------------------------------------------------
def last_text(emu: Emulator, user: int) -> str:
    texts = emu.bot_texts(user)
    return texts[-1] if texts else ""


def button(emu: Emulator, user: int, label: str) -> tuple[int, str] | None:
    """The newest bot message in the chat with a button whose text contains `label`."""
    for message in reversed(emu.messages(user)):
        for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
            for b in row:
                if label in b["text"]:
                    return message["message_id"], b["callback_data"]
    return None


async def say_and_wait(emu: Emulator, user: int, text: str, expect: str,
                       timeout: float = 30) -> None:
    before = len(emu.bot_texts(user))
    await emu.send_text(user, text)
    await until(lambda: any(expect in x for x in emu.bot_texts(user)[before:]), timeout)


async def press_and_wait(emu: Emulator, user: int, label: str, expect_user: int,
                         expect: str, timeout: float = 30) -> None:
    found = await until(lambda: button(emu, user, label), timeout)
    before = len(emu.bot_texts(expect_user))
    await emu.press(user, found[0], found[1])
    await until(lambda: any(expect in x for x in emu.bot_texts(expect_user)[before:])
                or any(expect in x for x in emu.bot_texts(expect_user)), timeout)
