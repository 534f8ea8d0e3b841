"""Issue 15's attack tests: each would pass an attacker before its fix.

Webhook without a secret, the bot answering in groups, staff who cannot be removed,
ticket enumeration through forged callbacks, personal data in logs, the sandbox API open
to other sites.
"""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

import aiohttp
import pytest
import sqlalchemy as sa
from aiogram.types import Chat
from aiohttp import web
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli import main as cli
from bot.config import ConfigError, load_config
from bot.sandbox import local_only
from handlers.menus import staff_only_text
from handlers.staff_keyboards import CallbackCb, RateCb
from models import AuditEntry, Invite, OutboxMessage, OutboxState, Person, Rating, Role, Ticket
from models.db import make_engine
from services import invites
from services.clock import ManualClock
from services.errors import InvalidInput
from services.org_import import import_org
from services.outbox import enqueue
from services.texts import t
from tests.bot_double import Harness
from tests.conftest import Org
from tests.procs import free_port

LAMP = "泗河社区小区路灯坏了好几天，晚上出行很不方便，请尽快维修"
PHONE = "13912345678"
IN_GRID_1 = (35.6726, 117.2626)


async def report(h: Harness, user_id: int, *, phone: str | None = PHONE,
                 anonymous: bool = False) -> Ticket:
    u = h.user(user_id, "李四")
    await u.say(t("btn_report"))
    await u.say(LAMP)
    await u.location(*IN_GRID_1)
    if anonymous:
        await u.say(t("btn_anonymous"))
    elif phone:
        await u.contact(phone)
    else:
        await u.say(t("btn_no_phone"))
    await u.press(t("btn_confirm"))
    async with h.sessionmaker() as s:
        return (await s.scalars(sa.select(Ticket).order_by(Ticket.id.desc()))).first()


