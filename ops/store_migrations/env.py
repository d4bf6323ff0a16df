"""Alembic's environment for the stores: always run from `ops.stores.upgrade` with a connection
(so the caller's transaction, and on SQLite its write lock, cover the whole upgrade)."""

from alembic import context

from ops.stores import VERSION_TABLE, metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise SystemExit("run the stores' migrations with `python -m ops.stores upgrade URL`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    # SQLite cannot ALTER most things in place: batch mode rebuilds the table where it must.
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
