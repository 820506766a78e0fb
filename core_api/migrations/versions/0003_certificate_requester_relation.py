"""certificate requests record the requester's relation; registrations the informant's phone

A request says how the requester is related to the person on the record (self, parent,
spouse, child, other) and whether the registrar must verify the requester (their verified
number is not the informant's phone the registration recorded). Requests made before keep
no relation and need no verification.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 12:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('bnd_registrations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('informant_phone', sa.String(length=20), nullable=True))

    with op.batch_alter_table('certificate_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('relation', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('needs_verification', sa.Boolean(),
                                      server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('certificate_requests', schema=None) as batch_op:
        batch_op.drop_column('needs_verification')
        batch_op.drop_column('relation')

    with op.batch_alter_table('bnd_registrations', schema=None) as batch_op:
        batch_op.drop_column('informant_phone')
