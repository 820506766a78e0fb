"""complaint request keys: a filing repeated with the same Idempotency-Key is not filed twice

- ``complaints.request_key``: the filer's Idempotency-Key (the bot sends one per inbound
  message), unique per citizen; older complaints have none.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 15:40:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.add_column(sa.Column('request_key', sa.String(length=64), nullable=True))
        batch_op.create_index('uq_complaints_citizen_request_key',
                              ['citizen_user_id', 'request_key'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.drop_index('uq_complaints_citizen_request_key')
        batch_op.drop_column('request_key')
