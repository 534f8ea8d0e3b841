"""The audit log: who did what to whom, and when — staff removal, full-phone views,
privacy requests. It names people by code or id and tickets by number, never by phone."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(sa.String(128))  # "person:12 (D001)", "cli:root"
    action: Mapped[str] = mapped_column(sa.String(32), index=True)
    target: Mapped[str] = mapped_column(sa.String(128), default="")
    detail: Mapped[str] = mapped_column(sa.Text, default="")
