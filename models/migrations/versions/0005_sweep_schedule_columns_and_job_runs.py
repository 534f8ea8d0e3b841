"""sweep schedule columns and job runs

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 12:36:25.222852
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from models.base import UTCDateTime

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MOMENTS = ('remind_at', 'escalate_at', 'callback_at', 'accept_by')


def upgrade() -> None:
    op.create_table(
        'job_runs',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('ran_at', UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name', 'key', name=op.f('pk_job_runs')),
    )
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        for name in (*MOMENTS, 'whistled_at'):
            batch_op.add_column(sa.Column(name, UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('reminders_sent', sa.Integer(), nullable=False,
                                      server_default='0'))
        for name in MOMENTS:
            batch_op.create_index(batch_op.f(f'ix_tickets_{name}'), [name], unique=False)
    # Open tickets from before this revision: their deadline still escalates.
    op.execute("UPDATE tickets SET escalate_at = due_at "
               "WHERE state IN ('assigned', 'accepted') AND due_at IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        for name in MOMENTS:
            batch_op.drop_index(batch_op.f(f'ix_tickets_{name}'))
        for name in (*MOMENTS, 'whistled_at', 'reminders_sent'):
            batch_op.drop_column(name)
    op.drop_table('job_runs')
