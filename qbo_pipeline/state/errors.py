"""Errors raised by the state store. Each names the record, the cause and the fix."""
from __future__ import annotations


class StateError(Exception):
    """Base class for sync-state errors."""


class ConnectionNotFound(StateError):
    def __init__(self, workspace_id: str) -> None:
        super().__init__(
            f"workspace {workspace_id} has no QuickBooks connection; connect it with: "
            f"qbo-pipeline connect --workspace {workspace_id}"
        )
        self.workspace_id = workspace_id


class RealmAlreadyConnected(StateError):
    def __init__(self, realm_id: str, workspace_id: str, other_workspace_id: str | None) -> None:
        owner = f"workspace {other_workspace_id}" if other_workspace_id else "another workspace"
        fix = (
            f"qbo-pipeline disconnect --workspace {other_workspace_id}"
            if other_workspace_id
            else "disconnect the other workspace"
        )
        super().__init__(
            f"cannot connect workspace {workspace_id}: QuickBooks company (realm {realm_id}) is "
            f"already connected to {owner} (one company per workspace); first run: {fix}"
        )
        self.realm_id = realm_id
        self.workspace_id = workspace_id
        self.other_workspace_id = other_workspace_id


class ConnectionNeedsReconnect(StateError):
    """QuickBooks refused the stored refresh token (invalid_grant) repeatedly, or the
    connection is disconnected: only a new user authorization can fix it."""

    category = "auth"
    code = "needs_reconnect"

    def __init__(self, workspace_id: str, realm_id: str | None = None, reason: str = "") -> None:
        realm = f" (realm {realm_id})" if realm_id else ""
        why = f": {reason}" if reason else ""
        super().__init__(
            f"workspace {workspace_id}{realm} must be reconnected to QuickBooks{why}. "
            f"Fix: qbo-pipeline connect --workspace {workspace_id} — syncing resumes by itself "
            f"afterwards"
        )
        self.workspace_id = workspace_id
        self.realm_id = realm_id
        self.hint = f"qbo-pipeline connect --workspace {workspace_id}"


class IdMapConflict(StateError):
    """A link would map one record to two records on the other side."""
