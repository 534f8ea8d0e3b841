"""A minimal Bot API peer on loopback for the runner tests.

It answers the handful of methods the foundation's runners call, queues updates for
getUpdates and records every call. (The full emulator is the sandbox issue's job.)
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web

BOT_USER = {"id": 42, "is_bot": True, "first_name": "民意快车", "username": "minyi_test_bot"}


class FakeBotApi:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
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
            return web.json_response({"ok": False, "error_code": 500,
                                      "description": "Internal Server Error"}, status=500)
        result: Any = True
        if method == "getMe":
            result = BOT_USER
        elif method == "getUpdates":
            result = await self._get_updates(params)
        elif method == "sendMessage":
            self._message_id += 1
            result = {"message_id": self._message_id, "date": int(time.time()),
                      "chat": {"id": int(params["chat_id"]), "type": "private"},
                      "from": BOT_USER, "text": params["text"]}
            self.sent.set()
        return web.json_response({"ok": True, "result": result})

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


def dumps(update: dict[str, Any]) -> str:
    return json.dumps(update, ensure_ascii=False)
