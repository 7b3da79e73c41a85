"""Fixtures shared by the state-store, vault and webhook-receiver tests."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pytest

from qbo_pipeline.state import StateStore, TokenVault, generate_key
from qbo_pipeline.state.vault import decode_key


@dataclass(frozen=True)
class Tokens:
    """The shape of qbo_pipeline.qbo.oauth.TokenSet, for tests that only store tokens."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    access_expires_at: datetime | None = None
    refresh_expires_at: datetime | None = None


def tokens(suffix: str = "1", *, access_in: timedelta = timedelta(hours=1)) -> Tokens:
    now = datetime.now(timezone.utc)
    return Tokens(
        access_token=f"access-token-{suffix}",
        refresh_token=f"refresh-token-{suffix}",
        access_expires_at=now + access_in,
        refresh_expires_at=now + timedelta(days=100),
    )


@pytest.fixture()
def store(db_url):
    state = StateStore.from_url(db_url)
    yield state
    state.dispose()


@pytest.fixture()
def pg_store(pg_url):
    state = StateStore.from_url(pg_url)
    yield state
    state.dispose()


@pytest.fixture()
def vault_key() -> str:
    return generate_key()


@pytest.fixture()
def vault(vault_key) -> TokenVault:
    return TokenVault(decode_key(vault_key))
