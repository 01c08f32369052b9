"""Alembic migrations for both backends; run them with `raabta db upgrade`."""
