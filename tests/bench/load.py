"""Load generator: residents play the whole 我要反映 conversation through the webhook.

    python -m tests.bench.load [--replicas 1] [--db sqlite|pg] [--rate 20] [--ramp 5]
                               [--duration 30] [--think 0.5] [--no-nginx] [--no-staff]

It plays Telegram on both sides of the bot. Updates are POSTed, with the secret header, to
nginx (`deploy/nginx.conf`'s proxying, rendered for loopback) in front of `--replicas`
`minyi run` processes in webhook mode (`--no-nginx`: round-robin to the replicas, the
next one on a refused connection); the replicas' Bot API calls go to `bot/emulator.py`
(rate limits lifted: this measures the bot). Each virtual resident, arriving at `--rate`
conversations per second after a linear ramp, sends /start, 我要反映, a description, a
shared location in one of four grids, 不留电话 and presses 确认提交 (6 updates), waiting
`--think` seconds after each answer. The example org's grid workers and unit staff play
staff: each takes the tickets pushed to their chat one after another, presses 接单, then
办结, and sends the result (3 updates per ticket; `--no-staff` leaves them out). Reported:
sustained updates/s over the steady phase, the time from POST to the bot's first Bot API
call for that chat (p50/p95/p99; a worker's new cards do not count as answers), errors,
unfinished conversations, tickets resolved, and the ERROR lines the replicas logged.
PostgreSQL and Redis come from TEST_DATABASE_URL / TEST_REDIS_URL (wiped).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bot.emulator import ApiError, Emulator, Limits
from tests.bench.common import logged_errors
from tests.conftest import EXAMPLE_ORG, ROOT
from tests.procs import button, kill, start_bot, stop, until

TOKEN = "123456:LOAD-token_abcdefghijklmnopqrstuvwxyz0"
SECRET = "load-secret"
PATH = "/telegram/webhook"
# Shared locations inside four grids of the example org (each has a grid worker).
PLACES = ((35.6726, 117.2626),  # 泗河社区第1网格
          (35.6786, 117.2446),  # 东关社区第1网格
          (35.6576, 117.4976),  # 泉林村第1网格
          (35.7076, 117.4176))  # 金庄村第1网格
CARD_ROLES = {"grid_worker", "unit_staff", "unit_leader"}  # who is sent tickets to accept


def _staff_codes() -> list[str]:
    import tomllib

    people = tomllib.loads(EXAMPLE_ORG.read_text("utf-8")).get("people", [])
    return [p["code"] for p in people if CARD_ROLES & set(p.get("roles", []))]


# The example org's staff who are sent tickets, each given a chat: (chat, code).
WORKERS = [(7_700_001 + i, code) for i, code in enumerate(_staff_codes())]
GRID_CHAT = dict((code, chat) for chat, code in WORKERS)["grid-shjd-1"]
RESULT = "已到现场处理完毕，经回访群众满意"
DESCRIPTIONS = ("小区路灯坏了好几天，晚上出行很不方便，请尽快维修",
                "楼下垃圾好几天没人清运，气味很大", "小区门口道路有个大坑，雨天积水很深",
                "自来水这两天水压很低，高层用不上水")
BASE_PORT = int(os.environ.get("LOAD_BASE_PORT", "8200"))


class LoadEmulator(Emulator):
    """The emulator that POSTs each update straight to the webhook (many at once, as
    Telegram does) and notes when the bot first calls the Bot API for a chat after it."""

    def __init__(self, targets: list[str]) -> None:
        super().__init__(limits=Limits(per_second=10**9, chat_burst=10**9,
                                       chat_per_second=10**9))
        self.targets = targets
        self._next = itertools.cycle(range(len(targets)))
        self.http: aiohttp.ClientSession | None = None
        self.waiters: dict[int, asyncio.Future[float]] = {}
        self.latencies: list[float] = []
        self.answered: list[float] = []  # when each update got its first answer
        self.errors: dict[str, int] = {}
        self.posted = 0  # updates POSTed to the bot
        self.changed: dict[int, asyncio.Event] = {}
        for chat, code in WORKERS:
            self.user(chat, code)
        self.on_message = self._changed  # sent or edited

    def _changed(self, chat_id: int, _message: dict[str, Any]) -> None:
        if chat_id in self.changed:
            self.changed[chat_id].set()

    async def until(self, chat: int, cond: Any, timeout: float = 30) -> Any:
        """Until `cond()` is true, woken by the bot's messages and edits in `chat`."""
        changed = self.changed.setdefault(chat, asyncio.Event())
        async with asyncio.timeout(timeout):
            while not (value := cond()):
                changed.clear()
                await changed.wait()
        return value

    async def said(self, uid: int, expect: tuple[str, ...], since: int,
                   timeout: float = 30) -> None:
        """Until a bot message after the first `since` in the chat contains one of `expect`
        (woken by the bot's sends, no polling)."""
        await self.until(uid, lambda: any(e in x for x in self.bot_texts(uid)[since:]
                                          for e in expect), timeout)

    async def call(self, method: str, p: dict[str, Any], uploads: dict[str, bytes]) -> Any:
        chat = p.get("chat_id") or self._query_users.get(p.get("callback_query_id", ""))
        if chat is not None and not self._card(method, p):
            waiter = self.waiters.pop(int(chat), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(time.perf_counter())
        result = await super().call(method, p, uploads)
        if method == "answerCallbackQuery" and chat is not None:
            self._changed(int(chat), {})
        return result

    @staticmethod
    def _card(method: str, p: dict[str, Any]) -> bool:
        """A new ticket card (the outbox's push to a worker), not an answer to them."""
        markup = p.get("reply_markup") or {}
        if isinstance(markup, str):
            markup = json.loads(markup)
        return method.startswith("send") and any(
            b.get("text") == "接单" for row in markup.get("inline_keyboard", []) for b in row)

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1

    async def _push(self, payload: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), **payload}
        self.posted += 1
        user = (payload.get("message") or payload.get("callback_query") or {})["from"]["id"]
        assert self.http is not None
        waiter = asyncio.get_running_loop().create_future()
        self.waiters[user] = waiter
        start = time.perf_counter()
        for _ in range(len(self.targets)):  # a refused connection: the next replica
            url = self.targets[next(self._next)]
            try:
                async with self.http.post(url, json=update, headers={
                        "X-Telegram-Bot-Api-Secret-Token": SECRET}) as resp:
                    if resp.status >= 300:
                        self.error(f"HTTP {resp.status}")
                    break
            except aiohttp.ClientConnectionError:
                if len(self.targets) == 1:
                    self.error("connection")
                continue
        try:
            answered = await asyncio.wait_for(waiter, 30)
            self.latencies.append(answered - start)
            self.answered.append(answered)
        except TimeoutError:
            self.error("no answer in 30 s")
        return update


