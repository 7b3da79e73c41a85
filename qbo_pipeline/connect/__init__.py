"""Connecting a workspace to a QBO company (OAuth 2.0 code flow) and disconnecting it."""
from qbo_pipeline.connect.callback import CallbackResult, LoopbackCallback
from qbo_pipeline.connect.flow import AppConfig, ConnectError, connect_workspace, disconnect_workspace

__all__ = [
    "AppConfig",
    "CallbackResult",
    "ConnectError",
    "LoopbackCallback",
    "connect_workspace",
    "disconnect_workspace",
]
