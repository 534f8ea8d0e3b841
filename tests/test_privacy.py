"""个人信息保护法 basics: notice and consent, anonymous requests, 我的信息, 删除我的信息,
retention, and the audit of every full-phone view."""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa
from aiogram.methods import SendDocument

from bot.app import make_context
from bot.config import Config
from bot.health import health_report
from models import AuditEntry, FsmRecord, OutboxMessage, Person, Ticket, TicketState
from services import privacy
from services.texts import t
from tests.bot_double import Harness
from tests.conftest import Org
from tests.test_security import IN_GRID_1, LAMP, PHONE, report


async def audit_actions(h: Harness) -> list[str]:
    async with h.sessionmaker() as s:
        return list(await s.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)))


async def test_notice_at_first_start_and_consent_before_the_first_request(
        harness: Harness) -> None:
    h = harness
    u = h.user(5401)
    await u.say("/start")
    notice = u.inbox[-2]
    assert notice.text == t("privacy_notice", days=365, hours=72)
    assert [b for b, _ in notice.buttons] == [t("btn_consent"), t("btn_consent_decline")]
    assert u.last.text == t("start", county="泗水县", days=3)
    await u.press(t("btn_consent"), notice)
    async with h.sessionmaker() as s:
        agreed = await s.scalar(sa.select(Person).where(Person.tg_user_id == 5401))
        assert agreed.consent_at is not None
    await u.say("/start")
    assert u.inbox[-2].text != notice.text  # told once agreed: no second notice
    w = h.user(5403)
    await w.say("/start")
    await w.press(t("btn_consent_decline"))
    assert w.last.text == t("consent_declined", hours=72)
    async with h.sessionmaker() as s:
        declined = await s.scalar(sa.select(Person).where(Person.tg_user_id == 5403))
        assert declined.consent_at is None

    # Someone who never pressed 同意: the notice before the request, the consent sentence
    # on the summary, and the consent stored with the first request — not before.
    v = h.user(5402)
    await v.say(t("btn_report"))
    assert v.inbox[-2].text == notice.text and v.last.text == t("report_ask_text")
    await v.say(LAMP)
    await v.location(*IN_GRID_1)
    await v.say(t("btn_no_phone"))
    assert t("summary_consent") in v.last.text
    async with h.sessionmaker() as s:
        person = await s.scalar(sa.select(Person).where(Person.tg_user_id == 5402))
        assert person.consent_at is None
    await v.press(t("btn_confirm"))
    async with h.sessionmaker() as s:
        person = await s.scalar(sa.select(Person).where(Person.tg_user_id == 5402))
        ticket = await s.scalar(sa.select(Ticket).where(Ticket.resident_id == person.id))
        assert person.consent_at is not None and ticket is not None


async def test_anonymous_request_hides_who_asked_and_is_rated_in_chat_only(
        harness: Harness, org: Org) -> None:
    h = harness
    u = h.user(5501, "赵六")
    await u.say(t("btn_report"))
    await u.say(LAMP)
    await u.location(*IN_GRID_1)
    await u.contact(PHONE)  # a phone given first, then anonymity chosen instead
    await u.press(t("btn_edit_phone"))
    assert t("btn_anonymous") in u.last.reply_buttons
    await u.say(t("btn_anonymous"))
    assert t("summary_anonymous") in u.last.text and "139****5678" not in u.last.text
    await u.press(t("btn_confirm"))
    async with h.sessionmaker() as s:
        ticket = (await s.scalars(sa.select(Ticket))).one()
    assert ticket.anonymous and ticket.contact_phone is None
    dispatcher = h.user((await org.person("staff-dispatch-1")).tg_user_id)
    await dispatcher.say(f"/ticket {ticket.number}")
    view = dispatcher.inbox[-2].text
    assert "赵六" not in view and PHONE not in view and t("anonymous_mark") in view
    await h.deliver()
    assert not any("赵六" in (m.text or "") or PHONE in (m.text or "")
                   for chat, sent in h.recorder.chats.items() if chat != 5501 for m in sent)

    # Resolved, not rated in time: nobody may phone, so it closes as 未回访 (still counted).
    async with h.sessionmaker() as s:
        life = h.ctx.lifecycle(s)
        tk = await s.get(Ticket, ticket.id)
        worker = await org.person("grid-shjd-1")
        me = await s.get(Person, worker.id)
        await life.accept(tk, me)
        await life.resolve(tk, me, "已修好")
        await life.mark_callback_due(tk)
        await s.commit()
        assert tk.state == TicketState.CLOSED and tk.outcome == "no_callback"
    caller = h.user((await org.person("staff-callback-1")).tg_user_id)
    await caller.say("/callbacks")
    assert caller.last.text == t("callbacks_empty")


