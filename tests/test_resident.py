"""The resident's conversation through the real Dispatcher, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Config
from handlers.keyboards import PlaceCb
from handlers.my_requests import TicketCb
from models import FsmRecord, OutboxMessage, Ticket, TicketState
from services.intake import IntakeRules
from services.texts import t
from tests.bot_double import Chatter, Harness, Sent
from tests.conftest import Org

LAMP = "泗河社区小区路灯坏了好几天，晚上出行很不方便，请尽快维修"
IN_GRID_1 = (35.6726, 117.2626)  # next to 泗河社区第1网格's point
BEIJING = (39.9042, 116.4074)


async def tickets(h: Harness) -> list[Ticket]:
    async with h.sessionmaker() as s:
        return list(await s.scalars(sa.select(Ticket).order_by(Ticket.id)))


async def fsm_state(h: Harness) -> list[str | None]:
    async with h.sessionmaker() as s:
        return [r.state for r in await s.scalars(sa.select(FsmRecord))]


def transcript(*users: Chatter) -> str:
    lines = []
    for u in users:
        for sent in u.inbox:
            lines.append(f"机器人 → {u.user.first_name}：{sent.text}")
            labels = [b for b, _ in sent.buttons] or sent.reply_buttons
            if labels:
                lines.append("    [" + "] [".join(labels) + "]")
    return "\n".join(lines)


async def submit_lamp(u: Chatter) -> None:
    await u.say(t("btn_report"))
    await u.say(LAMP)
    await u.location(*IN_GRID_1)
    await u.say(t("btn_no_phone"))
    await u.press(t("btn_confirm"))


async def test_scripted_dialogue_with_restarts(harness: Harness, org: Org,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    h = harness
    u = h.user(5001, "张三")
    await u.say("/start")
    assert u.last.text == t("start", county="泗水县", days=3)
    assert u.last.reply_buttons == [t("btn_report"), t("btn_my"), t("btn_appointment"),
                                    t("btn_errand"), t("btn_help")]
    await u.say(t("btn_report"))
    assert u.last.text == t("report_ask_text")
    await u.say(LAMP)
    # Place step: a location button and the towns as inline buttons.
    assert u.inbox[-2].text == t("report_ask_place")
    assert "泗河街道" in [b for b, _ in u.last.buttons]
    await u.photo("PHOTO-1")
    assert t("report_photo_saved", count=1, limit=5) in u.last.text
    h.restart()  # the bot process restarts mid-conversation
    await u.location(*IN_GRID_1)
    assert "泗河社区第1网格" in u.inbox[-2].text
    assert u.last.text == t("report_ask_phone")
    h.restart()
    await u.contact("+86 138-0537-1234")
    summary = u.last.text
    assert LAMP in summary and "照片：1张" in summary and "138****1234" in summary
    assert "泗河街道 · 泗河社区 · 泗河社区第1网格" in summary
    await u.press(t("btn_confirm"))
    [ticket] = await tickets(h)
    assert ticket.state == TicketState.ASSIGNED
    assert ticket.photos == ["PHOTO-1"] and ticket.contact_phone == "13805371234"
    assert ticket.latitude == IN_GRID_1[0]
    done = u.last.text
    assert ticket.number in done and "承诺办结时间" in done and "2026年12月2日（星期三）" in done
    assert u.last.reply_buttons[0] == t("btn_report")  # main menu back
    assert await fsm_state(h) == [None]
    async with h.sessionmaker() as s:
        place = await s.scalar(sa.text("select code from places where id = :i"),
                               {"i": ticket.place_id})
        assert place == "SS-SHJD-01-G1"
        # The grid worker of that grid and the unit's staff are told, via the outbox.
        chats = set(await s.scalars(sa.select(OutboxMessage.chat_id)
                                    .where(OutboxMessage.kind == "assignment")))
    worker = await org.person("grid-shjd-1")
    assert worker.tg_user_id in chats

    await u.say(t("btn_my"))
    assert ticket.number in u.last.text and t("state_assigned") in u.last.text
    await u.press(ticket.number)
    detail = u.last.text
    assert t("action_submit") in detail and "转交" in detail and "办理记录" in detail
    if os.environ.get("MINYI_SHOW_DIALOGUE"):  # the transcript pasted in the issue note
        with capsys.disabled():
            print("\n--- dialogue ---\n" + transcript(u))


async def test_conversation_in_redis_survives_a_restart(harness: Harness) -> None:
    from bot.config import RedisConfig
    from tests.conftest import external_url

    harness.restart(Config(redis=RedisConfig(url=external_url("TEST_REDIS_URL")),
                           flood=harness.config.flood))
    u = harness.user(5099)
    try:
        await u.say(t("btn_report"))
        await u.say(LAMP)
        harness.restart()
        await u.location(*IN_GRID_1)
        harness.restart()
        await u.say(t("btn_no_phone"))
        await u.press(t("btn_confirm"))
        [ticket] = await tickets(harness)
        assert ticket.latitude == IN_GRID_1[0] and ticket.text == LAMP
    finally:
        await u.say("/cancel")
        await harness.dp.storage.close()


async def test_cancel_at_every_step_leaves_nothing(harness: Harness) -> None:
    u = harness.user(5002)
    steps = [[t("btn_report")], [LAMP], ["泗河社区门口"], []]
    for n in range(1, len(steps) + 1):
        for step in steps[:n]:
            for text in step:
                await u.say(text)
        await u.say("/cancel" if n % 2 else t("btn_cancel"))
        assert u.last.text == t("cancelled")
        assert await fsm_state(harness) == [None]
    # The confirm step has its own cancel button.
    await u.say(t("btn_report"))
    await u.say(LAMP)
    await u.say("泗河社区门口")
    await u.say(t("btn_no_phone"))
    await u.press(t("btn_cancel"))
    assert u.last.text == t("cancelled")
    assert await tickets(harness) == []
    await u.say("/cancel")
    assert u.last.text == t("nothing_to_cancel")


async def test_bad_descriptions_are_refused_and_the_step_stays(harness: Harness) -> None:
    u = harness.user(5003)
    await u.say(t("btn_report"))
    for bad in ["😀😀😀🎉", "？？！！。。", "  ", "a" * 2001]:
        await u.say(bad)
        if len(bad) > 2000:
            assert u.last.text == t("err_text_too_long", length=2001, limit=2000)
        else:
            assert u.last.text == t("err_text_meaningless", minimum=4)
    await u.sticker()
    assert u.last.text.startswith(t("report_unsupported"))
    await u.photo("P-no-caption")
    assert t("report_photo_saved", count=1, limit=5) in u.last.text
    assert t("prompt_text") in u.last.text
    # Photos of one album are acknowledged once.
    before = len(u.inbox)
    for i in range(3):
        await u.photo(f"ALB-{i}", media_group_id="album-1")
    assert len(u.inbox) == before + 1
    await u.photo("P-5")
    await u.photo("P-too-many")
    assert u.last.text == t("report_photo_limit", limit=5)
    # Mixed Chinese/English and traditional characters are fine.
    await u.say("小區路燈壞了 street light broken")
    assert u.inbox[-2].text == t("report_ask_place")
    assert await tickets(harness) == []


async def test_photo_with_caption_is_the_description_and_voice_is_kept(
        harness: Harness) -> None:
    from aiogram.types import Voice

    u = harness.user(5004)
    await u.say(t("btn_report"))
    await u.feed(voice=Voice(file_id="VOICE-1", file_unique_id="uv1", duration=7))
    assert u.last.text.startswith(t("report_voice_saved"))
    await u.photo("P1", caption=LAMP)
    assert u.inbox[-2].text == t("report_ask_place")
    await u.say("泗河社区")
    await u.say(t("btn_no_phone"))
    assert "语音/视频：1个" in u.last.text
    await u.press(t("btn_confirm"))
    [ticket] = await tickets(harness)
    assert ticket.attachments == [{"kind": "voice", "file_id": "VOICE-1"}]
    assert ticket.photos == ["P1"]


async def test_voice_notes_past_the_limit_are_told(harness: Harness) -> None:
    """A voice or video note past intake.max_attachments is not kept, and the resident is
    told so (the summary counts what was kept), never dropped silently."""
    from aiogram.types import Voice

    limit = IntakeRules().max_attachments
    u = harness.user(5014)
    await u.say(t("btn_report"))
    for i in range(limit):
        await u.feed(voice=Voice(file_id=f"V-{i}", file_unique_id=f"uv{i}", duration=3))
        assert u.last.text.startswith(t("report_voice_saved"))
    await u.feed(voice=Voice(file_id="V-too-many", file_unique_id="uvx", duration=3))
    assert u.last.text.startswith(t("report_voice_limit", limit=limit))
    assert t("prompt_text") in u.last.text
    await u.say(LAMP)
    await u.say("泗河社区")
    await u.say(t("btn_no_phone"))
    assert f"语音/视频：{limit}个" in u.last.text
    await u.press(t("btn_confirm"))
    [ticket] = await tickets(harness)
    assert [a["file_id"] for a in ticket.attachments] == [f"V-{i}" for i in range(limit)]


async def test_location_outside_the_county_and_place_buttons(harness: Harness) -> None:
    u = harness.user(5005)
    await u.say(t("btn_report"))
    await u.say(LAMP)
    await u.location(*BEIJING)
    assert u.last.text == t("err_location_outside")
    # Walk the tree: town -> community -> grid.
    await u.press("泗河街道")  # the message is edited in place
    assert u.last_with_buttons().text == t("report_pick_community")
    await u.press("东关社区")
    assert u.last_with_buttons().text == t("report_pick_grid")
    assert "就是东关社区（不清楚具体网格）" in [b for b, _ in u.last_with_buttons().buttons]
    await u.press("« 返回")
    assert u.last_with_buttons().text == t("report_pick_town")
    await u.press("泗河街道")
    await u.press("东关社区")
    await u.press("东关社区第2网格")
    assert t("report_place_chosen", place="泗河街道 · 东关社区 · 东关社区第2网格") in [
        m.text for m in u.inbox]
    assert u.last.text == t("report_ask_phone")
    await u.say("12345")
    assert u.last.text == t("err_phone_invalid")
    await u.say("0537-4212345")
    assert "0537****2345" not in u.last.text and "053****2345" in u.last.text
    await u.press(t("btn_confirm"))
    [ticket] = await tickets(harness)
    assert ticket.contact_phone == "05374212345"


async def test_place_named_in_the_description_is_suggested(harness: Harness) -> None:
    u = harness.user(5006)
    await u.say(t("btn_report"))
    await u.say("东关社区第1网格 楼下垃圾堆了一个星期没人清运")
    suggested = [b for b, _ in u.last.buttons if "根据您的描述" in b]
    assert suggested == [t("btn_suggested_place", name="东关社区第1网格")]
    await u.press("根据您的描述")
    assert u.last.text == t("report_ask_phone")


async def test_typed_address_and_editing_from_the_summary(harness: Harness) -> None:
    u = harness.user(5007)
    await u.say(t("btn_report"))
    await u.say(LAMP)
    await u.say("！！")
    assert u.last.text == t("err_address_meaningless")
    await u.say("泗河社区幸福小区3号楼")
    await u.say(t("btn_no_phone"))
    assert u.inbox[-2].text == t("report_phone_declined")
    assert "不留电话" in u.last.text and "幸福小区3号楼" in u.last.text
    await u.press(t("btn_edit_text"))
    await u.say("幸福小区3号楼前的路灯不亮了")
    assert u.last.text.startswith("请核对")  # straight back to the summary
    assert "路灯不亮了" in u.last.text
    await u.press(t("btn_edit_phone"))
    await u.say("13912345678")
    assert "139****5678" in u.last.text
    await u.press(t("btn_confirm"))
    [ticket] = await tickets(harness)
    assert ticket.text == "幸福小区3号楼前的路灯不亮了" and ticket.contact_phone == "13912345678"
    assert ticket.address == "泗河社区幸福小区3号楼"
    # Next time the stored number is offered.
    await u.say(t("btn_report"))
    await u.say(LAMP)
    await u.say("泗河社区")
    assert t("btn_use_phone", phone="139****5678") in u.last.reply_buttons


async def draft_to_summary(u: Chatter) -> tuple[str, Sent]:
    """我要反映 up to the summary: its 确认提交 button's data, and the summary message."""
    await u.say(t("btn_report"))
    await u.say(LAMP)
    await u.say("泗河社区")
    await u.say(t("btn_no_phone"))
    summary = u.last_with_buttons()
    [data] = [d for label, d in summary.buttons if label == t("btn_confirm")]
    return data, summary


