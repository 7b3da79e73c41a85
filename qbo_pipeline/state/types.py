"""Column types that behave the same on PostgreSQL and SQLite."""
from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# SQLite only aliases INTEGER PRIMARY KEY to its rowid (and autoincrements it).
BigIntId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# JSONB on Postgres (indexable, compact); JSON text on SQLite.
JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(sa.TypeDecorator):
    """Timezone-aware UTC datetimes on both dialects.

    SQLite has no timezone type, so values are stored as naive UTC text (which also sorts
    correctly) and come back tagged as UTC. Naive inputs are rejected: a naive datetime
    is ambiguous and silently shifting it would corrupt sync watermarks.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} — pass a timezone-aware value")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)
