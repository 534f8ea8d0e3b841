"""The outbox sender: drains `outbox` rows to Telegram within its limits.

- Pacing: at most `max_per_second` sends started per second overall and one per
  `per_chat_seconds` per chat; rows in hand are taken most urgent first (priority, then
  age), skipping chats that must wait, and more rows are claimed only when nothing in hand
  may go now.
- 429: the whole sender pauses for `retry_after` and the row goes back untouched.
  5xx (also a proxy's non-JSON error page), timeouts, network errors: retried with
  exponential backoff (1 s doubling, capped), failed after `max_attempts`. 403 / chat not
  found: blocked at once, the person flagged and the dispatchers told once. Other 400s (a
  message Telegram will never take): failed. 401 (the token was revoked): nothing more is
  sent, every row goes back untouched, and the halt is logged and recorded for
  `minyi doctor` until a sender starts with a token Telegram takes.
- Rows are claimed in the database (services.outbox.claim), so two bot processes can drain
  one outbox; a row a dead sender left in `sending` is retried after the lease. A live
  sender renews the claims it holds, so it never has a row taken from under it and sent
  twice.
- A photo Telegram refuses (400: an expired file id, a bad file) does not lose the text:
  the text and its buttons are sent alone, saying the photos could not be attached.
- With Redis (several replicas) the per-chat slot and the overall budget per second are
  taken in Redis before each send (bot.pacing), so they hold across the replicas.
- Idle, it writes nothing and sleeps until woken (bot.wakeup: a commit that queued rows,
  NOTIFY from another replica on PostgreSQL), until the next row is due, or at most
  `idle_poll_seconds` (the safety net).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from aiogram import Bot
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import InlineKeyboardMarkup, InputMediaPhoto
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.pacing import RedisPacer
from bot.wakeup import OutboxWakeup
from handlers.staff_keyboards import card_buttons, render_keyboard
from models import OutboxMessage, Ticket, TicketState
from services import outbox
from services.clock import Clock
from services.outbox import CARDS, Keyboard, SenderLimits
from services.texts import t

log = logging.getLogger(__name__)
CAPTION_LIMIT, TEXT_LIMIT = 1024, 4096
UNREACHABLE = ("chat not found", "user not found", "bot was blocked", "user is deactivated",
               "bot can't initiate conversation", "peer_id_invalid")


def _unreachable(exc: TelegramBadRequest) -> bool:
    return any(s in exc.message.lower() for s in UNREACHABLE)


class OutboxSender:
    def __init__(self, bot: Bot, sessionmaker: async_sessionmaker[AsyncSession], clock: Clock,
                 limits: SenderLimits | None = None,
                 monotonic: Callable[[], float] = time.monotonic,
                 wakeup: OutboxWakeup | None = None, pacer: RedisPacer | None = None) -> None:
        self.bot = bot
        self.pacer = pacer
        self.wakeup = wakeup
        self.wake = wakeup.event if wakeup else asyncio.Event()
        self.next_recovery = 0.0  # when run() next re-queues claims a dead sender left
        self.sessionmaker = sessionmaker
        self.clock = clock
        self.limits = limits or SenderLimits()
        self.monotonic = monotonic
        self.in_hand: list[OutboxMessage] = []
        self.chat_free: dict[int, float] = {}
        self.next_slot = 0.0
        self.inflight: set[asyncio.Task[None]] = set()
        self.stopping = asyncio.Event()
        self.sent = 0
        self.halted = ""  # why this sender stopped sending for good (401), else ""
        self.sending: dict[int, OutboxMessage] = {}  # rows being delivered now
        self.last_renewal = monotonic()
        self.gave_up: list[tuple[int, str]] = []  # (row id, reason) given up by this sender
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        self.stopping.clear()
        self._task = asyncio.create_task(self.run(), name="outbox-sender")

    async def stop(self) -> None:
        self.stopping.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def run(self) -> None:
        """Until stopped: recover stale claims now and then, and drain."""
        if self.wakeup is not None:
            await self.wakeup.start()
        try:
            async with self.sessionmaker() as session:
                await outbox.clear_halt(session)  # a new start: try the token again
            while not self.stopping.is_set() and not self.halted:
                if self.monotonic() >= self.next_recovery:
                    await self._recover()
                    self.next_recovery = (self.monotonic()
                                          + min(60.0, self.limits.lease_seconds))
                try:
                    await self.step()
                except Exception:  # the database may blip; never let the loop die
                    log.exception("outbox sender step failed")
                    await self._sleep(self.limits.poll_seconds)
        finally:
            if self.wakeup is not None:
                await self.wakeup.stop()
            await self._finish()

    async def drain(self, timeout: float = 60.0) -> None:
        """Send everything due now, then return (tests, the sandbox and the CLI use it)."""
        async with asyncio.timeout(timeout):
            while not self.halted:
                await self.step(idle_wait=False)
                if self.halted or (not self.in_hand and not self.inflight
                                   and not await self._refill()):
                    break
        if self.halted:
            await self._finish()

    # -- one step: refill, pick, pace, send ------------------------------------------------
    async def step(self, *, idle_wait: bool = True) -> None:
        await self._renew()
        now = self.monotonic()
        row = self._pick(now)
        if row is None and len(self.in_hand) < self.limits.max_in_hand:
            self.wake.clear()  # before looking: a commit from now on wakes the idle wait
            await self._refill()
            row = self._pick(self.monotonic())
        if row is None:
            waits = [self.chat_free[r.chat_id] - now for r in self.in_hand]
            if self.inflight and not waits:
                await asyncio.wait(self.inflight, timeout=self.limits.poll_seconds,
                                   return_when=asyncio.FIRST_COMPLETED)
            elif waits:
                await self._sleep(max(0.001, min([*waits, self.limits.poll_seconds])))
            elif idle_wait:
                await self._idle()
            return
        await self._pace()
        if self.halted:
            return
        if self.pacer is not None:  # the limits shared with the other replicas
            wait = await self.pacer.reserve(row.chat_id)
            if wait > 0:
                self.chat_free[row.chat_id] = self.monotonic() + wait
                return
        self.in_hand.remove(row)
        self.sending[row.id] = row
        self.chat_free[row.chat_id] = self.monotonic() + self.limits.per_chat_seconds
        task = asyncio.create_task(self._deliver(row))
        self.inflight.add(task)
        task.add_done_callback(self.inflight.discard)

    async def _renew(self) -> None:
        """Keep the claims this sender holds fresh, well inside the lease, so no recovery
        (its own or another process's) queues them again while they wait their turn."""
        if self.monotonic() - self.last_renewal < self.limits.lease_seconds / 3:
            return
        self.last_renewal = self.monotonic()
        ids = [r.id for r in self.in_hand] + list(self.sending)
        if ids:
            async with self.sessionmaker() as session:
                await outbox.renew(session, ids, self.clock.now())

    def _pick(self, now: float) -> OutboxMessage | None:
        for row in self.in_hand:  # kept in (priority, age) order
            if self.chat_free.get(row.chat_id, 0.0) <= now:
                return row
        return None

    async def _refill(self) -> bool:
        room = self.limits.max_in_hand - len(self.in_hand)
        if room <= 0:
            return False
        async with self.sessionmaker() as session:
            rows = await outbox.claim(session, self.clock.now(),
                                      min(room, max(int(self.limits.max_per_second * 2), 10)))
        if rows:
            self.in_hand = sorted([*self.in_hand, *rows],
                                  key=lambda r: (r.priority, r.not_before, r.id))
        return bool(rows)

    async def _pace(self) -> None:
        now = self.monotonic()
        if self.next_slot > now:
            await asyncio.sleep(self.next_slot - now)
        self.next_slot = max(now, self.next_slot) + 1.0 / self.limits.max_per_second

    async def _idle(self) -> None:
        """Nothing in hand: wait for a wake-up, the next due row or the safety-net poll."""
        timeout = min(self.limits.idle_poll_seconds, self.next_recovery - self.monotonic())
        async with self.sessionmaker() as session:
            due = await outbox.next_due(session)
        if due is not None:
            timeout = min(timeout, (due - self.clock.now()).total_seconds())
        if timeout > 0 and not self.wake.is_set():
            stop = asyncio.ensure_future(self.stopping.wait())
            wake = asyncio.ensure_future(self.wake.wait())
            await asyncio.wait((stop, wake), timeout=timeout,
                               return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            wake.cancel()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)

    # -- delivering one row ----------------------------------------------------------------
    async def _deliver(self, row: OutboxMessage) -> None:
        try:
            await self._deliver_row(row)
        finally:
            self.sending.pop(row.id, None)

    async def _deliver_row(self, row: OutboxMessage) -> None:
        try:
            message_id = await self._send_parts(row)
        except TelegramRetryAfter as exc:
            # Telegram asks the whole bot to slow down: pause everything, keep the row.
            self.next_slot = max(self.next_slot, self.monotonic() + exc.retry_after)
            await self._finish_row(outbox.retry, row.id,
                                   self._at(exc.retry_after), f"429 retry_after={exc.retry_after}",
                                   count=False)
        except TelegramUnauthorizedError as exc:
            await self._halt(row, f"401 {exc.message}")
        except TelegramForbiddenError as exc:
            await self._give_up(row, f"403 {exc.message}", unreachable=True)
        except TelegramBadRequest as exc:
            await self._give_up(row, f"400 {exc.message}", unreachable=_unreachable(exc))
        except (TelegramServerError, TelegramNetworkError, ClientDecodeError, TimeoutError,
                OSError) as exc:  # ClientDecodeError: a proxy's HTML "502 Bad Gateway"
            attempt = row.attempts + 1
            if attempt >= self.limits.max_attempts:
                await self._give_up(row, f"{type(exc).__name__}: {exc}", unreachable=False)
            else:
                delay = min(self.limits.backoff_cap_seconds, 2.0 ** (attempt - 1))
                await self._finish_row(outbox.retry, row.id, self._at(delay),
                                       f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # a bug must not loop forever on one row
            log.exception("outbox row %s: unexpected error", row.id)
            await self._give_up(row, f"{type(exc).__name__}: {exc}", unreachable=False)
        else:
            self.sent += 1
            await self._finish_row(outbox.sent, row.id, self.clock.now(), message_id)

    async def _send_parts(self, row: OutboxMessage) -> int | None:
        """Photos and text; a retry resumes after the parts already sent. Photos Telegram
        refuses for good do not stop the text and its buttons."""
        spec = row.keyboard or {}
        if spec.get("kind") == Keyboard.EDIT:  # a card already sent: the buttons of now
            args = spec.get("args") or {}
            card = args.get("card")
            if card in (Keyboard.ERRAND, Keyboard.WISH):  # the state it had when queued
                inner = {k: v for k, v in args.items() if k not in ("card", "message_id")}
                markup = (render_keyboard(outbox.keyboard(Keyboard(card), **inner))
                          if inner.get("state") else None)
            else:
                markup = await self._card_markup(card, args.get("ticket_id"))
            await self.bot.edit_message_reply_markup(
                chat_id=row.chat_id, message_id=int(args["message_id"]), reply_markup=markup)
            return int(args["message_id"])
        markup = (await self._card_markup(spec.get("kind"), (spec.get("args") or {}).get(
            "ticket_id")) if spec.get("kind") in CARDS else render_keyboard(row.keyboard))
        photos = [p for p in row.photos if isinstance(p, str)][:10]
        text = row.text
        if photos and row.parts_sent == 0:
            try:
                if len(photos) == 1 and len(text) <= CAPTION_LIMIT:
                    sent = await self.bot.send_photo(row.chat_id, photos[0], caption=text,
                                                     reply_markup=markup)
                    return sent.message_id
                if len(photos) == 1:
                    await self.bot.send_photo(row.chat_id, photos[0])
                else:
                    await self.bot.send_media_group(
                        row.chat_id, [InputMediaPhoto(media=p) for p in photos])
            except TelegramBadRequest as exc:
                if _unreachable(exc):
                    raise
                log.warning("outbox row %s: photos refused (%s), sending the text alone",
                            row.id, exc.message)
                note = "\n\n" + t("ob_photos_failed")
                if len(text) + len(note) <= TEXT_LIMIT:
                    text += note
            else:
                await self._finish_row(outbox.part_sent, row.id, 1)
        sent = await self.bot.send_message(row.chat_id, text, reply_markup=markup)
        return sent.message_id

    async def _card_markup(self, card: Any, ticket_id: Any) -> InlineKeyboardMarkup | None:
        """A ticket card's buttons for the ticket's state when it is sent or edited."""
        ticket_id = int(ticket_id or 0)
        async with self.sessionmaker() as session:  # the state alone, not the whole ticket
            state = await session.scalar(sa.select(Ticket.state).where(Ticket.id == ticket_id))
        if state is None:
            return None
        if card == Keyboard.TRIAGE:
            return (render_keyboard(outbox.keyboard(Keyboard.TRIAGE, ticket_id=ticket_id))
                    if state == TicketState.TRIAGE else None)
        return card_buttons(ticket_id, TicketState(state))

    async def _halt(self, row: OutboxMessage, error: str) -> None:
        """Telegram refuses the token: sending anything else would fail the same way, so
        stop, give every row back untouched and say so loudly (log and `minyi doctor`)."""
        if not self.halted:
            log.critical("outbox sender stopped: Telegram refused the bot token (%s); "
                         "nothing more is sent until the bot restarts with a valid "
                         "telegram.token / MINYI_BOT_TOKEN", error)
        self.halted = error
        async with self.sessionmaker() as session:
            await outbox.release(session, [row.id])
            await outbox.halt(session, self.clock.now(), error)

    async def _give_up(self, row: OutboxMessage, error: str, *, unreachable: bool) -> None:
        log.warning("outbox row %s to chat %s not delivered: %s", row.id, row.chat_id, error)
        self.gave_up.append((row.id, error))
        async with self.sessionmaker() as session:
            await outbox.failed(session, row, self.clock.now(), error, unreachable=unreachable)

    async def _finish_row(self, fn: Callable[..., Awaitable[None]], *args: Any,
                          **kwargs: Any) -> None:
        async with self.sessionmaker() as session:
            await fn(session, *args, **kwargs)

    def _at(self, seconds: float) -> dt.datetime:
        return self.clock.now() + dt.timedelta(seconds=seconds)

    async def _recover(self) -> None:
        async with self.sessionmaker() as session:
            n = await outbox.recover_stale(session, self.clock.now(),
                                           dt.timedelta(seconds=self.limits.lease_seconds))
        if n:
            log.warning("outbox: %d messages left by a stopped sender are queued again", n)

    async def _finish(self) -> None:
        """Let sends in flight finish; give back what was claimed but not started."""
        if self.inflight:
            await asyncio.gather(*self.inflight, return_exceptions=True)
        try:
            async with self.sessionmaker() as session:
                await outbox.release(session, [r.id for r in self.in_hand])
        finally:
            self.in_hand = []
