"""SQLAlchemy 2 ORM entities, engine/session factory and Alembic migrations."""

from models.appointments import Booking, BookingState, Slot
from models.audit import AuditEntry
from models.base import Base
from models.errands import Errand, ErrandEvent, ErrandState, Wish, WishEvent, WishState
from models.fsm import FsmRecord
from models.org import Matter, Place, PlaceKind, Unit, Venue, VenueKind
from models.outbox import JobRun, OutboxMessage, OutboxState
from models.people import Invite, Membership, Person, Role
from models.tickets import (
    IN_WORK,
    EventAction,
    Rating,
    Ticket,
    TicketEvent,
    TicketSequence,
    TicketState,
)

__all__ = [
    "AuditEntry",
    "Base",
    "Booking",
    "BookingState",
    "Errand",
    "ErrandEvent",
    "ErrandState",
    "FsmRecord",
    "Invite",
    "JobRun",
    "Matter",
    "Membership",
    "OutboxMessage",
    "OutboxState",
    "Person",
    "Place",
    "PlaceKind",
    "Rating",
    "Role",
    "Slot",
    "Ticket",
    "TicketEvent",
    "TicketSequence",
    "TicketState",
    "IN_WORK",
    "EventAction",
    "Unit",
    "Venue",
    "VenueKind",
    "Wish",
    "WishEvent",
    "WishState",
]
