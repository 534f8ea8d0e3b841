"""End-to-end benchmark: the real `minyi run` process against the Bot API emulator, beside
a minimal aiogram echo bot measured the same way in the same run.

    python -m tests.bench.e2e [--one 200] [--burst 300] [--no-sqlite] [--no-pg] [--pg URL]

Each bot runs as its own process, polling `bot/emulator.py` on 127.0.0.1 (its rate limits
lifted: this measures the bot, not Telegram's pacing). For each it prints
- start-up: from process start to its first getUpdates;
- one-at-a-time: residents send /start one after another, each waiting for the answer:
  first contacts (the resident is created), then the same residents again (known);
- burst: `--burst` residents send /start at once; the rate is answers / time to the last;
- handler time p50/p95/p99 (aiogram's own "Duration N ms" log line, one-at-a-time phase);
- RSS idle (after start-up) and after the load;
and the ratio of each rate to the echo bot's.

`--py-spy DIR` profiles each bot with `py-spy record` (pip install py-spy) from the end of
the warm-up to the end of the burst (the measured load, not the start-up) and leaves the
samples in DIR as collapsed stacks, `DIR/<bot>.txt`: `python -m tests.bench.profile FILE`
sums them by function.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.emulator import Emulator, Limits
from tests.bench.common import add_database_options, databases, logged_errors
from tests.conftest import ROOT, reset_postgres
from tests.procs import stop

TOKEN = "123456:BENCH-token_abcdefghijklmnopqrstuvwxyz"
DURATION = re.compile(rb"Duration (\d+) ms")
FIRST_USER = 500_000


class BenchEmulator(Emulator):
    """The emulator with a waiter per chat and the moment of the first getUpdates."""

    def __init__(self) -> None:
        super().__init__(limits=Limits(per_second=10**9, chat_burst=10**9,
                                       chat_per_second=10**9))
        self.first_poll: float | None = None
        self.waiters: dict[int, asyncio.Future[float]] = {}

    async def call(self, method: str, p: dict[str, Any], uploads: dict[str, bytes]) -> Any:
        if method == "getUpdates" and self.first_poll is None:
            self.first_poll = time.perf_counter()
        return await super().call(method, p, uploads)

    def _store(self, chat_id: int, message: dict[str, Any]) -> dict[str, Any]:
        waiter = self.waiters.pop(chat_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(time.perf_counter())
        return super()._store(chat_id, message)

    async def ask(self, user_id: int, text: str) -> float:
        """Send `text` as the user; the seconds until the bot's answer arrives."""
        waiter = asyncio.get_running_loop().create_future()
        self.waiters[user_id] = waiter
        start = time.perf_counter()
        await self.send_text(user_id, text)
        return await asyncio.wait_for(waiter, 60) - start


@dataclass
class Result:
    name: str
    startup: float = 0.0
    one_rate: float = 0.0
    known_rate: float = 0.0
    burst_rate: float = 0.0
    burst_last: float = 0.0
    handler_ms: list[int] = field(default_factory=list)
    rss_idle: float = 0.0
    rss_load: float = 0.0
    errors: list[str] = field(default_factory=list)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pct(values: list[int], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


async def measure(name: str, argv: list[str], env: dict[str, str], tmp: Path,
                  one: int, burst: int, profile: Path | None = None,
                  logs: Path | None = None) -> Result:
    emu = BenchEmulator()
    await emu.start(port=int(os.environ.get("BENCH_EMULATOR_PORT", "0")))
    for uid in range(FIRST_USER, FIRST_USER + one + burst):
        emu.user(uid, f"居民{uid}")
    log = (logs or tmp) / f"{name.replace(' ', '-')}.log"
    env = {**os.environ, "MINYI_BOT_TOKEN": TOKEN, "MINYI_API_BASE": emu.base,
           "MINYI_LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1", **env}
    env.pop("MINYI_CONFIG", None)
    result = Result(name)
    spy: subprocess.Popen[bytes] | None = None
    started = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, *argv], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        async with asyncio.timeout(60):
            while emu.first_poll is None:
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited: see {log}")
                await asyncio.sleep(0.01)
        result.startup = emu.first_poll - started
        await asyncio.sleep(2.0)  # let start-up work (set commands, sweeps) settle
        result.rss_idle = rss_mb(proc.pid)
        for uid in range(FIRST_USER, FIRST_USER + 10):  # warm-up: first-contact paths
            await emu.ask(uid, "/start")
        if profile is not None:
            spy = _py_spy(proc.pid, profile / f"{name.replace(' ', '-')}.txt")
        mark = log.stat().st_size
        begin = time.perf_counter()
        for uid in range(FIRST_USER, FIRST_USER + one):
            await emu.ask(uid, "/start")
        result.one_rate = one / (time.perf_counter() - begin)
        await asyncio.sleep(0.3)
        with log.open("rb") as f:
            f.seek(mark)
            result.handler_ms = [int(m) for m in DURATION.findall(f.read())]
        begin = time.perf_counter()
        for uid in range(FIRST_USER, FIRST_USER + one):  # known residents: reads only
            await emu.ask(uid, "/start")
        result.known_rate = one / (time.perf_counter() - begin)
        begin = time.perf_counter()
        waits = [emu.ask(uid, "/start")
                 for uid in range(FIRST_USER + one, FIRST_USER + one + burst)]
        await asyncio.gather(*waits)
        result.burst_last = time.perf_counter() - begin
        result.burst_rate = burst / result.burst_last
        result.rss_load = rss_mb(proc.pid)
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes its file and exits
            await asyncio.to_thread(spy.wait, 60)
        await stop(proc)  # the emulator answers the bot's last calls while it stops
        await emu.stop()
    result.errors = logged_errors([log])
    return result


