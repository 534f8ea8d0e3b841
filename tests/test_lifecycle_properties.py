"""Random sequences of lifecycle actions by random people keep the invariants.

The expected outcome of each step comes from this file's own reading of DESIGN.md (the
table below), not from the service's tables, so a wrong rule in the service shows up.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import tempfile
from pathlib import Path

import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from models import Person, Rating, Ticket, TicketEvent, migrate
from models import TicketState as S
from models.db import make_engine, make_sessionmaker
from services.clock import ManualClock
from services.context import ServiceContext
from services.deadlines import WorkingCalendar
from services.errors import DomainError
from services.org_import import import_org
from services.tickets import Draft, Policy, Route
from tests.conftest import EXAMPLE_ORG, START, TZ

ACTORS = ["owner", "stranger", "grid-shjd-1", "grid-shjd-2", "staff-cg-1", "staff-zj-1",
          "staff-dispatch-1", "staff-callback-1", "system"]
WORKERS = {"grid-shjd-1", "staff-cg-1"}  # the example ticket: grid SS-SHJD-01-G1, unit CG
DISPATCH = {"staff-dispatch-1"}
TARGETS = sorted(WORKERS | {"grid-shjd-2", "staff-zj-1"})  # whom a 转派 names

# action -> (states it may start from, who may do it, resulting state or None = unchanged)
SPEC: dict[str, tuple[set[S], set[str], S | None]] = {
    "assign": ({S.TRIAGE}, DISPATCH, S.ASSIGNED),
    "reroute": ({S.TRIAGE, S.ASSIGNED, S.ACCEPTED}, DISPATCH, S.ASSIGNED),
    "accept": ({S.ASSIGNED}, WORKERS, S.ACCEPTED),
    "return": ({S.ASSIGNED, S.ACCEPTED}, WORKERS, S.TRIAGE),
    "escalate": ({S.ASSIGNED, S.ACCEPTED}, WORKERS | DISPATCH | {"system"}, None),
    "resolve": ({S.ACCEPTED}, WORKERS, S.RESOLVED),
    "rate_ok": ({S.RESOLVED, S.CALLBACK_DUE}, {"owner"}, S.CLOSED),
    "rate_bad": ({S.RESOLVED, S.CALLBACK_DUE}, {"owner"}, S.ASSIGNED),
    "rate_unsolved": ({S.RESOLVED, S.CALLBACK_DUE}, {"owner"}, S.ASSIGNED),
    "callback_due": ({S.RESOLVED}, {"system"}, S.CALLBACK_DUE),
    "callback_ok": ({S.CALLBACK_DUE}, {"staff-callback-1"} | DISPATCH, S.CLOSED),
    "callback_bad": ({S.CALLBACK_DUE}, {"staff-callback-1"} | DISPATCH, S.ASSIGNED),
    "unreachable": ({S.CALLBACK_DUE}, {"staff-callback-1"} | DISPATCH, None),
    "close": ({S.TRIAGE, S.RESOLVED, S.CALLBACK_DUE}, DISPATCH | {"system"}, S.CLOSED),
    # 吹哨: back to the dispatchers with priority
    "whistle": ({S.ASSIGNED, S.ACCEPTED}, WORKERS, S.TRIAGE),
    # 转派: to another worker of the ticket (not its assignee), who must accept again
    "transfer": ({S.ASSIGNED, S.ACCEPTED}, WORKERS, S.ASSIGNED),
    "progress": ({S.ACCEPTED}, WORKERS, None),  # 进展
    "follow_up": ({S.TRIAGE, S.ASSIGNED, S.ACCEPTED}, {"owner"}, None),  # 补充
}
ACTIONS = sorted(SPEC)


class LifecycleMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.tmp = tempfile.TemporaryDirectory()
        self.engine = make_engine(f"sqlite+aiosqlite:///{Path(self.tmp.name) / 'p.db'}")
        self.maker = make_sessionmaker(self.engine)
        self.clock = ManualClock(START)
        self.ctx = ServiceContext(self.clock, WorkingCalendar(TZ), Policy(max_unreachable=2))
        self.tickets: list[int] = []
        self.expected: dict[int, S] = {}
        self.owners: dict[int, int] = {}
        self.unreachable: dict[int, int] = {}
        self.run(self._setup())

    def run(self, coro):  # type: ignore[no-untyped-def]
        return self.loop.run_until_complete(coro)

    async def _setup(self) -> None:
        await migrate.upgrade(self.engine)
        async with self.maker() as s:
            await import_org(s, EXAMPLE_ORG.read_text(encoding="utf-8"), self.clock)
            # Staff bound to Telegram: an assignment nobody could receive would go back to
            # the dispatchers instead.
            for i, person in enumerate(await s.scalars(sa.select(Person).order_by(Person.id))):
                person.tg_user_id = 900_000 + i
            await s.commit()

    def teardown(self) -> None:
        self.run(self.engine.dispose())
        self.loop.close()
        self.tmp.cleanup()

    async def _person(self, s, code: str, ticket: Ticket) -> Person | None:  # type: ignore[no-untyped-def]
        if code == "system":
            return None
        if code == "owner":
            return await s.get(Person, ticket.resident_id)
        if code == "stranger":
            return (await s.scalars(sa.select(Person).where(Person.tg_user_id == 1))).one()
        return (await s.scalars(sa.select(Person).where(Person.code == code))).one()

    @initialize()
    def stranger(self) -> None:
        async def go() -> None:
            async with self.maker() as s:
                s.add(Person(tg_user_id=1, name="路人", created_at=self.clock.now(),
                             memberships=[]))
                await s.commit()
        self.run(go())

    @precondition(lambda self: len(self.tickets) < 4)  # few tickets, long histories
    @rule(confident=st.booleans())
    def submit(self, confident: bool) -> None:
        async def go() -> None:
            async with self.maker() as s:
                resident = Person(tg_user_id=100 + len(self.tickets), name="居民",
                                  created_at=self.clock.now(), memberships=[])
                s.add(resident)
                await s.flush()
                grid = await s.scalar(sa.text("select id from places where code='SS-SHJD-01-G1'"))
                unit = await s.scalar(sa.text("select id from units where code='CG'"))
                t = await self.ctx.lifecycle(s).submit(
                    resident, Draft("路灯坏了", place_id=grid),
                    Route(unit, "城乡建设", 0.9) if confident else None)
                await s.commit()
                self.tickets.append(t.id)
                self.expected[t.id] = S.ASSIGNED if confident else S.TRIAGE
                self.unreachable[t.id] = 0
        self.run(go())

    @precondition(lambda self: self.tickets)
    @rule(data=st.data(), hours=st.integers(0, 30))
    def act(self, data: st.DataObject, hours: int) -> None:
        # Mostly an action this state allows and someone entitled to it (so tickets move
        # on), sometimes anything by anyone (so refusals are tried too).
        tid = data.draw(st.sampled_from(self.tickets))
        fitting = [a for a, (states, _, _) in SPEC.items() if self.expected[tid] in states]
        action = data.draw(st.sampled_from(fitting or ACTIONS) | st.sampled_from(ACTIONS))
        actor = data.draw(st.sampled_from(sorted(SPEC[action][1])) | st.sampled_from(ACTORS))
        target = data.draw(st.sampled_from(TARGETS))
        self.clock.advance(dt.timedelta(hours=hours))
        before = self.expected[tid]
        states, who, after = SPEC[action]
        ok = before in states and actor in who
        if action == "transfer" and ok:
            ok = target in WORKERS and target != self.run(self._assignee(tid))
        try:
            self.run(self._do(tid, action, actor, target))
        except DomainError:
            assert not ok, f"{action} by {actor} from {before} should have worked"
            return
        assert ok, f"{action} by {actor} from {before} should have been refused"
        if action == "unreachable":
            self.unreachable[tid] += 1
            if self.unreachable[tid] >= 2:
                after = S.CLOSED
        if action in ("rate_bad", "rate_unsolved", "callback_bad"):
            self.unreachable[tid] = 0
        self.expected[tid] = after or before
        if action == "transfer":
            assert self.run(self._assignee(tid)) == target, "the named worker has it now"

    async def _assignee(self, tid: int) -> str | None:
        async with self.maker() as s:
            return await s.scalar(sa.select(Person.code).join(
                Ticket, Ticket.assignee_id == Person.id).where(Ticket.id == tid))

    async def _do(self, tid: int, action: str, actor: str, target: str) -> None:
        async with self.maker() as s:
            life = self.ctx.lifecycle(s)
            t = await life.get(tid)
            who = await self._person(s, actor, t)
            to = await self._person(s, target, t)
            cg = await s.scalar(sa.text("select id from units where code='CG'"))
            calls = {
                "assign": lambda: life.assign(t, who, cg),
                "reroute": lambda: life.assign(t, who, cg, reroute=True),
                "accept": lambda: life.accept(t, who),
                "return": lambda: life.return_to_triage(t, who, "不归我们"),
                "escalate": lambda: life.escalate(t, who, "超时"),
                "resolve": lambda: life.resolve(t, who, "已办"),
                "rate_ok": lambda: life.rate(t, who, Rating.SATISFIED, solved=True),
                "rate_bad": lambda: life.rate(t, who, Rating.UNSATISFIED, "没修好", solved=True),
                "rate_unsolved": lambda: life.rate(t, who, Rating.SATISFIED, solved=False),
                "callback_due": lambda: life.mark_callback_due(t) if who is None
                else _refuse(),
                "callback_ok": lambda: life.record_callback(t, who, Rating.BASIC, solved=True),
                "callback_bad": lambda: life.record_callback(t, who, Rating.UNSATISFIED,
                                                             solved=False),
                "unreachable": lambda: life.record_callback(t, who, None),
                "close": lambda: life.close(t, who, "invalid", "重复"),
                "whistle": lambda: life.whistle(t, who, "社区解决不了"),
                "transfer": lambda: life.transfer(t, who, to),
                "progress": lambda: life.progress(t, who, "材料已订"),
                "follow_up": lambda: life.follow_up(t, who, "晚上更暗了"),
            }
            if who is None and action in ("accept", "return", "resolve", "rate_ok",
                                          "rate_bad", "rate_unsolved", "callback_ok",
                                          "callback_bad", "unreachable", "whistle",
                                          "transfer", "progress", "follow_up"):
                await _refuse()
            await calls[action]()
            await s.commit()

    @invariant()
    def database_matches_the_model(self) -> None:
        async def go() -> None:
            async with self.maker() as s:
                rows = dict((await s.execute(sa.select(Ticket.id, Ticket.state))).all())
                assert rows == self.expected  # none lost, none in two states
                evs = (await s.scalars(sa.select(TicketEvent).order_by(TicketEvent.id))).all()
                last: dict[int, S | None] = {}
                for e in evs:
                    assert e.from_state == last.get(e.ticket_id), "every change has its event"
                    assert e.from_state != S.CLOSED, "closed is final"
                    if e.from_state in (S.RESOLVED, S.CALLBACK_DUE) and e.to_state == S.ASSIGNED:
                        assert e.action == "reopen" and (
                            e.data["rating"] == "unsatisfied" or e.data["solved"] is False)
                    last[e.ticket_id] = e.to_state
                assert last == rows
        self.run(go())


async def _refuse() -> None:
    raise DomainError()


TestLifecycleProperties = LifecycleMachine.TestCase
TestLifecycleProperties.settings = settings(
    max_examples=20, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