async def test_double_tap_and_stale_buttons(harness: Harness) -> None:
    u = harness.user(5008)
    data, confirm_msg = await draft_to_summary(u)
    await asyncio.gather(u.press_data(data, confirm_msg), u.press_data(data, confirm_msg))
    [ticket] = await tickets(harness)
    assert confirm_msg.buttons == []  # the keyboard is taken off after the submit
    await u.press_data(data, confirm_msg)
    assert u.last_alert() == t("already_submitted", number=ticket.number)
    # A button from a cancelled draft.
    _, old = await draft_to_summary(u)
    await u.say("/cancel")
    await u.press(t("btn_confirm"), old)
    assert u.last_alert() == t("stale_button")
    # A place button from an old conversation.
    await u.press_data(PlaceCb(id=1, key="oldkey").pack(), old)
    assert u.last_alert() == t("stale_button")
    assert len(await tickets(harness)) == 1


async def test_residents_see_only_their_own_tickets(harness: Harness) -> None:
    a, b = harness.user(5010, "甲"), harness.user(5011, "乙")
    await submit_lamp(a)
    [ticket] = await tickets(harness)
    await b.say(t("btn_my"))
    assert b.last.text == t("my_empty")
    await b.press_data(TicketCb(action="view", id=ticket.id).pack(), b.last)
    assert b.last_alert() == t("err_not_found")
    await b.press_data(TicketCb(action="follow", id=ticket.id).pack(), b.last)
    assert b.last_alert() == t("err_not_found")
    await b.say(ticket.number)
    assert b.last.text == t("err_not_found")
    await b.press_data("tk:view:abc:0", b.last)  # malformed data: no handler matches
    assert b.last_alert() == t("stale_button")  # answered all the same (teardown checks)
    await a.say(ticket.number.lower())
    assert ticket.number in a.last.text and "办理记录" in a.last.text