def _py_spy(pid: int, out: Path) -> subprocess.Popen[bytes]:
    out.parent.mkdir(parents=True, exist_ok=True)
    spy = subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record",
                            "--pid", str(pid), "--format", "raw", "--rate", "200",
                            "--nonblocking", "-o", str(out)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # attached
    return spy


async def prepare_db(url: str) -> None:
    if url.startswith("postgresql"):
        await reset_postgres(url)
        env = {**os.environ, "MINYI_DATABASE_URL": url}
        env.pop("MINYI_CONFIG", None)
        subprocess.run([sys.executable, "-m", "bot", "db", "upgrade"], cwd=ROOT, env=env,
                       check=True, capture_output=True)


def report(results: list[Result]) -> None:
    echo = results[0]
    print(f"{'':12} {'start s':>8} {'1-by-1/s':>9} {'ratio':>6} {'known/s':>8} {'ratio':>6} "
          f"{'burst/s':>8} {'ratio':>6} "
          f"{'last s':>7} {'h p50':>6} {'h p95':>6} {'h p99':>6} {'RSS idle':>9} "
          f"{'RSS load':>9}")
    for r in results:
        print(f"{r.name:12} {r.startup:8.2f} {r.one_rate:9.1f} "
              f"{r.one_rate / echo.one_rate:6.2f} {r.known_rate:8.1f} "
              f"{r.known_rate / echo.known_rate:6.2f} {r.burst_rate:8.1f} "
              f"{r.burst_rate / echo.burst_rate:6.2f} {r.burst_last:7.2f} "
              f"{pct(r.handler_ms, 50):6.1f} {pct(r.handler_ms, 95):6.1f} "
              f"{pct(r.handler_ms, 99):6.1f} {r.rss_idle:7.0f}MB {r.rss_load:7.0f}MB")
    print("(handler times in ms, aiogram's own timing; ratios against the echo bot)")
    for r in results:
        if r.errors:
            print(f"{r.name} logged {len(r.errors)} errors, e.g.:")
            for line in list(dict.fromkeys(r.errors))[:3]:
                print("   ", line)


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--one", type=int, default=200, help="one-at-a-time /starts")
    parser.add_argument("--burst", type=int, default=300, help="residents in the burst")
    parser.add_argument("--py-spy", type=Path, default=None, metavar="DIR",
                        help="profile each bot's measured load with py-spy into DIR")
    parser.add_argument("--logs", type=Path, default=None, metavar="DIR",
                        help="keep each bot's log in DIR")
    add_database_options(parser)
    args = parser.parse_args(argv)
    if args.logs:
        args.logs.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        results = [await measure("echo", ["-m", "tests.bench.echo_bot"], {}, tmp,
                                 args.one, args.burst, args.py_spy, args.logs)]
        for name, url in databases(args, tmp):
            await prepare_db(url)
            results.append(await measure(f"minyi {name}", ["-m", "bot", "run"],
                                         {"MINYI_DATABASE_URL": url}, tmp,
                                         args.one, args.burst, args.py_spy, args.logs))
    report(results)


if __name__ == "__main__":
    asyncio.run(main())
