"""`minyi sandbox`: the whole product on one machine, no Telegram token, in a browser.

One aiohttp app on 127.0.0.1:PORT serves the Bot API emulator (the bot is pointed at it
through `telegram.api_base`), a page where one person plays every role side by side, and
the page's small JSON API. The real bot (routers, SQLite database seeded from
examples/sishui.toml and its catalogue, outbox sender, scheduler) runs in the same process
with a clock the page can move forward ("+1 个工作日", "下一个 09:00"), so reminders,
escalations and callbacks can be seen without waiting.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import json
import logging
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from aiohttp import web

from bot.app import App, build_app, close_app
from bot.config import Config
from bot.emulator import ApiError, Emulator
from handlers import menus
from models import Matter, Person
from services import sweeps
from services.clock import Clock, SystemClock
from services.org_import import import_org

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_ORG = ROOT / "examples" / "sishui.toml"
EXAMPLE_CATALOGUE = ROOT / "examples" / "sishui_catalogue.toml"
PAGE = Path(__file__).with_name("sandbox_page.html")
TOKEN = "123456:SANDBOX-not-a-real-token_abcdefghijklmn"


@dataclass(frozen=True)
class Persona:
    key: str
    title: str
    code: str | None  # a staff record of the example org; None: a resident
    tg_id: int
    latitude: float = 35.6726
    longitude: float = 117.2626


PERSONAS = (
    Persona("resident", "居民 张三", None, 10001),
    Persona("grid", "网格员（泗河社区）", "grid-shjd-1", 10002),
    Persona("unit", "城管局工作人员", "staff-cg-1", 10003),
    Persona("leader", "城管局负责人", "staff-cg-leader", 10004),
    Persona("dispatcher", "县受理中心分派员", "staff-dispatch-1", 10005),
    Persona("callback", "回访员", "staff-callback-1", 10006),
    Persona("representative", "人大代表", "rep-1", 10007),
    Persona("organiser", "红帆驿站组织员", "org-shjd-01", 10008),
    Persona("volunteer", "红色代办志愿者", "vol-1", 10009),
    Persona("town", "泗河街道工作人员", "staff-shjd-1", 10010),
    Persona("block_head", "楼栋长（替人点单）", "head-shjd-01", 10011),
)


class SandboxClock(Clock):
    """System time plus an offset the page moves forward (kept in the sandbox database)."""

    def __init__(self) -> None:
        self.offset = dt.timedelta(0)
        self._system = SystemClock()

    def now(self) -> dt.datetime:
        return self._system.now() + self.offset

    def advance(self, delta: dt.timedelta) -> None:
        self.offset += delta


def sandbox_config(port: int, db: Path) -> Config:
    return Config.model_validate({
        "telegram": {"token": TOKEN, "api_base": f"http://127.0.0.1:{port}",
                     "username": "minyi_sandbox_bot"},
        "database": {"url": f"sqlite+aiosqlite:///{db}"},
    })


# The page's own state, beside the bot's tables in the sandbox's SQLite file: the chats as
# the emulator holds them, their files, the clock offset and the per-chat command lists, so
# a restart shows the same page at the same simulated time (ticket numbers never run back).
SANDBOX_TABLES = (
    "CREATE TABLE IF NOT EXISTS sandbox_messages (chat_id INTEGER NOT NULL, "
    "message_id INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (chat_id, message_id))",
    "CREATE TABLE IF NOT EXISTS sandbox_files (file_id TEXT PRIMARY KEY, name TEXT NOT NULL, "
    "content_type TEXT NOT NULL, data BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS sandbox_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)


class SandboxStore:
    """Writes what changed every half second (and at stop) through the app's engine."""

    def __init__(self, app: App, emulator: Emulator, clock: SandboxClock) -> None:
        self.engine, self.emu, self.clock = app.engine, emulator, clock
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.files: set[str] = set()
        self._stop = asyncio.Event()
        self._lock = asyncio.Lock()  # one write at a time (the loop, a clock move, the stop)
        self._task: asyncio.Task[None] | None = None

    async def load(self) -> None:
        async with self.engine.begin() as conn:
            for ddl in SANDBOX_TABLES:
                await conn.execute(sa.text(ddl))
            rows = await conn.execute(sa.text(
                "SELECT chat_id, body FROM sandbox_messages ORDER BY message_id"))
            chats: dict[int, list[dict[str, Any]]] = {}
            for chat_id, body in rows:
                chats.setdefault(int(chat_id), []).append(json.loads(body))
            files = await conn.execute(sa.text(
                "SELECT file_id, name, content_type, data FROM sandbox_files"))
            for file_id, name, content_type, data in files:
                self.emu.files[file_id] = bytes(data)
                self.emu.file_meta[file_id] = (name, content_type)
            state = dict((await conn.execute(sa.text(
                "SELECT key, value FROM sandbox_state"))).tuples().all())
        self.emu.restore(chats)
        self.clock.offset = dt.timedelta(seconds=float(state.get("clock_offset", 0)))
        self.emu.chat_commands.update(
            {int(k): v for k, v in json.loads(state.get("chat_commands", "{}")).items()})
        self.emu.on_message = lambda chat_id, m: self.messages.__setitem__(
            (chat_id, m["message_id"]), m)
        self.emu.on_file = lambda file_id: self.files.add(file_id)  # the set is swapped
        self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        """Never cancelled in the middle of a write: a stop ends the wait, not the flush."""
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 0.5)
            try:
                await self.flush()
            except Exception:  # a busy database: the next round writes it
                log.exception("saving the sandbox page's state failed")

    async def flush(self) -> None:
        async with self._lock:
            messages, self.messages = self.messages, {}
            files, self.files = self.files, set()
            try:
                await self._write(messages, files)
            except BaseException:  # not written: keep it for the next round
                self.messages = {**messages, **self.messages}
                self.files |= files
                raise

    async def _write(self, messages: dict[tuple[int, int], dict[str, Any]],
                     files: set[str]) -> None:
        commands = {str(k): v for k, v in self.emu.chat_commands.items()}
        async with self.engine.begin() as conn:
            for (chat_id, message_id), m in messages.items():
                await conn.execute(sa.text(
                    "INSERT OR REPLACE INTO sandbox_messages VALUES (:c, :m, :b)"),
                    {"c": chat_id, "m": message_id, "b": json.dumps(m, ensure_ascii=False)})
            for file_id in files:
                name, content_type = self.emu.file_meta[file_id]
                await conn.execute(sa.text(
                    "INSERT OR REPLACE INTO sandbox_files VALUES (:f, :n, :t, :d)"),
                    {"f": file_id, "n": name, "t": content_type, "d": self.emu.files[file_id]})
            for key, value in (("clock_offset", str(self.clock.offset.total_seconds())),
                               ("chat_commands", json.dumps(commands, ensure_ascii=False))):
                await conn.execute(sa.text(
                    "INSERT OR REPLACE INTO sandbox_state VALUES (:k, :v)"),
                    {"k": key, "v": value})

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task  # its last round writes everything
        await self.flush()