async def test_follow_up_reaches_the_assignee(harness: Harness, org: Org) -> None:
    u = harness.user(5012)
    await submit_lamp(u)
    [ticket] = await tickets(harness)
    await u.say(t("btn_my"))
    await u.press(ticket.number)
    await u.press(t("btn_follow_up"))
    assert u.last.text == t("follow_up_ask", number=ticket.number)
    await u.sticker()
    assert u.last.text == t("follow_up_unsupported")
    await u.photo("FOLLOW-1", caption="今晚又黑了一整夜")
    assert u.last.text == t("follow_up_sent", number=ticket.number)
    worker = await org.person("grid-shjd-1")
    async with harness.sessionmaker() as s:
        row = await s.scalar(sa.select(OutboxMessage).where(
            OutboxMessage.kind == "follow_up", OutboxMessage.chat_id == worker.tg_user_id))
    assert row is not None and "今晚又黑了一整夜" in row.text and row.photos == ["FOLLOW-1"]
    await u.say(t("btn_my"))
    await u.press(ticket.number)
    assert "今晚又黑了一整夜" in u.last.text


async def test_list_is_paged_newest_first(harness: Harness, session: AsyncSession) -> None:
    u = harness.user(5013)
    for _ in range(7):
        await submit_lamp(u)
    numbers = [tk.number for tk in await tickets(harness)]
    await u.say(t("btn_my"))
    first = u.last
    assert t("my_header", total=7, page=1, pages=2) in first.text
    assert numbers[-1] in first.text and numbers[0] not in first.text
    await u.press(t("btn_next"))
    assert numbers[0] in u.last.text and t("btn_prev") in [b for b, _ in u.last.buttons]


