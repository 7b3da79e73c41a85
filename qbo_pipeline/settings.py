"""Deployment settings read from the environment. Secrets are passed to resources as
`EnvVar`s, so their values never appear in the Dagster UI or run config."""
from __future__ import annotations

import os

import dagster as dg


def qbo_resource_config() -> dict:
    return {
        "environment": os.environ.get("QBO_ENVIRONMENT", "emulator"),
        "emulator_url": os.environ.get("QBO_EMULATOR_URL", "http://127.0.0.1:8765"),
        "api_base_url": os.environ.get("QBO_API_BASE_URL"),
        "token_url": os.environ.get("QBO_TOKEN_URL"),
        "revoke_url": os.environ.get("QBO_REVOKE_URL"),
        "authorize_url": os.environ.get("QBO_AUTHORIZE_URL"),
        "client_id": dg.EnvVar("QBO_CLIENT_ID"),
        "client_secret": dg.EnvVar("QBO_CLIENT_SECRET"),
        "redirect_uri": os.environ.get("QBO_REDIRECT_URI", "http://127.0.0.1:8976/callback"),
        "token_key": dg.EnvVar("QBO_PIPELINE_TOKEN_KEY"),
        "time_scale": float(os.environ.get("QBO_PIPELINE_TIME_SCALE", "1.0")),
    }