# -- 1. webhook ------------------------------------------------------------------------
def test_webhook_mode_needs_a_secret_and_minyi_prints_one(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = {"MINYI_MODE": "webhook", "MINYI_WEBHOOK_URL": "https://minyi.example.cn"}
    with pytest.raises(ConfigError, match="minyi webhook secret"):
        load_config(env=env)
    assert cli(["webhook", "secret"]) == 0
    secret = capsys.readouterr().out.strip()
    assert re.fullmatch(r"[A-Za-z0-9_-]{64}", secret)
    config = load_config(env=env | {"MINYI_WEBHOOK_SECRET": secret})
    assert config.telegram.webhook.host == "127.0.0.1"  # behind the reverse proxy


# -- 2. groups ---------------------------------------------------------------------------
async def test_groups_get_one_sentence_and_nobody_is_stored(harness: Harness,
                                                            org: Org) -> None:
    h = harness
    ticket = await report(h, 5101)
    dispatcher = await org.person("staff-dispatch-1")
    group = Chat(id=-100777, type="supergroup", title="某群")
    async with h.sessionmaker() as s:
        people = await s.scalar(sa.select(sa.func.count()).select_from(Person))
    d = h.user(dispatcher.tg_user_id)
    d.chat = group
    await d.say(f"/ticket@minyi_test_bot {ticket.number}")
    await d.say("/queue")
    await d.say("/my")
    stranger = h.user(5102)
    stranger.chat = group
    await stranger.say("/start")
    await stranger.say("大家好")
    said = [m.text for m in h.recorder.chats.get(group.id, [])]
    assert said == [t("private_only")]  # once, and no ticket, phone or map pin
    assert not any(PHONE in (m.text or "") for ms in h.recorder.chats.values() for m in ms)
    async with h.sessionmaker() as s:
        assert await s.scalar(sa.select(sa.func.count()).select_from(Person)) == people


# -- 3. staff removal --------------------------------------------------------------------
async def test_remove_and_unbind_are_effective_at_once_and_audited(
        harness: Harness, org: Org, db_url: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    h = harness
    worker = await org.person("grid-shjd-1")
    w = h.user(worker.tg_user_id)
    await w.say("/queue")
    assert w.last.text == t("queue_empty")
    async with h.sessionmaker() as s:  # a message still waiting for the worker
        enqueue(s, [worker.tg_user_id], kind="assignment", text="x", now=h.ctx.clock.now())
        await s.commit()
    monkeypatch.setenv("MINYI_DATABASE_URL", db_url)
    assert await asyncio.to_thread(cli, ["staff", "unbind", "grid-shjd-1"]) == 0
    await w.say("/queue")  # the same running dispatcher: a stranger now
    assert w.last.text == staff_only_text("queue")
    async with h.sessionmaker() as s:
        row = (await s.scalars(sa.select(OutboxMessage))).one()
        assert row.state == OutboxState.FAILED
        person = await s.get(Person, worker.id)
        assert person.tg_user_id is None and person.has_role(Role.GRID_WORKER)
        await invites.existing_staff(s, "grid-shjd-1")  # may be invited again

    leader = await org.person("staff-cg-leader")
    lead = h.user(leader.tg_user_id)
    async with h.sessionmaker() as s:
        staff = await invites.existing_staff(s, "staff-cg-leader")
        invite = await invites.create(s, staff, h.ctx.clock, 72)
        await s.commit()
    assert await asyncio.to_thread(cli, ["staff", "remove", "staff-cg-leader"]) == 0
    await lead.say("/queue")
    assert lead.last.text == staff_only_text("queue")
    async with h.sessionmaker() as s:
        person = await s.get(Person, leader.id)
        assert not person.active and person.tg_user_id is None
        assert not any(m.role != Role.RESIDENT for m in person.memberships)
        with pytest.raises(InvalidInput):
            await invites.existing_staff(s, "staff-cg-leader")
        with pytest.raises(InvalidInput):  # the link made before the removal is dead
            await invites.redeem(s, invite.token, 5999, h.ctx.clock)
        assert (await s.get(Invite, invite.id)) is not None
    capsys.readouterr()
    assert await asyncio.to_thread(cli, ["audit"]) == 0
    out = capsys.readouterr().out
    assert "staff.unbind" in out and "staff.remove" in out and "cli" in out
    assert "grid-shjd-1" in out and "staff-cg-leader" in out


async def test_active_false_in_the_org_file_deactivates_once(
        session: AsyncSession, org: Org, clock: ManualClock) -> None:
    worker = await org.person("grid-shjd-1")
    assert worker.tg_user_id is not None
    file = ('[[people]]\ncode = "grid-shjd-1"\nname = "网格员"\nroles = ["grid_worker"]\n'
            'grids = ["SS-SHJD-01-G1"]\nactive = false\n')
    report = await import_org(session, file, clock, "cli:test")
    await session.commit()
    assert report.deactivated == ["grid-shjd-1"]
    assert "staff-cg-leader" in report.not_in_file  # named, not removed
    await session.refresh(worker)
    assert not worker.active and worker.tg_user_id is None
    assert not worker.has_role(Role.GRID_WORKER)
    again = await import_org(session, file, clock, "cli:test")
    await session.commit()
    assert again.deactivated == []
    entries = list(await session.scalars(sa.select(AuditEntry.action)))
    assert entries == ["staff.deactivate"]  # once, not at every import


# -- 5. enumeration ----------------------------------------------------------------------
async def test_a_forged_callback_from_a_stranger_learns_nothing(harness: Harness) -> None:
    h = harness
    ticket = await report(h, 5201)
    stranger = h.user(5202, "王五")
    await stranger.say("/start")
    for data in (CallbackCb(id=ticket.id, solved=True, rating=Rating.SATISFIED).pack(),
                 CallbackCb(id=ticket.id, solved=True).pack(),
                 RateCb(id=ticket.id, solved=True).pack(),
                 RateCb(id=ticket.id, solved=True, rating=Rating.SATISFIED).pack()):
        await stranger.press_data(data, h.user(5201).last)
        assert stranger.last_alert() == t("err_not_found")
    # A ticket id that does not exist answers exactly the same.
    await stranger.press_data(CallbackCb(id=ticket.id + 999, solved=True,
                                         rating=Rating.SATISFIED).pack(),
                              h.user(5201).last)
    assert stranger.last_alert() == t("err_not_found")


# -- 6. logs -----------------------------------------------------------------------------
async def test_no_phone_or_request_text_in_any_log_line(
        harness: Harness, caplog: pytest.LogCaptureFixture, org: Org, db_url: str) -> None:
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)  # as database.echo does
    try:
        with caplog.at_level(logging.DEBUG):
            ticket = await report(harness, 5301)
            dispatcher = harness.user((await org.person("staff-dispatch-1")).tg_user_id)
            await dispatcher.say(f"/ticket {ticket.number}")
            assert PHONE in dispatcher.inbox[-2].text  # shown to the dispatcher, in full
            engine = make_engine(db_url)
            try:
                async with engine.begin() as conn:
                    with pytest.raises(IntegrityError) as err:
                        await conn.execute(sa.insert(Person).values(
                            tg_user_id=ticket.id, name="x", phone=PHONE,
                            created_at=harness.ctx.clock.now(), id=ticket.resident_id))
                logging.getLogger("test").error("db error", exc_info=err.value)
            finally:
                await engine.dispose()
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    assert "INSERT INTO tickets" in caplog.text  # the statements are logged...
    assert PHONE not in caplog.text and LAMP[:10] not in caplog.text  # ...not the values


# -- 7. sandbox --------------------------------------------------------------------------
async def test_sandbox_api_answers_only_its_own_page() -> None:
    port = free_port()
    app = web.Application(middlewares=[local_only(port)])

    async def ok(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app.router.add_get("/api/chat/1", ok)
    app.router.add_post("/api/send", ok)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base, own = f"http://127.0.0.1:{port}", {"Origin": f"http://127.0.0.1:{port}"}
    try:
        async with aiohttp.ClientSession() as http:
            async def status(method: str, path: str, **headers: str) -> int:
                async with http.request(method, base + path, headers=headers,
                                        json={}) as resp:
                    return resp.status

            assert await status("GET", "/api/chat/1") == 200
            assert await status("POST", "/api/send", **own) == 200
            # DNS rebinding: the attacker's name in Host
            assert await status("GET", "/api/chat/1", Host=f"evil.example:{port}") == 403
            # a cross-site POST: another Origin, or none at all
            assert await status("POST", "/api/send", Origin="http://evil.example") == 403
            assert await status("POST", "/api/send") == 403
    finally:
        await runner.cleanup()


async def test_redis_drafts_expire_after_draft_hours() -> None:
    from bot.app import make_storage
    from bot.config import Config, PrivacyConfig, RedisConfig
    from tests.conftest import external_url

    config = Config(redis=RedisConfig(url=external_url("TEST_REDIS_URL")),
                    privacy=PrivacyConfig(draft_hours=5))
    storage, _ = make_storage(config, None)  # type: ignore[arg-type]
    try:
        assert storage.state_ttl == storage.data_ttl == 5 * 3600  # type: ignore[attr-defined]
    finally:
        await storage.close()
