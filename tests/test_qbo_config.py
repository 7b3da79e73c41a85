"""QBO endpoints per environment and deterministic request ids."""
from __future__ import annotations

import pytest

from qbo_pipeline.qbo.config import QBOEndpoints
from qbo_pipeline.qbo.idempotency import derived_request_id, request_id_for


def test_production_and_sandbox():
    prod = QBOEndpoints.for_environment("production")
    assert prod.api_base == "https://quickbooks.api.intuit.com"
    assert prod.company_url("123") == "https://quickbooks.api.intuit.com/v3/company/123"
    assert prod.authorize_url == "https://appcenter.intuit.com/connect/oauth2"
    assert prod.token_url == "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
    assert prod.revoke_url == "https://developer.api.intuit.com/v2/oauth2/tokens/revoke"
    sandbox = QBOEndpoints.for_environment("sandbox")
    assert sandbox.api_base == "https://sandbox-quickbooks.api.intuit.com"
    assert sandbox.token_url == prod.token_url


def test_emulator_and_env_overrides():
    emu = QBOEndpoints.for_environment("emulator", emulator_base_url="http://127.0.0.1:9999/")
    assert emu.company_url("1") == "http://127.0.0.1:9999/v3/company/1"
    assert emu.token_url == "http://127.0.0.1:9999/oauth2/v1/tokens/bearer"
    assert emu.revoke_url == "http://127.0.0.1:9999/v2/oauth2/tokens/revoke"
    assert emu.authorize_url == "http://127.0.0.1:9999/connect/oauth2"
    assert QBOEndpoints.from_env({}).api_base == "http://127.0.0.1:8765"
    env = {"QBO_ENVIRONMENT": "sandbox", "QBO_TOKEN_URL": "http://tok", "QBO_API_BASE_URL": "http://api/v3/"}
    custom = QBOEndpoints.from_env(env)
    assert custom.api_base == "http://api" and custom.token_url == "http://tok"
    assert custom.authorize_url == "https://appcenter.intuit.com/connect/oauth2"
    with pytest.raises(ValueError):
        QBOEndpoints.for_environment("staging")


def test_request_ids_are_deterministic_and_distinct():
    a = request_id_for("ws1", "Customer", "c-42", "create", 1)
    assert a == request_id_for("ws1", "Customer", "c-42", "create", 1)
    assert len(a) == 36
    assert a != request_id_for("ws1", "Customer", "c-42", "create", 2)
    assert request_id_for("a|b") != request_id_for("a", "b")
    assert derived_request_id(a, "stale", "3") != a