def button_on(emu: Emulator, user: int, label: str,
              message_id: int) -> tuple[int, str] | None:
    """That message's button whose text contains `label`, if it has one."""
    for message in reversed(emu.messages(user)):
        if message["message_id"] != message_id:
            continue
        for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
            for b in row:
                if label in b["text"]:
                    return message["message_id"], b["callback_data"]
    return None


async def staff(emu: LoadEmulator, chat: int, done: asyncio.Event, think: float) -> int:
    """A grid worker: every card pushed to `chat`, oldest first, is accepted, then resolved
    with a result (one at a time: the result step is a conversation). Until `done` is set
    and no card is left; returns how many were resolved."""
    from services.texts import t

    accept, resolve = t("btn_work_accept"), t("btn_work_resolve")
    conflict = t("err_conflict")
    handled: set[int] = set()
    resolved = 0

    def next_card() -> tuple[int, str] | None:
        for message in emu.messages(chat):
            if message["message_id"] not in handled and message.get("side") == "bot":
                found = button_on(emu, chat, accept, message["message_id"])
                if found is not None:
                    return found
        return None

    last = time.perf_counter()
    while True:
        card = next_card()
        if card is None:
            if done.is_set() and time.perf_counter() - last > 3:  # the last pushes are in
                return resolved
            with contextlib.suppress(TimeoutError):
                await emu.until(chat, lambda: next_card() or done.is_set(), timeout=1)
            continue
        handled.add(card[0])
        step = "接单"
        try:
            query = (await emu.press(chat, *card))["callback_query"]["id"]

            def accepted(c: tuple[int, str] = card, q: str = query) -> Any:
                """办结 on the card, or the answer without it (another took the ticket)."""
                return (button_on(emu, chat, resolve, c[0])
                        or any(a["id"] == q for a in emu.alerts) and "taken")

            found = await emu.until(chat, accepted)
            if found == "taken":
                continue
            await asyncio.sleep(think)
            step, since = "办结", len(emu.bot_texts(chat))
            # A co-worker who resolved it meanwhile: the card lost its 办结 (the press is
            # refused), or the press is answered with a refusal (an alert with a text).
            try:
                query = (await emu.press(chat, *found))["callback_query"]["id"]
            except ApiError as exc:
                if "no such button" in str(exc):
                    continue
                raise

            def asked(q: str = query, n: int = since) -> Any:
                """The question for the result, or a refusal (an alert with a text)."""
                return (any("办理结果" in x for x in emu.bot_texts(chat)[n:]) and "asked"
                        or any(a["id"] == q and a["text"] for a in emu.alerts) and "taken")

            if await emu.until(chat, asked) == "taken":
                continue
            await asyncio.sleep(think)
            step, since = "result", len(emu.bot_texts(chat))
            await emu.send_text(chat, RESULT)
            # Unit staff and grid workers share a ticket's card: another may resolve first.
            await emu.said(chat, ("已办结", conflict), since)
            if any("已办结" in x for x in emu.bot_texts(chat)[since:]):
                resolved += 1
            last = time.perf_counter()
        except (TimeoutError, ApiError) as exc:
            emu.error(f"staff {step}: {type(exc).__name__}")
            if os.environ.get("LOAD_DEBUG"):
                print(chat, step, exc, emu.bot_texts(chat)[-3:])