async def test_flood_control_answers_once(harness: Harness) -> None:
    harness.restart(Config())  # the default limit: 20 in 10 seconds
    u = harness.user(5014)
    for _ in range(30):
        await u.say("/help")
    texts = [s.text for s in u.inbox]
    assert texts.count(t("help")) == 20 and texts.count(t("flood")) == 1


async def test_appointment_and_unknown_input(harness: Harness) -> None:
    u = harness.user(5015)
    await u.say(t("btn_appointment"))
    assert u.inbox[-2].text == t("appt_intro")
    await u.say("/cancel")
    await u.sticker()
    assert u.last.text == t("unknown_input")


async def test_free_text_outside_a_conversation_starts_a_report(harness: Harness,
                                                                  org: Org) -> None:
    """The greeting says 直接告诉我们: the words typed after it are the description of a new
    我要反映 draft, with the notice first and the consent sentence on the summary."""
    h = harness
    u = h.user(5020)
    await u.say("/start")
    await u.say(LAMP)
    texts = [m.text for m in u.inbox]
    assert texts.count(t("privacy_notice", days=365, hours=72)) == 2  # /start and now
    assert t("report_from_free_text") in texts
    assert u.inbox[-2].text == t("report_ask_place")
    await u.location(*IN_GRID_1)
    await u.say(t("btn_no_phone"))
    assert LAMP in u.last.text and t("summary_consent") in u.last.text
    assert await tickets(h) == []  # nothing kept before 确认提交
    await u.press(t("btn_confirm"))
    [ticket] = await tickets(h)
    assert ticket.text == LAMP
    async with h.sessionmaker() as s:
        person = await s.scalar(sa.text("select consent_at from people where tg_user_id = 5020"))
    assert person is not None
    # Too few words to be a problem: how to start, no draft.
    await u.say("你好")
    assert u.last.text == t("free_text_short", minimum=4)
    # A leftover button's words, a command and a sticker are not descriptions.
    await u.say(t("btn_no_phone"))
    assert u.last.text == t("unknown_input")
    await u.say("/nosuchcommand")
    assert u.last.text == t("unknown_input")
    assert await fsm_state(h) == [None]
    # Staff typing outside a task: their menu, no draft.
    worker_person = await org.person("grid-shjd-1")
    worker = h.user(worker_person.tg_user_id or 0, worker_person.name)
    await worker.say(LAMP)
    assert worker.last.text == t("unknown_input")
    assert len(await tickets(h)) == 1


