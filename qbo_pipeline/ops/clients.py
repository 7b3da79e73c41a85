"""The QBO client of a workspace for command-line use, configured from the environment the
same way `qbo-pipeline connect` is (QBO_CLIENT_ID / QBO_CLIENT_SECRET / QBO_ENVIRONMENT or
QBO_EMULATOR_URL, QBO_PIPELINE_TOKEN_KEY). Tokens come from the state database and refresh
through it (DatabaseTokenSource), so the CLI and Dagster runs never race on a refresh."""
from __future__ import annotations

from qbo_pipeline.qbo import QBOClient
from qbo_pipeline.state import StateStore, TokenVault
from qbo_pipeline.state.token_source import DatabaseTokenSource


class OpsConfigError(Exception):
    """The command cannot reach QBO for this workspace; the message says what to set or do."""


def qbo_client_for(state: StateStore, workspace_id: str) -> QBOClient:
    from qbo_pipeline.connect.flow import AppConfig, ConnectError
    from qbo_pipeline.state import VaultError

    connection = state.connections.get(workspace_id)
    if connection is None:
        raise OpsConfigError(
            f"workspace {workspace_id} has no QuickBooks connection; connect it with: "
            f"qbo-pipeline connect --workspace {workspace_id}"
        )
    if connection.status != "connected":
        raise OpsConfigError(
            f"workspace {workspace_id}'s QuickBooks connection is {connection.status}; reconnect with: "
            f"qbo-pipeline connect --workspace {workspace_id}"
        )
    try:
        app = AppConfig.from_env()
        vault = TokenVault.from_env()
    except (ConnectError, VaultError) as exc:
        raise OpsConfigError(str(exc)) from None
    tokens = DatabaseTokenSource(state, vault, workspace_id, app.oauth())
    return QBOClient(connection.realm_id, tokens, app.endpoints)
