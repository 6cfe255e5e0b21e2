"""Alembic environment and revisions. `app.migrate` runs them; `alembic` works too (alembic.ini)."""