async def seed(app: App) -> None:
    """The example county, with the personas' Telegram ids bound to their staff records."""
    async with app.sessionmaker() as session:
        if await session.scalar(sa.select(sa.func.count()).select_from(Person)) == 0:
            await import_org(session, EXAMPLE_ORG.read_text(encoding="utf-8"), app.ctx.clock)
        if await session.scalar(sa.select(sa.func.count()).select_from(Matter)) == 0:
            await import_org(session, EXAMPLE_CATALOGUE.read_text(encoding="utf-8"),
                             app.ctx.clock)
        for persona in PERSONAS:
            if persona.code is None:
                continue
            person = await session.scalar(sa.select(Person).where(Person.code == persona.code))
            if person is not None and person.tg_user_id != persona.tg_id:
                person.tg_user_id = persona.tg_id
        await session.commit()


async def persona_commands(app: App) -> None:
    """Each staff persona's "/" list, as /start would set it (the page shows it at once)."""
    async with app.sessionmaker() as session:
        for persona in PERSONAS:
            person = await session.scalar(sa.select(Person).where(
                Person.tg_user_id == persona.tg_id))
            if person is not None and menus.is_staff(person):
                await menus.set_commands(app.bot, person)


class SandboxWeb:
    def __init__(self, emulator: Emulator, app: App, clock: SandboxClock,
                 store: SandboxStore) -> None:
        self.emu, self.app, self.clock, self.store = emulator, app, clock, store
        for persona in PERSONAS:
            emulator.user(persona.tg_id, persona.title)

    def routes(self, web_app: web.Application) -> None:
        r = web_app.router
        r.add_get("/", self.page)
        r.add_get("/api/personas", self.personas)
        r.add_get("/api/chat/{user_id}", self.chat)
        r.add_post("/api/send", self.send)
        r.add_post("/api/press", self.press)
        r.add_get("/api/clock", self.get_clock)
        r.add_post("/api/clock", self.move_clock)
        r.add_get("/api/file/{file_id}", self.file)

    async def page(self, _request: web.Request) -> web.Response:
        return web.Response(text=PAGE.read_text(encoding="utf-8"), content_type="text/html")

    async def personas(self, _request: web.Request) -> web.Response:
        return web.json_response([p.__dict__ for p in PERSONAS])

    async def chat(self, request: web.Request) -> web.Response:
        """The chat, the alerts (answerCallbackQuery texts) after `alerts_after` for this
        user only, and the "/" command list Telegram would show in this chat."""
        user_id = int(request.match_info["user_id"])
        since = int(request.query.get("since", "0"))
        after = int(request.query.get("alerts_after", "0"))
        alerts = [{"n": a["n"], "text": a["text"]} for a in self.emu.alerts
                  if a["n"] > after and a.get("text") and a["user_id"] == user_id]
        commands = self.emu.chat_commands.get(user_id, self.emu.commands)
        return web.json_response({"messages": self.emu.messages(user_id, since),
                                  "alerts": alerts, "alerts_seen": len(self.emu.alerts),
                                  "commands": commands})

    async def send(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        user_id = int(body["user_id"])
        try:
            if "photo" in body:
                data = base64.b64decode(body["photo"].split(",", 1)[-1])
                await self.emu.send_photo(user_id, data, body.get("caption", ""))
            elif "latitude" in body:
                await self.emu.send_location(user_id, float(body["latitude"]),
                                             float(body["longitude"]))
            elif "phone" in body:
                await self.emu.send_contact(user_id, str(body["phone"]))
            else:
                await self.emu.send_text(user_id, str(body.get("text", "")))
        except (ValueError, KeyError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"ok": True})

    async def press(self, request: web.Request) -> web.Response:
        body = await request.json()
        try:
            await self.emu.press(int(body["user_id"]), int(body["message_id"]),
                                 str(body["data"]))
        except ApiError as exc:
            return web.json_response({"error": exc.description}, status=400)
        return web.json_response({"ok": True})

    async def get_clock(self, _request: web.Request) -> web.Response:
        return web.json_response({"now": self.clock.now().astimezone(
            self.app.ctx.calendar.tz).strftime("%Y-%m-%d %H:%M")})

    async def move_clock(self, request: web.Request) -> web.Response:
        """+1 working day, or to the next 09:00; then the sweeps and the digest run."""
        action = (await request.json()).get("action")
        cal, tz = self.app.ctx.calendar, self.app.ctx.calendar.tz
        now = self.clock.now().astimezone(tz)
        if action == "workday":
            target = dt.datetime.combine(cal.next_workday(now.date()), now.timetz())
        elif action == "nine":
            day = now.date() if now.time() < dt.time(9) else now.date() + dt.timedelta(days=1)
            target = dt.datetime.combine(day, dt.time(9), tzinfo=tz)
        else:
            return web.json_response({"error": "action: workday | nine"}, status=400)
        self.clock.advance(target - now)
        await self.store.flush()  # a restart keeps the moved clock
        await sweeps.run_sweeps(self.app.sessionmaker, self.app.ctx)
        await sweeps.daily_digest(self.app.sessionmaker, self.app.ctx)
        return await self.get_clock(request)

    async def file(self, request: web.Request) -> web.Response:
        """A photo inline; a document as a download with its own name and type."""
        file_id = request.match_info["file_id"]
        data = self.emu.files.get(file_id)
        if data is None:
            raise web.HTTPNotFound()
        name, content_type = self.emu.file_meta.get(file_id, ("file", "application/octet-stream"))
        disposition = "inline" if content_type.startswith("image/") else "attachment"
        return web.Response(body=data, content_type=content_type, headers={
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(name)}"})


def local_only(port: int) -> Any:
    """The page's JSON API answers only the page itself: Host must be this loopback
    address (a DNS-rebinding site has its own name in Host) and a POST must come with the
    page's Origin (another site's form or fetch carries its own, or none)."""
    hosts = {f"{name}:{port}" for name in ("127.0.0.1", "localhost", "[::1]")}
    origins = {f"http://{host}" for host in hosts}

    @web.middleware
    async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith("/api/"):
            origin = request.headers.get("Origin")
            if request.host not in hosts or (origin is not None and origin not in origins):
                raise web.HTTPForbidden(text="sandbox API: local page only")
            if request.method != "GET" and origin is None:
                raise web.HTTPForbidden(text="sandbox API: Origin header required")
        return await handler(request)

    return guard


async def run_sandbox(port: int = 8080, db: Path = Path("sandbox.db"),
                      stop: asyncio.Event | None = None,
                      ready: asyncio.Event | None = None) -> None:
    """Serve until Ctrl-C (or `stop`); prints the URL when ready."""
    emulator = Emulator()
    clock = SandboxClock()
    web_app = web.Application(client_max_size=20 * 1024 * 1024,
                              middlewares=[local_only(port)])
    emulator.routes(web_app)
    runner = web.AppRunner(web_app, access_log=None, shutdown_timeout=1.0)
    config = sandbox_config(port, db)
    app = await build_app(config, clock=clock)
    store = SandboxStore(app, emulator, clock)
    await store.load()
    await seed(app)
    SandboxWeb(emulator, app, clock, store).routes(web_app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await persona_commands(app)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    polling = asyncio.create_task(app.dp.start_polling(
        app.bot, handle_signals=False, close_bot_session=False,
        allowed_updates=app.dp.resolve_used_update_types()))
    print(f"民意快车 sandbox: http://127.0.0.1:{port}/  (Ctrl-C to stop; data in {db})",
          flush=True)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        with contextlib.suppress(Exception):
            await app.dp.stop_polling()
        await emulator.wake()  # the bot's last getUpdates must not hold the stop
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(polling, 2)
        await store.close()
        await close_app(app)
        await runner.cleanup()
        await emulator.stop()