async def conversation(emu: LoadEmulator, uid: int, think: float) -> bool:
    """The whole 我要反映 conversation; True if the resident was told it was submitted."""
    from services.texts import t

    place = PLACES[uid // len(DESCRIPTIONS) % len(PLACES)]
    steps = (("/start", "民意快车"), (t("btn_report"), "请用文字描述"),
             (DESCRIPTIONS[uid % len(DESCRIPTIONS)], "镇街"), (place, "电话"),
             (t("btn_no_phone"), "请核对"))
    try:
        for text, expect in steps:
            since = len(emu.bot_texts(uid))
            if isinstance(text, tuple):
                await emu.send_location(uid, *text)
            else:
                await emu.send_text(uid, text)
            await emu.said(uid, (expect,), since)
            await asyncio.sleep(think)
        found = button(emu, uid, "确认提交")
        assert found is not None
        since = len(emu.bot_texts(uid))
        await emu.press(uid, *found)
        await emu.said(uid, ("提交成功", "已提交"), since)
        return True
    except (TimeoutError, AssertionError):
        return False


@dataclass
class Cluster:
    """N `minyi run` replicas in webhook mode (and nginx in front, if installed)."""

    tmp: Path
    db_url: str
    redis_url: str
    replicas: int
    api_base: str = ""
    nginx: bool = True
    ports: list[int] = field(default_factory=list)  # front, then one per replica
    procs: list[subprocess.Popen[bytes] | None] = field(default_factory=list)
    nginx_proc: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.ports = self.ports or [BASE_PORT + i for i in range(self.replicas + 1)]

    def port(self, i: int) -> int:
        return self.ports[1 + i]

    @property
    def front(self) -> str:
        return f"http://127.0.0.1:{self.ports[0]}{PATH}"

    def targets(self) -> list[str]:
        if self.nginx_proc is not None:
            return [self.front]
        return [f"http://127.0.0.1:{self.port(i)}{PATH}" for i in range(self.replicas)]

    def env(self) -> dict[str, str]:
        env = {**os.environ, "MINYI_BOT_TOKEN": TOKEN, "MINYI_API_BASE": self.api_base,
               "MINYI_DATABASE_URL": self.db_url, "MINYI_REDIS_URL": self.redis_url,
               "MINYI_LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1",
               "MINYI_CONFIG": str(self.tmp / "config.toml")}
        if not self.redis_url:
            env.pop("MINYI_REDIS_URL")
        return env

    def prepare(self) -> None:
        """Config, a fresh database with the example org, the grid worker's chat bound."""
        (self.tmp / "config.toml").write_text(
            f'[telegram]\nmode = "webhook"\n[telegram.webhook]\nhost = "127.0.0.1"\n'
            f'path = "{PATH}"\nurl = "http://127.0.0.1:{self.ports[0]}"\nsecret = "{SECRET}"\n'
            f'[flood]\nlimit = 1000\n'
            f'[outbox]\nmax_per_second = 200.0\nper_chat_seconds = 0.0\nlease_seconds = 10\n',
            encoding="utf-8")
        env = self.env()
        for args in (["db", "upgrade"], ["org", "import", str(EXAMPLE_ORG)]):
            subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, env=env,
                           check=True, capture_output=True)
        sql = [f"UPDATE people SET tg_user_id = {chat} WHERE code = '{code}'"
               for chat, code in WORKERS]
        if self.db_url.startswith("sqlite"):
            with sqlite3.connect(self.db_url.split("///", 1)[1]) as conn:
                for statement in sql:
                    conn.execute(statement)
        else:
            asyncio.run(_execute(self.db_url, *sql))

    def start_replica(self, i: int) -> None:
        env = {**self.env(), "MINYI_WEBHOOK_PORT": str(self.port(i))}
        proc = start_bot(env, ROOT, self.tmp / f"replica{i}.log")
        if i < len(self.procs):
            self.procs[i] = proc
        else:
            self.procs.append(proc)

    async def start(self) -> None:
        for i in range(self.replicas):
            self.start_replica(i)
        if self.nginx and nginx_binary():
            self.start_nginx()
        for i, proc in enumerate(self.procs):
            assert proc is not None
            await until(lambda p=proc, i=i: p.poll() is not None or _up(self.port(i)), 90,
                        every=0.02)
            if proc.poll() is not None:
                raise RuntimeError(f"replica {i} exited: see {self.tmp}/replica{i}.log")
        if (front := self.nginx_proc) is not None:  # listening, or it failed to start
            await until(lambda: front.poll() is not None or _up(self.ports[0]), 10, every=0.02)

    def start_nginx(self) -> None:
        servers = "\n".join(f"        server 127.0.0.1:{self.port(i)} max_fails=1 "
                            f"fail_timeout=10s;" for i in range(self.replicas))
        conf = self.tmp / "nginx.conf"
        conf.write_text(f"""daemon off;
worker_processes 1;
pid {self.tmp}/nginx.pid;
error_log {self.tmp}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {self.tmp}/nginx-body;
    proxy_temp_path {self.tmp}/nginx-proxy;
    upstream minyi {{
{servers}
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{self.ports[0]};
        location = {PATH} {{
            proxy_pass http://minyi;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_next_upstream error timeout http_502 http_503 non_idempotent;
            proxy_next_upstream_tries 3;
            proxy_connect_timeout 2s;
            proxy_read_timeout 60s;
        }}
    }}
}}
""", encoding="utf-8")
        self.nginx_proc = subprocess.Popen([nginx_binary(), "-c", str(conf), "-p", str(self.tmp)],
                                           stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL)

    def cpu_seconds(self) -> float:
        """User + system CPU the live replicas have used so far (Linux /proc)."""
        total = 0.0
        for proc in self.procs:
            if proc is None or proc.poll() is not None:
                continue
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def kill(self, i: int) -> None:
        proc = self.procs[i]
        assert proc is not None
        kill(proc)

    async def stop(self) -> None:
        await stop(*self.procs, self.nginx_proc, timeout=20)


