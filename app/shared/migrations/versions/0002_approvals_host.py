"""A permission question records the host whose worker holds it: with several hosts, a
worker's pid tells whether it lives only on its own host.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # '' is this host's, as every question made before the column was
    op.add_column("approvals", sa.Column("host", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    op.drop_column("approvals", "host")
