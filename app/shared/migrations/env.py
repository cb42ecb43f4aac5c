"""Alembic's entry point, run by `upgrade` (app/shared/migrations/__init__.py) with the
connection it holds, already in a transaction: Alembic neither connects nor commits."""

from alembic import context

context.configure(connection=context.config.attributes["connection"], target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