async def test_my_info_then_erase_keeps_the_ticket_detached(harness: Harness) -> None:
    h = harness
    ticket = await report(h, 5601)
    u = h.user(5601, "李四")
    await u.say("/myinfo")
    [doc] = [c for c in h.recorder.calls if isinstance(c, SendDocument)]
    data = json.loads(doc.document.data)
    assert data["person"]["phone"] == PHONE and data["person"]["telegram_user_id"] == 5601
    assert data["tickets"][0]["number"] == ticket.number
    assert data["tickets"][0]["text"] == LAMP

    await u.say(t("btn_deleteme"))
    assert u.last.text == t("deleteme_confirm", days=365)
    await u.press(t("btn_deleteme_keep"))
    assert u.last.text == t("deleteme_kept")
    await u.say("/deleteme")
    await u.press(t("btn_deleteme_confirm"))
    assert u.last.text == t("deleteme_done", tickets=1)
    async with h.sessionmaker() as s:
        tk = await s.get(Ticket, ticket.id)
        person = await s.get(Person, tk.resident_id)
        assert (person.name, person.phone, person.tg_user_id) == ("", None, None)
        assert tk.contact_phone is None and tk.latitude is None and tk.photos == []
        assert tk.text == LAMP  # until the retention rule clears it
    assert await audit_actions(h) == ["privacy.export", "privacy.erase"]
    await u.say("/start")  # the same account is a new person now
    async with h.sessionmaker() as s:
        fresh = await s.scalar(sa.select(Person).where(Person.tg_user_id == 5601))
        assert fresh is not None and fresh.id != person.id


async def test_retention_sweep_clears_closed_tickets_and_drafts_and_doctor_says_so(
        harness: Harness, org: Org) -> None:
    h = harness
    ticket = await report(h, 5701)
    d = h.user(5702)
    await d.say(t("btn_report"))
    await d.say("一份没提交的草稿，说到一半走开了")
    async with h.sessionmaker() as s:
        life = h.ctx.lifecycle(s)
        tk = await s.get(Ticket, ticket.id)
        worker = await s.get(Person, (await org.person("grid-shjd-1")).id)
        await life.accept(tk, worker)
        await life.resolve(tk, worker, "已修好")
        resident = await s.get(Person, tk.resident_id)
        await life.rate(tk, resident, "satisfied", solved=True)
        await s.commit()
    await h.deliver()
    config = Config()
    ctx = make_context(config, h.ctx.clock)
    engine = h.sessionmaker.kw["bind"]

    async def doctor() -> str:
        report_ = await health_report(config, engine, ctx)
        return next(c["detail"] for c in report_["checks"] if c["name"] == "privacy")

    assert "0 件" in await doctor()
    assert await privacy.run_retention(h.sessionmaker, h.ctx.clock, 365, 72) == {
        "tickets": 0, "bookings": 0, "errands": 0, "drafts": 0}
    h.ctx.clock.advance(dt.timedelta(days=366))
    assert "1 件已办结诉求" in await doctor() and "2 份" in await doctor()
    done = await privacy.run_retention(h.sessionmaker, h.ctx.clock, 365, 72)
    assert done["tickets"] == 1 and done["drafts"] == 2  # the draft and an idle state
    async with h.sessionmaker() as s:
        tk = await s.get(Ticket, ticket.id)
        assert tk.text == "" and tk.contact_phone is None and tk.purged_at is not None
        assert tk.state == TicketState.CLOSED and tk.rating == "satisfied"  # still counted
        texts = list(await s.scalars(sa.select(OutboxMessage.text)
                                     .where(OutboxMessage.ticket_id == tk.id)))
        assert texts and all(text == "" for text in texts)
        assert await s.scalar(sa.select(sa.func.count()).select_from(FsmRecord)) == 0
    assert "0 件" in await doctor()
    assert "retention.purge" in await audit_actions(h)


async def test_every_full_phone_view_is_audited(harness: Harness, org: Org) -> None:
    h = harness
    ticket = await report(h, 5801)
    dispatcher = h.user((await org.person("staff-dispatch-1")).tg_user_id)
    await dispatcher.say(f"/ticket {ticket.number}")
    assert PHONE in dispatcher.inbox[-2].text
    leader = h.user((await org.person("staff-cg-1")).tg_user_id)  # the unit, not assignee
    await leader.say(f"/ticket {ticket.number}")
    assert "139****5678" in leader.inbox[-2].text  # masked for them: nothing to record
    async with h.sessionmaker() as s:
        rows = list(await s.scalars(sa.select(AuditEntry)))
    assert [(r.action, r.target) for r in rows] == [("phone.view", ticket.number)]
    assert PHONE not in rows[0].detail and "staff-dispatch-1" in rows[0].actor