def test_report_draft_round_trips_and_refuses_unknown_fields() -> None:
    """The FSM data of 我要反映 is ReportDraft's fields: stored and read back unchanged (the
    offers as pairs again after JSON), turned into the ticket's Draft in one place, and a
    change naming no field fails."""
    import json

    from services.intake import ReportDraft

    draft = ReportDraft(key="k1", text=LAMP, offers=[("LD", "路灯")], photos=["P"],
                        attachments=[{"kind": "voice", "file_id": "V"}], lat=35.6,
                        lon=117.2, place_id=3, phone="13805371234")
    stored = json.loads(json.dumps(draft.to_dict()))
    assert ReportDraft.from_dict(stored) == draft
    assert ReportDraft.from_dict({}) == ReportDraft()  # no draft: the button is stale
    ticket = draft.ticket_draft()
    assert (ticket.latitude, ticket.longitude, ticket.submission_key,
            ticket.contact_phone) == (35.6, 117.2, "k1", "13805371234")
    assert ReportDraft.changes(editing=True) == {"editing": True}
    with pytest.raises(TypeError):
        ReportDraft.changes(latitude=1.0)


async def test_an_alert_telegram_refuses_as_too_late_is_said_in_the_chat(
        harness: Harness) -> None:
    """A press answered after Telegram's window (an update retried on another replica
    after a crash, a slow step): the alert can no longer be shown, so its text comes as a
    message — here the number of the request already submitted, not an apology."""
    from aiogram.exceptions import TelegramBadRequest
    from aiogram.methods import AnswerCallbackQuery

    u = harness.user(5019)
    data, confirm_msg = await draft_to_summary(u)
    await u.press_data(data, confirm_msg)
    [ticket] = await tickets(harness)

    def too_late(method: object) -> Exception | None:
        if isinstance(method, AnswerCallbackQuery) and method.text:
            harness.recorder.answered.add(method.callback_query_id)  # Telegram is done with it
            return TelegramBadRequest(method=method, message=(
                "Bad Request: query is too old and response timeout expired or query ID is "
                "invalid"))
        return None

    harness.recorder.fault = too_late
    await u.press_data(data, confirm_msg)  # the retry of the confirm
    harness.recorder.fault = None
    assert u.last.text == t("already_submitted", number=ticket.number)
    assert t("internal_error") not in [m.text for m in u.inbox]
