"""The schema the gateway kept before migrations, whole: every table, with every column
added to it over time, and keys' ids filled in.

On a new database this makes every table. On one made before migrations (a takeover) it
makes the tables missing, adds the columns an older release did not have and gives ids to
keys made before keys had them; Alembic then stamps the database at this revision.

Revision ID: 0001
Revises:
"""

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Timestamps and dollars: REAL as SQLite always had them; double precision on PostgreSQL,
# whose REAL has 24 bits (a timestamp would lose its seconds).
REAL: sa.types.TypeEngine = sa.Double().with_variant(sa.REAL(), "sqlite")
# Tokens: a day of cache reads passes 2**31.
TOKENS: sa.types.TypeEngine = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
INDEXES = (("spend_holds_by_key", "spend_holds", ["key"]),
           ("key_requests_by_key", "key_requests", ["key", "at"]))


def _zero(name: str, kind=sa.Integer()) -> sa.Column:
    return sa.Column(name, kind, nullable=False, server_default=sa.text("0"))


def tables() -> dict[str, list]:
    """Each table's columns and constraints, made afresh for each use."""
    return {
        "sessions": [
            sa.Column("session_id", sa.Text(), primary_key=True),
            sa.Column("workspace", sa.Text(), nullable=False),
            sa.Column("created_at", REAL, nullable=False),
            sa.Column("used_at", REAL, nullable=False),
            _zero("turns"),
            sa.Column("owner", sa.Text(), nullable=False, server_default=""),
            sa.Column("last_message", sa.Text()),
            sa.Column("title", sa.Text()),
            _zero("cost_usd", REAL),
            sa.Column("fork_of", sa.Text()),  # a fork made by the sessions API: its source
            sa.Column("fork_at", sa.Text()),  # and the source's message it continues after
        ],
        "conversations": [
            sa.Column("fingerprint", sa.Text(), primary_key=True),
            sa.Column("session_id", sa.Text(), nullable=False),
            sa.Column("options", sa.Text(), nullable=False),
            sa.Column("used_at", REAL, nullable=False),
            _zero("turns"),
            sa.Column("message", sa.Text()),
        ],
        "api_keys": [
            sa.Column("name", sa.Text(), primary_key=True),
            sa.Column("hash", sa.Text(), nullable=False, unique=True),
            sa.Column("scopes", sa.Text(), nullable=False),
            sa.Column("rpm", sa.Integer()),
            sa.Column("daily_tokens", TOKENS),
            sa.Column("daily_usd", REAL),
            _zero("capture"),
            sa.Column("created_at", REAL, nullable=False),
            sa.Column("revoked_at", REAL),
            sa.Column("id", sa.Text()),  # the key's identity; older keys keep their name's hash
        ],
        "usage": [
            sa.Column("key", sa.Text(), nullable=False),
            sa.Column("day", sa.Text(), nullable=False),
            _zero("turns"),
            _zero("input_tokens", TOKENS),
            _zero("output_tokens", TOKENS),
            _zero("cost_usd", REAL),
            _zero("calls"),
            _zero("largest_call_tokens", TOKENS),
            _zero("largest_call_usd", REAL),
            sa.PrimaryKeyConstraint("key", "day"),
        ],
        "spend_holds": [
            sa.Column("id", sa.Text(), primary_key=True),
            sa.Column("key", sa.Text(), nullable=False),
            sa.Column("tokens", TOKENS, nullable=False),
            sa.Column("usd", REAL, nullable=False),
            sa.Column("until", REAL, nullable=False),
        ],
        "key_requests": [
            sa.Column("key", sa.Text(), nullable=False),
            sa.Column("at", REAL, nullable=False),
        ],
        "approvals": [
            sa.Column("id", sa.Text(), primary_key=True),
            sa.Column("owner", sa.Text(), nullable=False),
            sa.Column("session_id", sa.Text()),
            sa.Column("worker", sa.Integer(), nullable=False),
            sa.Column("request", sa.Text(), nullable=False),
            sa.Column("created_at", REAL, nullable=False),
            sa.Column("expires_at", REAL, nullable=False),
            sa.Column("status", sa.Text(), nullable=False),
            sa.Column("answer", sa.Text()),
        ],
    }


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for name, parts in tables().items():
        if not inspector.has_table(name):
            op.create_table(name, *parts)
            continue
        present = {column["name"] for column in inspector.get_columns(name)}
        for column in parts:
            if isinstance(column, sa.Column) and column.name not in present:
                op.add_column(name, column)
    for index, table, columns in INDEXES:
        op.create_index(index, table, columns, if_not_exists=True)
    _give_old_keys_ids()


def downgrade() -> None:
    raise NotImplementedError("the first revision is never undone: it would drop the keys, and "
                              "a server that had keys must not come up keyless")


def _give_old_keys_ids() -> None:
    """Keys made before keys had ids take the identity their sessions were kept under."""
    bind = op.get_bind()
    names = bind.execute(sa.text("SELECT name FROM api_keys WHERE id IS NULL")).scalars().all()
    for name in names:
        owner = hashlib.sha256(("key-name:" + name).encode()).hexdigest()
        bind.execute(sa.text("UPDATE api_keys SET id = :id WHERE name = :name"),
                     {"id": owner, "name": name})
