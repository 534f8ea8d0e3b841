"""A local Telegram Bot API for the sandbox and the end-to-end tests (127.0.0.1 only).

It speaks the Bot API as aiogram calls it (getMe, getUpdates with offset/timeout,
setWebhook/deleteWebhook with delivery by POST and the secret header, sendMessage,
sendPhoto, sendDocument, sendLocation, sendMediaGroup, editMessageText,
editMessageReplyMarkup, answerCallbackQuery, setMyCommands, getFile) and a control API to
act as users and read what the bot sent. It enforces the rules that bite in production:
text ≤ 4,096 characters (captions ≤ 1,024), callback data ≤ 64 bytes, valid HTML parse
mode, ~30 messages/s per bot and ~1/s per chat (short bursts allowed, then 429 with
retry_after), "message is not modified", a button press answered after 15 s ("query
is too old"), 403 for a chat that blocked the bot.

It is also the tests' one Telegram double. Faults are injected by rate (429, 5xx,
latency), on a schedule for the n-th send call (429, 5xx, an HTML 502 from a proxy, a
401, a timeout, latency), for a revoked token, or for file ids (`bad_files`); and every
request Telegram would refuse as malformed (bad HTML, too long, callback data, an unknown
method or message) is recorded in `violations` as well as answered with its error, so a
test fails on it even when the code under test catches the error (tests/conftest.py
checks at teardown).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import mimetypes
import random
import re
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import aiohttp
from aiohttp import web

log = logging.getLogger(__name__)
BOT_ID = 7000000001
TEXT_LIMIT, CAPTION_LIMIT, CALLBACK_LIMIT = 4096, 1024, 64
HTML_TAGS = frozenset({"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code",
                       "pre", "tg-spoiler", "span", "blockquote", "tg-emoji"})
SEND = frozenset({"sendMessage", "sendPhoto", "sendDocument", "sendLocation",
                  "sendMediaGroup"})


class ApiError(Exception):
    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.retry_after = code, description, retry_after


class _HtmlCheck(HTMLParser):
    """Telegram's HTML: only its tags, balanced; entities must be known."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.error = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in HTML_TAGS:
            self.error = self.error or f"unsupported start tag \"{tag}\""
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.error = self.error or f"unexpected end tag \"{tag}\""

    def handle_entityref(self, name: str) -> None:
        if name not in ("lt", "gt", "amp", "quot"):
            self.error = self.error or f"unsupported entity \"&{name};\""


_BARE_LT = re.compile(r"<(?![a-zA-Z/])")
_BARE_AMP = re.compile(r"&(?!(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);)")


def check_html(text: str) -> None:
    if _BARE_LT.search(text):
        raise ApiError(400, "Bad Request: can't parse entities: unexpected \"<\"")
    if _BARE_AMP.search(text):
        raise ApiError(400, "Bad Request: can't parse entities: unexpected \"&\"")
    parser = _HtmlCheck()
    parser.feed(text)
    parser.close()
    if parser.stack and not parser.error:
        parser.error = f"unclosed tag \"{parser.stack[-1]}\""
    if parser.error:
        raise ApiError(400, f"Bad Request: can't parse entities: {parser.error}")


@dataclass
class Faults:
    """Injected failures for send methods: each a probability per call, or a schedule.

    `schedule` maps the n-th send call (1-based) to ("429", secs) | ("500",) | ("502",) |
    ("502html",) (a proxy's HTML page, not JSON) | ("401",) | ("timeout", secs) (answered
    too late and not delivered) | ("latency", secs).
    `methods` answer 500 whatever is asked; `revoked` answers 401 to everything (the
    token was revoked in @BotFather).
    """

    rate_429: float = 0.0
    rate_500: float = 0.0
    latency: float = 0.0  # seconds added to every call
    rng: random.Random = field(default_factory=lambda: random.Random(20261128))
    schedule: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    methods: set[str] = field(default_factory=set)
    revoked: bool = False


