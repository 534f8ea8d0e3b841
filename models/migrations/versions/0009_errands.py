"""红色代办 and 微心愿: errands, wishes, their events; venue menus/rota; organiser and
volunteer memberships

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 18:19:44.514572
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from models.base import UTCDateTime

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('errands',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('submission_key', sa.String(length=32), nullable=True),
    sa.Column('venue_id', sa.Integer(), nullable=False),
    sa.Column('orderer_id', sa.Integer(), nullable=False),
    sa.Column('item', sa.String(length=64), nullable=False),
    sa.Column('for_other', sa.Boolean(), nullable=False),
    sa.Column('beneficiary_name', sa.String(length=64), nullable=False),
    sa.Column('beneficiary_age', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(length=256), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('care', sa.String(length=16), nullable=False),
    sa.Column('priority', sa.Boolean(), nullable=False),
    sa.Column('wanted_day', sa.Date(), nullable=False),
    sa.Column('window', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('state', sa.Enum('ordered', 'offered', 'accepted', 'visited', 'done', 'closed', 'cancelled', name='errandstate', native_enum=False, length=32), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=True),
    sa.Column('offered', sa.JSON(), nullable=False),
    sa.Column('offer_until', UTCDateTime(timezone=True), nullable=True),
    sa.Column('result_note', sa.Text(), nullable=False),
    sa.Column('result_photo', sa.String(length=256), nullable=True),
    sa.Column('rating', sa.String(length=32), nullable=True),
    sa.Column('hours', sa.Float(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('accepted_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('done_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['orderer_id'], ['people.id'], name=op.f('fk_errands_orderer_id_people')),
    sa.ForeignKeyConstraint(['venue_id'], ['venues.id'], name=op.f('fk_errands_venue_id_venues')),
    sa.ForeignKeyConstraint(['volunteer_id'], ['people.id'], name=op.f('fk_errands_volunteer_id_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_errands')),
    sa.UniqueConstraint('submission_key', name=op.f('uq_errands_submission_key'))
    )
    with op.batch_alter_table('errands', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_errands_offer_until'), ['offer_until'], unique=False)
        batch_op.create_index(batch_op.f('ix_errands_orderer_id'), ['orderer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_errands_state'), ['state'], unique=False)
        batch_op.create_index(batch_op.f('ix_errands_venue_id'), ['venue_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_errands_volunteer_id'), ['volunteer_id'], unique=False)

    op.create_table('wishes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('submission_key', sa.String(length=32), nullable=True),
    sa.Column('venue_id', sa.Integer(), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=False),
    sa.Column('text', sa.String(length=400), nullable=False),
    sa.Column('value', sa.Integer(), nullable=False),
    sa.Column('state', sa.Enum('submitted', 'published', 'claimed', 'fulfilled', 'rejected', name='wishstate', native_enum=False, length=32), nullable=False),
    sa.Column('claimer_id', sa.Integer(), nullable=True),
    sa.Column('photo', sa.String(length=256), nullable=True),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('claimed_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('fulfilled_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['claimer_id'], ['people.id'], name=op.f('fk_wishes_claimer_id_people')),
    sa.ForeignKeyConstraint(['resident_id'], ['people.id'], name=op.f('fk_wishes_resident_id_people')),
    sa.ForeignKeyConstraint(['venue_id'], ['venues.id'], name=op.f('fk_wishes_venue_id_venues')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wishes')),
    sa.UniqueConstraint('submission_key', name=op.f('uq_wishes_submission_key'))
    )
    with op.batch_alter_table('wishes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wishes_claimer_id'), ['claimer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_wishes_resident_id'), ['resident_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_wishes_state'), ['state'], unique=False)
        batch_op.create_index(batch_op.f('ix_wishes_venue_id'), ['venue_id'], unique=False)

    op.create_table('errand_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('errand_id', sa.Integer(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('from_state', sa.String(length=32), nullable=True),
    sa.Column('to_state', sa.String(length=32), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('at', UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['people.id'], name=op.f('fk_errand_events_actor_id_people')),
    sa.ForeignKeyConstraint(['errand_id'], ['errands.id'], name=op.f('fk_errand_events_errand_id_errands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_errand_events'))
    )
    with op.batch_alter_table('errand_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_errand_events_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_errand_events_errand_id'), ['errand_id'], unique=False)

    op.create_table('wish_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('wish_id', sa.Integer(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('from_state', sa.String(length=32), nullable=True),
    sa.Column('to_state', sa.String(length=32), nullable=False),
    sa.Column('at', UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['people.id'], name=op.f('fk_wish_events_actor_id_people')),
    sa.ForeignKeyConstraint(['wish_id'], ['wishes.id'], name=op.f('fk_wish_events_wish_id_wishes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wish_events'))
    )
    with op.batch_alter_table('wish_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wish_events_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_wish_events_wish_id'), ['wish_id'], unique=False)

    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.add_column(sa.Column('venue_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_memberships_venue_id'), ['venue_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_memberships_venue_id_venues'), 'venues', ['venue_id'], ['id'])

    with op.batch_alter_table('venues', schema=None) as batch_op:
        batch_op.add_column(sa.Column('errands', sa.JSON(), nullable=False,
                                      server_default='{}'))



def downgrade() -> None:
    with op.batch_alter_table('venues', schema=None) as batch_op:
        batch_op.drop_column('errands')

    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_memberships_venue_id_venues'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_memberships_venue_id'))
        batch_op.drop_column('venue_id')

    with op.batch_alter_table('wish_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wish_events_wish_id'))
        batch_op.drop_index(batch_op.f('ix_wish_events_at'))

    op.drop_table('wish_events')
    with op.batch_alter_table('errand_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_errand_events_errand_id'))
        batch_op.drop_index(batch_op.f('ix_errand_events_at'))

    op.drop_table('errand_events')
    with op.batch_alter_table('wishes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wishes_venue_id'))
        batch_op.drop_index(batch_op.f('ix_wishes_state'))
        batch_op.drop_index(batch_op.f('ix_wishes_resident_id'))
        batch_op.drop_index(batch_op.f('ix_wishes_claimer_id'))

    op.drop_table('wishes')
    with op.batch_alter_table('errands', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_errands_volunteer_id'))
        batch_op.drop_index(batch_op.f('ix_errands_venue_id'))
        batch_op.drop_index(batch_op.f('ix_errands_state'))
        batch_op.drop_index(batch_op.f('ix_errands_orderer_id'))
        batch_op.drop_index(batch_op.f('ix_errands_offer_until'))

    op.drop_table('errands')
