"""delivery policy and the case lifecycle: case channels, delivery costs, short links, escalation levels, auto-closed complaints

- ``payment_intents.channel`` and ``certificate_requests.channel``: the chat channel the
  case was opened on, so its news goes there (complaints already keep ``source``);
- ``channel_messages.rule``, ``segments``, ``cost``: which delivery rule chose the channel
  and the estimated cost of the message;
- ``short_links``: ``/r/<code>`` links for SMS;
- ``workflow_processes.escalation_level`` / ``escalated_at``: escalation by levels,
  repeated at an interval;
- ``complaints.auto_closed``: a resolution closed by the system, not confirmed by the citizen.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 06:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core_api.db import UTCDateTime

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('payment_intents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel', sa.String(length=16), nullable=True))

    with op.batch_alter_table('certificate_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel', sa.String(length=16), nullable=True))

    with op.batch_alter_table('channel_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rule', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('segments', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('cost', sa.Numeric(precision=10, scale=4), nullable=True))

    with op.batch_alter_table('workflow_processes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('escalation_level', sa.Integer(), server_default='0',
                                      nullable=False))
        batch_op.add_column(sa.Column('escalated_at', UTCDateTime(timezone=True), nullable=True))
    # A process escalated before levels existed has reached level 1: not announced again.
    op.execute("UPDATE workflow_processes SET escalation_level = 1, escalated_at = updated_at "
               "WHERE escalated")

    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.add_column(sa.Column('auto_closed', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))

    op.create_table(
        'short_links',
        sa.Column('code', sa.String(length=16), nullable=False),
        sa.Column('target', sa.String(length=1000), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('expires_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('code', name=op.f('pk_short_links')),
    )
    with op.batch_alter_table('short_links', schema=None) as batch_op:
        batch_op.create_index('ix_short_links_expires', ['expires_at'], unique=False)
        batch_op.create_index('ix_short_links_target', ['kind', 'target'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('short_links', schema=None) as batch_op:
        batch_op.drop_index('ix_short_links_target')
        batch_op.drop_index('ix_short_links_expires')
    op.drop_table('short_links')

    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.drop_column('auto_closed')

    with op.batch_alter_table('workflow_processes', schema=None) as batch_op:
        batch_op.drop_column('escalated_at')
        batch_op.drop_column('escalation_level')

    with op.batch_alter_table('channel_messages', schema=None) as batch_op:
        batch_op.drop_column('cost')
        batch_op.drop_column('segments')
        batch_op.drop_column('rule')

    with op.batch_alter_table('certificate_requests', schema=None) as batch_op:
        batch_op.drop_column('channel')

    with op.batch_alter_table('payment_intents', schema=None) as batch_op:
        batch_op.drop_column('channel')
