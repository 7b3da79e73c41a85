"""Database URL handling shared by the state store and the JobsiteOn store."""
from __future__ import annotations


def normalize_url(url: str) -> str:
    """Pins plain Postgres URLs to psycopg2, the installed driver (SQLAlchemy 2.1 maps
    `postgresql://` to psycopg 3, which dagster-postgres does not use)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix):]
    return url