def nginx_binary() -> str:
    """Debian's nginx (in /usr/sbin, not on every PATH), or "" if not installed."""
    found = shutil.which("nginx") or "/usr/sbin/nginx"
    return found if Path(found).exists() else ""


def _up(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


async def _execute(url: str, *sql: str) -> None:
    import sqlalchemy as sa

    from models.db import make_engine

    engine = make_engine(url)
    async with engine.begin() as conn:
        for statement in sql:
            await conn.execute(sa.text(statement))
    await engine.dispose()


async def reset_redis(url: str) -> None:
    from redis.asyncio import Redis

    redis = Redis.from_url(url)
    await redis.flushdb()
    await redis.aclose()


@dataclass
class LoadResult:
    started: int
    completed: int
    updates_per_second: float
    p50: float
    p95: float
    p99: float
    errors: dict[str, int]
    resolved: int = 0
    cpu_ms_per_update: float = 0.0  # the replicas' CPU per update POSTed (after start-up)


async def play(emu: LoadEmulator, rate: float, ramp: float, duration: float, think: float,
               first_user: int = 600_000, during: Any = None,
               with_staff: bool = False) -> tuple[LoadResult, list[int], list[bool]]:
    """Residents arrive at `rate`/s (after a linear ramp) for `duration` seconds; `during`
    (a coroutine function) runs once half way; `with_staff`: the grid workers accept and
    resolve what they are sent. Returns the figures, the residents and whether each
    finished."""
    residents_done = asyncio.Event()
    workers = [asyncio.create_task(staff(emu, chat, residents_done, think))
               for chat, _ in WORKERS] if with_staff else []
    tasks: list[asyncio.Task[bool]] = []
    users: list[int] = []
    begin = time.perf_counter()
    halfway_done = False
    while (elapsed := time.perf_counter() - begin) < duration:
        # Arrivals so far: the integral of a rate ramping linearly up to `rate`.
        due = (rate * elapsed * elapsed / (2 * ramp) if elapsed < ramp
               else rate * (ramp / 2 + elapsed - ramp))
        while len(users) < int(due):
            uid = first_user + len(users)
            emu.user(uid, f"居民{len(users)}")
            users.append(uid)
            tasks.append(asyncio.create_task(conversation(emu, uid, think)))
        if during is not None and not halfway_done and elapsed >= duration / 2:
            halfway_done = True
            await during()
        await asyncio.sleep(0.01)
    done = list(await asyncio.gather(*tasks))
    residents_done.set()
    resolved = sum(await asyncio.gather(*workers))
    steady_from = begin + ramp
    steady_to = begin + duration
    steady = [a for a in emu.answered if steady_from <= a <= steady_to]
    lat = sorted(emu.latencies)
    q = statistics.quantiles(lat, n=100, method="inclusive") if len(lat) > 1 else [0.0] * 99
    result = LoadResult(len(users), sum(done), len(steady) / max(1e-9, duration - ramp),
                        q[49] * 1000, q[94] * 1000, q[98] * 1000, dict(emu.errors),
                        resolved)
    return result, users, done


async def main(argv: list[str] | None = None) -> None:
    import tempfile

    from tests.conftest import reset_postgres

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--db", choices=("sqlite", "pg"), default="pg")
    parser.add_argument("--rate", type=float, default=20.0, help="conversations per second")
    parser.add_argument("--ramp", type=float, default=5.0)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--think", type=float, default=0.5)
    parser.add_argument("--no-nginx", action="store_true")
    parser.add_argument("--no-staff", action="store_true",
                        help="residents only (no 接单 / 办结 by the grid workers)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        if args.db == "sqlite":
            db_url, redis_url = f"sqlite+aiosqlite:///{tmp / 'load.db'}", ""
        else:
            db_url = os.environ.get("TEST_DATABASE_URL",
                                    "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
            redis_url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
            await reset_postgres(db_url)
            await reset_redis(redis_url)
        emu = LoadEmulator([])
        await emu.start(port=BASE_PORT + 9)
        cluster = Cluster(tmp, db_url, redis_url, args.replicas, emu.base,
                          nginx=not args.no_nginx)
        await asyncio.to_thread(cluster.prepare)
        try:
            await cluster.start()
            emu.targets = cluster.targets()
            emu._next = itertools.cycle(range(len(emu.targets)))
            async with aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=1000)) as emu.http:
                cpu_before, posted_before = cluster.cpu_seconds(), emu.posted
                result, _, _ = await play(emu, args.rate, args.ramp, args.duration,
                                          args.think, with_staff=not args.no_staff)
                result.cpu_ms_per_update = (1000 * (cluster.cpu_seconds() - cpu_before)
                                            / max(1, emu.posted - posted_before))
        finally:
            await cluster.stop()
            with contextlib.suppress(Exception):
                await emu.stop()
            logged = logged_errors(tmp.glob("replica*.log"))
    front = "nginx" if cluster.nginx_proc is not None else "direct"
    print(f"replicas={args.replicas} db={args.db} front={front} rate={args.rate}/s "
          f"conversations={result.started} completed={result.completed} "
          f"tickets resolved by staff={result.resolved}")
    print(f"sustained {result.updates_per_second:.1f} updates/s; POST -> first Bot API call "
          f"p50 {result.p50:.0f} ms, p95 {result.p95:.0f} ms, p99 {result.p99:.0f} ms; "
          f"errors {result.errors or 'none'}")
    print(f"replicas' CPU per update: {result.cpu_ms_per_update:.1f} ms")
    print(f"errors the replicas logged: {len(logged)}")
    for line in list(dict.fromkeys(logged))[:5]:
        print("   ", line)



if __name__ == "__main__":
    asyncio.run(main())
