"""微心愿: a resident's small wish (value limit in config), posted by the 驿站's organiser,
claimed by a 两代表一委员 or a volunteer of the 驿站, fulfilled with a photo; the resident is
told at each step. `WishLifecycle` is the only writer of a wish's state; like the errand
lifecycle it writes the state, a `WishEvent` and the outbox rows in the caller's session.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from models import Membership, Person, Role, Venue, Wish, WishEvent
from models import WishState as S
from services import errands, places, privacy
from services.clock import Clock
from services.errors import InvalidInput, NotAllowed, NotFound
from services.outbox import NORMAL, Keyboard, enqueue, keyboard, refresh_copies
from services.texts import esc, plain, t


class WishAction(enum.StrEnum):
    SUBMIT = "submit"
    PUBLISH = "publish"
    REJECT = "reject"
    CLAIM = "claim"
    FULFIL = "fulfil"


class WishParty(enum.StrEnum):
    RESIDENT = "resident"
    ORGANISER = "organiser"
    HELPER = "helper"  # a 两代表一委员 or a volunteer of the 驿站


class WishTransition(NamedTuple):
    sources: frozenset[S]
    party: WishParty


W = WishAction
TRANSITIONS: dict[WishAction, WishTransition] = {
    W.SUBMIT: WishTransition(frozenset(), WishParty.RESIDENT),
    W.PUBLISH: WishTransition(frozenset({S.SUBMITTED}), WishParty.ORGANISER),
    W.REJECT: WishTransition(frozenset({S.SUBMITTED}), WishParty.ORGANISER),
    W.CLAIM: WishTransition(frozenset({S.PUBLISHED}), WishParty.HELPER),
    W.FULFIL: WishTransition(frozenset({S.CLAIMED}), WishParty.HELPER),
}


def actions_for(state: S, party: WishParty) -> list[WishAction]:
    return [a for a, tr in TRANSITIONS.items() if tr.party == party and state in tr.sources]


def check_text(text: str) -> str:
    value = (text or "").strip()
    if not 4 <= len(value) <= 200 or value.startswith("/"):
        raise InvalidInput("err_wish_text")
    return value


def check_value(text: str, limit: int) -> int:
    value = (text or "").strip().removesuffix("元")
    if not value.isdigit() or not 1 <= int(value) <= limit:
        raise InvalidInput("err_wish_value", limit=limit)
    return int(value)


async def _load(session: AsyncSession, wish_id: int) -> Wish:
    wish = await session.get(Wish, wish_id)
    if wish is None:
        raise NotFound()
    return wish


async def for_organiser(session: AsyncSession, person: Person, wish_id: int) -> Wish:
    wish = await _load(session, wish_id)
    if not errands.organises(person, wish.venue_id):
        raise NotFound()
    return wish


async def _helps(session: AsyncSession, person: Person, venue_id: int) -> bool:
    """A volunteer of the 驿站, or a representative of its place or a place above it."""
    if any(m.role == Role.VOLUNTEER and m.venue_id == venue_id for m in person.memberships):
        return True
    up = await _places_up(session, venue_id)
    return any(m.role == Role.REPRESENTATIVE and (m.place_id is None or m.place_id in up)
               for m in person.memberships)


async def for_helper(session: AsyncSession, person: Person, wish_id: int) -> Wish:
    wish = await _load(session, wish_id)
    if not await _helps(session, person, wish.venue_id):
        raise NotFound()
    if wish.claimer_id not in (None, person.id):  # claimed by someone else
        raise InvalidInput("err_wish_claimed_other", id=wish.id)
    return wish


async def _places_up(session: AsyncSession, venue_id: int) -> set[int]:
    venue = await session.get(Venue, venue_id)
    tree = await places.directory(session)
    found: set[int] = set()
    place_id = venue.place_id if venue else None
    while place_id is not None and place_id not in found:
        found.add(place_id)
        place = tree.by_id.get(place_id)
        place_id = place.parent_id if place else None
    return found


async def _helpers_chats(session: AsyncSession, venue_id: int) -> list[int]:
    up = await _places_up(session, venue_id)
    rows = await session.execute(
        sa.select(Person.tg_user_id, Membership.role, Membership.place_id,
                  Membership.venue_id).join(Membership, Membership.person_id == Person.id)
        .where(Person.active, Person.tg_user_id.is_not(None),
               Membership.role.in_((Role.VOLUNTEER, Role.REPRESENTATIVE))))
    return list(dict.fromkeys(
        tg for tg, role, place_id, v_id in rows
        if (role == Role.VOLUNTEER and v_id == venue_id)
        or (role == Role.REPRESENTATIVE and (place_id is None or place_id in up))))


def buttons(wish: Wish, party: WishParty) -> dict[str, object]:
    return keyboard(Keyboard.WISH, wish_id=wish.id, party=party.value, state=wish.state.value)


class WishLifecycle:
    def __init__(self, session: AsyncSession, clock: Clock, rules: errands.ErrandRules) -> None:
        self.session = session
        self.clock = clock
        self.rules = rules

    def _check(self, wish: Wish, action: WishAction) -> None:
        if wish.state not in TRANSITIONS[action].sources:
            raise InvalidInput("err_wish_state", id=wish.id,
                               state=plain(f"wish_now_{wish.state}"))

    async def _move(self, wish: Wish, actor: Person, action: WishAction, to: S) -> None:
        self._check(wish, action)
        now = self.clock.now()
        self.session.add(WishEvent(wish_id=wish.id, actor_id=actor.id, action=action.value,
                                   from_state=wish.state, to_state=to.value, at=now))
        wish.state, wish.updated_at = to, now
        # Every card of it already sent shows the buttons of now; once claimed, only the
        # claimer keeps any (认领 goes from everyone else's card).
        claimer = await self.session.get(Person, wish.claimer_id) if wish.claimer_id else None
        await refresh_copies(
            self.session, Keyboard.WISH, "wish_id", wish.id, to.value, now,
            lambda chat_id, party: party != WishParty.HELPER or claimer is None
            or chat_id == claimer.tg_user_id)

    async def _resident(self, wish: Wish) -> list[int]:
        person = await self.session.get(Person, wish.resident_id)
        return [person.tg_user_id] if person and person.tg_user_id else []

    def _text(self, wish: Wish, venue: str) -> str:
        return t("wish_summary", id=wish.id, venue=venue, text=esc(wish.text, 400),
                 value=wish.value)

    async def submit(self, resident: Person, key: str, venue_id: int, text: str,
                     value: int) -> Wish:
        done = await self.session.scalar(sa.select(Wish).where(Wish.submission_key == key))
        if done is not None:
            return done
        venue = await errands.venue(self.session, venue_id)
        text, now = check_text(text), self.clock.now()
        if not 1 <= value <= self.rules.wish_value_limit:
            raise InvalidInput("err_wish_value", limit=self.rules.wish_value_limit)
        privacy.consent(resident, self.clock)
        wish = Wish(submission_key=key, venue_id=venue.id, resident_id=resident.id, text=text,
                    value=value, state=S.SUBMITTED, created_at=now, updated_at=now)
        self.session.add(wish)
        await self.session.flush()
        self.session.add(WishEvent(wish_id=wish.id, actor_id=resident.id, action=W.SUBMIT,
                                   from_state=None, to_state=S.SUBMITTED.value, at=now))
        organisers = await errands.organiser_chats(self.session, venue.id)
        enqueue(self.session, organisers, kind="wish_new", now=now, priority=NORMAL,
                markup=buttons(wish, WishParty.ORGANISER),
                text=t("ob_wish_new", summary=self._text(wish, venue.name)))
        return wish

    async def publish(self, wish: Wish, organiser: Person) -> None:
        await self._move(wish, organiser, W.PUBLISH, S.PUBLISHED)
        venue = await errands.venue(self.session, wish.venue_id)
        now = self.clock.now()
        enqueue(self.session, await _helpers_chats(self.session, wish.venue_id),
                kind="wish_published", now=now, markup=buttons(wish, WishParty.HELPER),
                text=t("ob_wish_published", summary=self._text(wish, venue.name)))
        enqueue(self.session, await self._resident(wish), kind="wish_published", now=now,
                text=t("ob_wish_published_resident", id=wish.id))

    async def reject(self, wish: Wish, organiser: Person) -> None:
        await self._move(wish, organiser, W.REJECT, S.REJECTED)
        enqueue(self.session, await self._resident(wish), kind="wish_rejected",
                now=self.clock.now(), text=t("ob_wish_rejected", id=wish.id))

    async def claim(self, wish: Wish, helper: Person) -> None:
        if not await _helps(self.session, helper, wish.venue_id):
            raise NotAllowed()
        self._check(wish, W.CLAIM)
        wish.claimer_id, wish.claimed_at = helper.id, self.clock.now()
        await self._move(wish, helper, W.CLAIM, S.CLAIMED)
        enqueue(self.session, await self._resident(wish), kind="wish_claimed",
                now=self.clock.now(), text=t("ob_wish_claimed", id=wish.id, name=helper.name))

    async def fulfil(self, wish: Wish, helper: Person, photo: str | None) -> None:
        if wish.claimer_id != helper.id:
            raise NotAllowed()
        if not photo:
            raise InvalidInput("err_wish_photo")
        await self._move(wish, helper, W.FULFIL, S.FULFILLED)
        wish.photo, wish.fulfilled_at = photo, self.clock.now()
        chats = await self._resident(wish) + await errands.organiser_chats(
            self.session, wish.venue_id)
        enqueue(self.session, chats, kind="wish_fulfilled", now=self.clock.now(),
                photos=[photo], text=t("ob_wish_fulfilled", id=wish.id, name=helper.name,
                                       text=esc(wish.text, 400)))