class _RawResponse(Exception):
    """A scheduled fault answered with a non-JSON body (a proxy's error page)."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(body)
        self.status, self.body = status, body


@dataclass
class Limits:
    per_second: int = 30
    chat_burst: int = 6
    chat_per_second: float = 1.0
    # A button press must be answered within this many seconds; later, answerCallbackQuery
    # is refused as "query is too old" (Telegram's own window is not published: some
    # 10-20 s).
    query_seconds: float = 15.0


class Emulator:
    def __init__(self, *, username: str = "minyi_sandbox_bot", limits: Limits | None = None,
                 any_chat: bool = False, enforce_limits: bool = True) -> None:
        self.username = username
        self.bot_id = BOT_ID
        self.limits = limits or Limits()
        # any_chat: every chat id is a chat (the sender's tests); else only users it knows.
        self.any_chat = any_chat
        self.enforce_limits = enforce_limits
        self.missing: set[int] = set()  # chats that answer "chat not found"
        self.bad_files: set[str] = set()  # file ids refused (expired, from another bot)
        self.violations: list[str] = []
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.delivered: list[tuple[str, int, str]] = []  # method, chat, text or caption
        self.send_calls = 0
        self.sent = asyncio.Event()
        self.faults = Faults()
        self.chats: dict[int, list[dict[str, Any]]] = {}
        self.users: dict[int, dict[str, Any]] = {}
        self.blocked: set[int] = set()
        self.files: dict[str, bytes] = {}
        self.file_meta: dict[str, tuple[str, str]] = {}  # file_id -> (name, content type)
        self.file_names: dict[str, str] = {}  # upload field -> its file name
        self.updates: list[dict[str, Any]] = []
        self.alerts: list[dict[str, Any]] = []
        self._query_users: dict[str, int] = {}
        self._query_times: dict[str, float] = {}
        self.commands: list[dict[str, Any]] = []  # the default scope
        self.chat_commands: dict[int, list[dict[str, Any]]] = {}  # BotCommandScopeChat
        # Called with (chat_id, message) whenever a message is stored or edited, and with
        # (file_id) for a new file: the sandbox keeps both in its database.
        self.on_message: Callable[[int, dict[str, Any]], None] | None = None
        self.on_file: Callable[[str], None] | None = None
        self.webhook: dict[str, str] = {}
        self.calls: list[str] = []
        self.too_many = 0
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._new_update = asyncio.Condition()
        self._recent: deque[float] = deque()
        self._buckets: dict[int, tuple[float, float]] = {}
        self._delivery: asyncio.Task[None] | None = None
        self._delivered_up_to = 0
        self.runner: web.AppRunner | None = None
        self.base = ""
        self.closing = False  # set at stop: a waiting getUpdates answers at once
        self.waiting_polls = 0  # getUpdates calls held open now (tests wait on this)

    # -- server --------------------------------------------------------------------------
    def routes(self, app: web.Application) -> None:
        app.router.add_post("/bot{token}/{method}", self.handle)
        app.router.add_get("/file/bot{token}/{path:.*}", self.serve_file)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        app = web.Application(client_max_size=20 * 1024 * 1024)
        self.routes(app)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://{host}:{port}"
        return self.base

    async def wake(self) -> None:
        """Answer every waiting long poll now: a server shutting down waits for its open
        requests, and a getUpdates would otherwise hold the stop for its whole timeout."""
        self.closing = True
        async with self._new_update:
            self._new_update.notify_all()

    async def stop(self) -> None:
        await self.wake()
        if self._delivery:
            self._delivery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._delivery
        if self.runner:
            await self.runner.cleanup()

    # -- acting as users (control API) ---------------------------------------------------
    def user(self, user_id: int, name: str = "用户") -> dict[str, Any]:
        return self.users.setdefault(user_id, {"id": user_id, "is_bot": False,
                                               "first_name": name, "language_code": "zh-hans"})

    def update_for(self, user_id: int, text: str) -> dict[str, Any]:
        """An update carrying a text message, not queued (to POST to a webhook by hand)."""
        return {"update_id": next(self._update_ids),
                "message": self._user_message(user_id, **self._text_content(text))}

    @staticmethod
    def _text_content(text: str) -> dict[str, Any]:
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            content["entities"] = [{"type": "bot_command", "offset": 0,
                                    "length": len(text.split()[0])}]
        return content

    def _user_message(self, user_id: int, **content: Any) -> dict[str, Any]:
        user = self.user(user_id)
        message = {"message_id": next(self._message_ids), "date": int(time.time()),
                   "chat": {"id": user_id, "type": "private",
                            "first_name": user["first_name"]},
                   "from": user, **content}
        self._keep(user_id, {**message, "side": "user"})
        return message

    async def send_text(self, user_id: int, text: str) -> dict[str, Any]:
        return await self._push({"message": self._user_message(user_id,
                                                                **self._text_content(text))})

    async def send_photo(self, user_id: int, data: bytes, caption: str = "") -> dict[str, Any]:
        file_id = self.add_file(data, "photo")
        content: dict[str, Any] = {"photo": [{"file_id": file_id, "file_unique_id": file_id,
                                              "width": 800, "height": 600,
                                              "file_size": len(data)}]}
        if caption:
            content["caption"] = caption
        return await self._push({"message": self._user_message(user_id, **content)})

    async def send_location(self, user_id: int, latitude: float,
                            longitude: float) -> dict[str, Any]:
        return await self._push({"message": self._user_message(
            user_id, location={"latitude": latitude, "longitude": longitude})})

    async def send_contact(self, user_id: int, phone: str) -> dict[str, Any]:
        user = self.user(user_id)
        return await self._push({"message": self._user_message(
            user_id, contact={"phone_number": phone, "first_name": user["first_name"],
                              "user_id": user_id})})

    async def press(self, user_id: int, message_id: int, data: str) -> dict[str, Any]:
        message = self._find(user_id, message_id)
        buttons = [b.get("callback_data") for row in
                   (message.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]
        if data not in buttons:
            raise ApiError(400, "Bad Request: no such button on that message")
        public = self._public(message)
        query_id = f"{next(self._update_ids)}q"
        self._query_users[query_id] = user_id
        self._query_times[query_id] = time.monotonic()
        query = {"id": query_id, "from": self.user(user_id),
                 "chat_instance": str(user_id), "data": data, "message": public}
        return await self._push({"callback_query": query})

    def messages(self, user_id: int, since: int = 0) -> list[dict[str, Any]]:
        return [m for m in self.chats.get(user_id, []) if m["message_id"] > since]

    def methods(self) -> list[str]:
        return list(self.calls)

    def bot_texts(self, user_id: int) -> list[str]:
        return [m.get("text") or m.get("caption") or "" for m in self.chats.get(user_id, [])
                if m["side"] == "bot"]

    async def _push(self, payload: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), **payload}
        async with self._new_update:
            self.updates.append(update)
            self._new_update.notify_all()
        return update

    # -- Bot API ---------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        token_id = request.match_info["token"].split(":", 1)[0]
        if token_id.isdigit():
            self.bot_id = int(token_id)
        params: dict[str, Any] = {}
        uploads: dict[str, bytes] = {}
        if request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, str):
                    params[key] = value
                else:
                    uploads[key] = value.file.read()
                    self.file_names[key] = value.filename
        elif request.can_read_body:
            params = await request.json()
        self.calls.append(method)
        self.requests.append((method, params))
        try:
            if self.faults.latency:
                await asyncio.sleep(self.faults.latency)
            if self.faults.revoked:
                raise ApiError(401, "Unauthorized")
            if method in self.faults.methods:
                raise ApiError(500, "Internal Server Error")
            if method in SEND:
                await self._scheduled_fault(method)
            result = await self.call(method, params, uploads)
        except _RawResponse as exc:
            return web.Response(status=exc.status, text=exc.body, content_type="text/html")
        except ApiError as exc:
            body: dict[str, Any] = {"ok": False, "error_code": exc.code,
                                    "description": exc.description}
            if exc.retry_after is not None:
                body["parameters"] = {"retry_after": exc.retry_after}
            return web.json_response(body, status=exc.code)
        return web.json_response({"ok": True, "result": result})

    async def _scheduled_fault(self, method: str) -> None:
        self.send_calls += 1
        fault = self.faults.schedule.get(self.send_calls)
        if fault is None:
            return
        kind = fault[0]
        if kind == "429":
            raise ApiError(429, f"Too Many Requests: retry after {fault[1]}",
                           retry_after=fault[1])
        if kind in ("500", "502"):
            raise ApiError(int(kind), "Internal Server Error" if kind == "500"
                           else "Bad Gateway")
        if kind == "502html":
            raise _RawResponse(502, "<html><head><title>502 Bad Gateway</title></head>"
                                    "<body><center><h1>502 Bad Gateway</h1></center>"
                                    "<hr><center>nginx</center></body></html>")
        if kind == "401":
            raise ApiError(401, "Unauthorized")
        if kind == "timeout":
            await asyncio.sleep(fault[1])  # the client has given up by now
            raise ApiError(500, "Internal Server Error")
        if kind == "latency":
            await asyncio.sleep(fault[1])

    def problems(self) -> list[str]:
        """What a test must fail on (tests/conftest.py checks it at teardown)."""
        return list(self.violations)

    def _violation(self, description: str, code: int = 400) -> ApiError:
        """A request Telegram refuses as malformed: answered, and recorded for the test."""
        self.violations.append(description)
        return ApiError(code, description)

    async def call(self, method: str, p: dict[str, Any], uploads: dict[str, bytes]) -> Any:
        if method == "getMe":
            return self._bot_user()
        if method == "getUpdates":
            if self.webhook:
                raise ApiError(409, "Conflict: can't use getUpdates method while webhook "
                                    "is active; use deleteWebhook to delete the webhook first")
            return await self._get_updates(int(p.get("offset", 0) or 0),
                                           float(p.get("timeout", 0) or 0))
        if method == "setWebhook":
            self.webhook = {"url": p["url"], "secret": p.get("secret_token", "")}
            if self._delivery is None or self._delivery.done():
                self._delivery = asyncio.create_task(self._deliver_webhook())
            return True
        if method == "deleteWebhook":
            self.webhook = {}
            return True
        if method == "getWebhookInfo":
            return {"url": self.webhook.get("url", ""), "has_custom_certificate": False,
                    "pending_update_count": 0}
        if method in ("setMyCommands", "deleteMyCommands"):
            commands = p.get("commands", [])
            commands = json.loads(commands) if isinstance(commands, str) else commands
            scope = p.get("scope") or {}
            scope = json.loads(scope) if isinstance(scope, str) else scope
            if scope.get("type") == "chat":
                self.chat_commands[int(scope["chat_id"])] = commands
            else:
                self.commands = commands
            return True
        if method == "answerCallbackQuery":
            query_id = p.get("callback_query_id", "")
            if (time.monotonic() - self._query_times.get(query_id, time.monotonic())
                    > self.limits.query_seconds):
                raise ApiError(400, "Bad Request: query is too old and response timeout "
                                    "expired or query ID is invalid")
            self.alerts.append({"n": len(self.alerts) + 1, "id": query_id,
                                "user_id": self._query_users.get(query_id),
                                "text": p.get("text", ""),
                                "show_alert": p.get("show_alert") in ("true", True)})
            return True
        if method == "getFile":
            file_id = p.get("file_id", "")
            if file_id not in self.files:
                raise ApiError(400, "Bad Request: invalid file_id")
            return {"file_id": file_id, "file_unique_id": file_id,
                    "file_size": len(self.files[file_id]), "file_path": f"photos/{file_id}"}
        if method in ("editMessageText", "editMessageReplyMarkup"):
            return self._edit(method, p)
        if method in SEND:
            result = self._send(method, p, uploads)
            first = result[0] if isinstance(result, list) else result  # an album: one call
            self.delivered.append((method, first["chat"]["id"],
                                   first.get("text") or first.get("caption") or ""))
            self.sent.set()
            return result
        raise self._violation(f"Not Found: method {method} not found", 404)

    def _bot_user(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": "民意快车",
                "username": self.username, "can_join_groups": False,
                "can_read_all_group_messages": False, "supports_inline_queries": False}

    async def _get_updates(self, offset: int, timeout: float) -> list[dict[str, Any]]:
        if offset:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        if not self.updates and timeout and not self.closing:
            async with self._new_update:
                self.waiting_polls += 1
                try:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._new_update.wait(),
                                               timeout=min(timeout, 25))
                finally:
                    self.waiting_polls -= 1
        return list(self.updates[:100])

    async def _deliver_webhook(self) -> None:
        """Updates are POSTed to the webhook with the secret header, in order, retried."""
        async with aiohttp.ClientSession() as http:
            # `closing` ends the loop even when the wake-up swallows the task's cancellation
            # (asyncio.wait_for on 3.11 returns the result if both happen in one tick).
            while self.webhook and not self.closing:
                async with self._new_update:
                    if not self.updates:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._new_update.wait(), timeout=1)
                if not self.updates or not self.webhook:
                    continue
                update = self.updates[0]
                headers = {"X-Telegram-Bot-Api-Secret-Token": self.webhook.get("secret", "")}
                try:
                    async with http.post(self.webhook["url"], json=update,
                                         headers=headers) as resp:
                        if resp.status < 300:
                            self.updates.pop(0)
                            continue
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)

    # -- sending and editing -----------------------------------------------------------------
    def _chat(self, p: dict[str, Any]) -> int:
        try:
            chat_id = int(p["chat_id"])
        except (KeyError, ValueError) as exc:
            raise ApiError(400, "Bad Request: chat not found") from exc
        if chat_id in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if chat_id in self.missing or (not self.any_chat and chat_id not in self.users
                                       and chat_id not in self.chats):
            raise ApiError(400, "Bad Request: chat not found")
        return chat_id

    def _limit(self, chat_id: int) -> None:
        if not self.enforce_limits:
            return
        now = time.monotonic()
        while self._recent and self._recent[0] <= now - 1.0:
            self._recent.popleft()
        tokens, last = self._buckets.get(chat_id, (float(self.limits.chat_burst), now))
        tokens = min(float(self.limits.chat_burst),
                     tokens + (now - last) * self.limits.chat_per_second)
        if len(self._recent) >= self.limits.per_second or tokens < 1.0:
            self.too_many += 1
            raise ApiError(429, "Too Many Requests: retry after 1", retry_after=1)
        self._recent.append(now)
        self._buckets[chat_id] = (tokens - 1.0, now)

    def _inject(self) -> None:
        if self.faults.rate_429 and self.faults.rng.random() < self.faults.rate_429:
            raise ApiError(429, "Too Many Requests: retry after 1", retry_after=1)
        if self.faults.rate_500 and self.faults.rng.random() < self.faults.rate_500:
            raise ApiError(500, "Internal Server Error")

    def _markup(self, p: dict[str, Any]) -> dict[str, Any] | None:
        raw = p.get("reply_markup")
        if not raw:
            return None
        markup = json.loads(raw) if isinstance(raw, str) else raw
        for row in markup.get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(data.encode()) <= CALLBACK_LIMIT:
                    raise self._violation("Bad Request: BUTTON_DATA_INVALID")
        return markup

    def _text(self, p: dict[str, Any], key: str, limit: int) -> str:
        text = p.get(key) or ""
        if key == "text" and not text.strip():
            raise self._violation("Bad Request: message text is empty")
        if len(text) > limit:
            raise self._violation("Bad Request: message is too long" if key == "text"
                                  else "Bad Request: message caption is too long")
        if p.get("parse_mode") == "HTML":
            try:
                check_html(text)
            except ApiError as exc:
                raise self._violation(f"{exc.description}: {text[:200]!r}") from exc
        return text

    def _send(self, method: str, p: dict[str, Any], uploads: dict[str, bytes]) -> Any:
        chat_id = self._chat(p)
        self._inject()
        self._limit(chat_id)
        base: dict[str, Any] = {"date": int(time.time()),
                                "chat": {"id": chat_id, "type": "private"},
                                "from": self._bot_user()}
        if method == "sendMediaGroup":
            media = json.loads(p["media"])
            file_ids = [self._file(item["media"], uploads) for item in media]  # all or none
            return [self._store(chat_id, {**base, "photo": self._photo(file_id)})
                    for file_id in file_ids]
        message = dict(base)
        if method == "sendMessage":
            message["text"] = self._text(p, "text", TEXT_LIMIT)
        elif method == "sendPhoto":
            message["photo"] = self._photo(self._file(p.get("photo", ""), uploads, "photo"))
            if p.get("caption"):
                message["caption"] = self._text(p, "caption", CAPTION_LIMIT)
        elif method == "sendDocument":
            ref = p.get("document", "")
            file_id = self._file(ref, uploads, "document")
            name = self.file_meta.get(file_id, ("file", ""))[0]
            message["document"] = {"file_id": file_id, "file_unique_id": file_id,
                                   "file_name": name,
                                   "mime_type": self.file_meta.get(file_id, ("", ""))[1]}
            if p.get("caption"):
                message["caption"] = self._text(p, "caption", CAPTION_LIMIT)
        elif method == "sendLocation":
            message["location"] = {"latitude": float(p["latitude"]),
                                   "longitude": float(p["longitude"])}
        markup = self._markup(p)
        if markup is not None:
            message["reply_markup"] = markup
        return self._store(chat_id, message)

    def _file(self, ref: str, uploads: dict[str, bytes], field_name: str = "") -> str:
        if ref.startswith("attach://"):
            field_name = ref.removeprefix("attach://")
            data = uploads.get(field_name, b"")
        elif field_name and field_name in uploads:
            data = uploads[field_name]
        elif ref in self.bad_files:
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        else:
            return ref  # a file_id the bot got earlier
        return self.add_file(data, self.file_names.get(field_name, "file"))

    def add_file(self, data: bytes, name: str) -> str:
        """Store a file with its name and content type (from the name, else the bytes)."""
        file_id = "sbx-" + secrets.token_hex(8)
        content_type = mimetypes.guess_type(name)[0] or _sniff(data)
        if "." not in name:
            name += mimetypes.guess_extension(content_type) or ""
        self.files[file_id] = data
        self.file_meta[file_id] = (name, content_type)
        if self.on_file is not None:
            self.on_file(file_id)
        return file_id

    @staticmethod
    def _photo(file_id: str) -> list[dict[str, Any]]:
        return [{"file_id": file_id, "file_unique_id": file_id, "width": 800, "height": 600}]

    def _store(self, chat_id: int, message: dict[str, Any]) -> dict[str, Any]:
        message["message_id"] = next(self._message_ids)
        self._keep(chat_id, {**message, "side": "bot"})
        return self._public(message)

    def _keep(self, chat_id: int, message: dict[str, Any]) -> None:
        self.chats.setdefault(chat_id, []).append(message)
        if self.on_message is not None:
            self.on_message(chat_id, message)

    def restore(self, chats: dict[int, list[dict[str, Any]]]) -> None:
        """Chats kept from an earlier run; new messages are numbered after them."""
        self.chats = chats
        top = max((m["message_id"] for c in chats.values() for m in c), default=0)
        self._message_ids = itertools.count(top + 1)

    @staticmethod
    def _public(message: dict[str, Any]) -> dict[str, Any]:
        """As Telegram returns it: only an inline keyboard stays on a Message."""
        out = {k: v for k, v in message.items() if k != "side"}
        if "inline_keyboard" not in (out.get("reply_markup") or {}):
            out.pop("reply_markup", None)
        return out

    def _find(self, chat_id: int, message_id: int) -> dict[str, Any]:
        for message in self.chats.get(chat_id, []):
            if message["message_id"] == message_id:
                return message
        raise ApiError(400, "Bad Request: message not found")

    def _edit(self, method: str, p: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat(p)
        try:
            stored = self._find(chat_id, int(p["message_id"]))
        except ApiError as exc:
            raise self._violation("Bad Request: message to edit not found") from exc
        markup = self._markup(p)
        new = dict(stored)
        if method == "editMessageText":
            new["text"] = self._text(p, "text", TEXT_LIMIT)
        if markup is not None:
            new["reply_markup"] = markup
        else:
            new.pop("reply_markup", None)
        if new == stored:
            raise ApiError(400, "Bad Request: message is not modified: specified new message "
                                "content and reply markup are exactly the same as a current "
                                "content and reply markup of the message")
        stored.clear()
        stored.update(new)
        if self.on_message is not None:
            self.on_message(chat_id, stored)
        return self._public(new)

    async def serve_file(self, request: web.Request) -> web.Response:
        file_id = request.match_info["path"].rsplit("/", 1)[-1]
        if file_id not in self.files:
            raise web.HTTPNotFound()
        return web.Response(body=self.files[file_id], content_type="application/octet-stream")


def _sniff(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data.startswith(b"PK"):
        return "application/zip"
    return "application/octet-stream"
