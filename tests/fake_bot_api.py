"""A Bot API peer on loopback for the runner and outbox tests.

It answers the methods the runners and the outbox sender call, queues updates for
getUpdates and records every call. For the sender's tests it can enforce Telegram's
rate limits (429 with retry_after), refuse blocked chats (403) or unknown ones (400), and
inject faults on a schedule: 429, 5xx, a timeout (the request is answered too late and
not delivered), or latency. (The full emulator is the sandbox issue's job.)
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web

BOT_USER = {"id": 42, "is_bot": True, "first_name": "民意快车", "username": "minyi_test_bot"}


SEND_METHODS = frozenset({"sendMessage", "sendPhoto", "sendMediaGroup"})


class FakeBotApi:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        # Fault injection: the n-th send call (1-based) -> ("429", secs) | ("500",) |
        # ("timeout", secs) | ("latency", secs)
        self.faults: dict[int, tuple[Any, ...]] = {}
        self.send_calls = 0
        self.blocked: set[int] = set()
        self.missing: set[int] = set()
        self.enforce_limits = False
        self.global_per_second = 30
        self.per_chat_seconds = 0.9  # Telegram: about one message per second per chat
        self.delivered: list[tuple[str, int, str]] = []  # method, chat, text/caption
        self.too_many = 0  # 429s caused by the client going too fast
        self._recent: list[float] = []
        self._chat_last: dict[int, float] = {}
        self.updates: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.sent = asyncio.Event()
        self._update_id = 0
        self._message_id = 0
        self.fail_methods: set[str] = set()
        self.runner: web.AppRunner | None = None
        self.base = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://127.0.0.1:{port}"
        return self.base

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()

    def user_message(self, user_id: int, text: str) -> dict[str, Any]:
        self._update_id += 1
        self._message_id += 1
        return {"update_id": self._update_id, "message": {
            "message_id": self._message_id, "date": int(time.time()), "text": text,
            "chat": {"id": user_id, "type": "private", "first_name": "居民"},
            "from": {"id": user_id, "is_bot": False, "first_name": "居民"},
            "entities": ([{"type": "bot_command", "offset": 0, "length": len(text)}]
                         if text.startswith("/") else []),
        }}

    def methods(self) -> list[str]:
        return [m for m, _ in self.calls]

    def messages_to(self, chat_id: int) -> list[str]:
        return [p["text"] for m, p in self.calls
                if m == "sendMessage" and int(p["chat_id"]) == chat_id]

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        self.calls.append((method, params))
        if method in self.fail_methods:
            return _error(500, "Internal Server Error")
        if method in SEND_METHODS:
            refused = await self._refuse(method, params)
            if refused is not None:
                return refused
        result: Any = True
        if method == "getMe":
            result = BOT_USER
        elif method == "getUpdates":
            result = await self._get_updates(params)
        elif method in SEND_METHODS:
            chat_id = int(params["chat_id"])
            text = params.get("text") or params.get("caption") or ""
            self.delivered.append((method, chat_id, text))
            result = self._message(chat_id, text)
            if method == "sendMediaGroup":
                result = [self._message(chat_id, "") for _ in json.loads(params["media"])]
            self.sent.set()
        return web.json_response({"ok": True, "result": result})

    def _message(self, chat_id: int, text: str) -> dict[str, Any]:
        self._message_id += 1
        message: dict[str, Any] = {"message_id": self._message_id, "date": int(time.time()),
                                   "chat": {"id": chat_id, "type": "private"},
                                   "from": BOT_USER}
        if text:
            message["text"] = text
        return message

    async def _refuse(self, method: str, params: dict[str, str]) -> web.Response | None:
        """Scheduled faults first, then Telegram's own rules."""
        self.send_calls += 1
        fault = self.faults.get(self.send_calls)
        chat_id = int(params["chat_id"])
        if fault is not None:
            kind = fault[0]
            if kind == "429":
                return _error(429, f"Too Many Requests: retry after {fault[1]}",
                              parameters={"retry_after": fault[1]})
            if kind in ("500", "502"):
                return _error(int(kind), "Internal Server Error" if kind == "500"
                              else "Bad Gateway")
            if kind == "timeout":
                await asyncio.sleep(fault[1])  # the client has given up by now
                return _error(500, "Internal Server Error")
            if kind == "latency":
                await asyncio.sleep(fault[1])
        if chat_id in self.blocked:
            return _error(403, "Forbidden: bot was blocked by the user")
        if chat_id in self.missing:
            return _error(400, "Bad Request: chat not found")
        if self.enforce_limits:
            now = time.monotonic()
            self._recent = [t for t in self._recent if t > now - 1.0]
            last = self._chat_last.get(chat_id)
            if len(self._recent) >= self.global_per_second or (
                    last is not None and now - last < self.per_chat_seconds):
                self.too_many += 1
                return _error(429, "Too Many Requests: retry after 1",
                              parameters={"retry_after": 1})
            self._recent.append(now)
            self._chat_last[chat_id] = now
        return None

    async def _get_updates(self, params: dict[str, str]) -> list[dict[str, Any]]:
        timeout = float(params.get("timeout", 0) or 0)
        try:
            first = await asyncio.wait_for(self.updates.get(), timeout=min(timeout, 1.0))
        except TimeoutError:
            return []
        batch = [first]
        while not self.updates.empty():
            batch.append(self.updates.get_nowait())
        offset = int(params.get("offset", 0) or 0)
        return [u for u in batch if u["update_id"] >= offset]


def _error(code: int, description: str, **extra: Any) -> web.Response:
    return web.json_response({"ok": False, "error_code": code, "description": description,
                              **extra}, status=code)


def dumps(update: dict[str, Any]) -> str:
    return json.dumps(update, ensure_ascii=False)
