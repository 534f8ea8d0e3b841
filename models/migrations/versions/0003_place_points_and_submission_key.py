"""place points and submission key

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 12:08:48.652052
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('places', schema=None) as batch_op:
        batch_op.add_column(sa.Column('latitude', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('longitude', sa.Float(), nullable=True))

    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('submission_key', sa.String(length=80), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_tickets_submission_key'),
                                          ['submission_key'])



def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_tickets_submission_key'), type_='unique')
        batch_op.drop_column('submission_key')

    with op.batch_alter_table('places', schema=None) as batch_op:
        batch_op.drop_column('longitude')
        batch_op.drop_column('latitude')

