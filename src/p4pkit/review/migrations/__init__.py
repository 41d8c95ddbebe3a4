"""Alembic migrations of the review database (configured in code by `p4pkit.review.db`)."""
