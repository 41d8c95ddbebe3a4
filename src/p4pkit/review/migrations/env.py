"""Alembic's environment: runs the migrations on the connection `p4pkit.review.db.upgrade` hands over.

There is no alembic.ini: `upgrade` builds the configuration in code, so migrations run the same
from any working directory, and the connection (with its PostgreSQL schema) comes from the caller.
"""

from alembic import context

from p4pkit.review.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata)
with context.begin_transaction():
    context.run_migrations()
