"""红色代办: the confirmation reminder and timeout of a finished errand (remind_at,
close_at); errands already waiting get them from the defaults (24 h, 72 h after 已完成)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28 20:30:00
"""

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from models.base import UTCDateTime

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('errands', schema=None) as batch_op:
        batch_op.add_column(sa.Column('remind_at', UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('close_at', UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_errands_remind_at'), ['remind_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_errands_close_at'), ['close_at'], unique=False)
    errands = sa.table('errands', sa.column('id', sa.Integer),
                       sa.column('state', sa.String),
                       sa.column('done_at', UTCDateTime(timezone=True)),
                       sa.column('remind_at', UTCDateTime(timezone=True)),
                       sa.column('close_at', UTCDateTime(timezone=True)))
    conn = op.get_bind()
    waiting = conn.execute(sa.select(errands.c.id, errands.c.done_at).where(
        errands.c.state == 'done', errands.c.done_at.is_not(None))).all()
    for errand_id, done_at in waiting:
        conn.execute(sa.update(errands).where(errands.c.id == errand_id).values(
            remind_at=done_at + dt.timedelta(hours=24),
            close_at=done_at + dt.timedelta(hours=72)))


def downgrade() -> None:
    with op.batch_alter_table('errands', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_errands_close_at'))
        batch_op.drop_index(batch_op.f('ix_errands_remind_at'))
        batch_op.drop_column('close_at')
        batch_op.drop_column('remind_at')
