"""Run review: lifecycle (review window, disputes, exceptions, corrections, finalization, payment,
publication), users and roles, and the append-only audit log, on SQLite or PostgreSQL.

Modules: `db` (engines, migrations, sessions), `users`, `lifecycle`, `audit`, `models`.
Knows runs, not formulas: a correction records which value changed and why; recomputing scores
with it is the programs' business.
"""
