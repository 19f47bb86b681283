"""Alembic migrations, shipped inside the package as `inboxtui.migrations`."""
