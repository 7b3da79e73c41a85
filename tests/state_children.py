"""Child-process bodies for the multi-process state tests. A small module of its own so the
children import only what they use (tests start them through a forkserver that preloads it)."""
from __future__ import annotations

import multiprocessing

from qbo_pipeline.qbo import OAuthClient, QBOEndpoints
from qbo_pipeline.state import StateStore, TokenVault, make_engine
from qbo_pipeline.state.token_source import DatabaseTokenSource
from qbo_pipeline.state.vault import decode_key

CLIENT_ID = "emulator-client-id"
CLIENT_SECRET = "emulator-client-secret"


def context():
    """A multiprocessing context whose children start fast and share no DB connections or
    HTTP pools with the test process (unlike fork). The forkserver imports the heavy
    modules once; each child is forked from it. (Python 3.11's forkserver ignores the
    parent's sys.path, so only installed packages can be preloaded, not this module.)"""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["pytest", "qbo_pipeline.state.token_source", "qbo_pipeline.qbo"])
    return ctx


def oauth_client(base_url: str) -> OAuthClient:
    endpoints = QBOEndpoints.for_environment("emulator", emulator_base_url=base_url)
    return OAuthClient(endpoints, CLIENT_ID, CLIENT_SECRET, "http://127.0.0.1/callback", backoff_base=0.01)


def refresh_once(db_url, key, base_url, workspace, rejected, ready, go, out) -> None:
    state = StateStore.from_url(db_url, migrate=False)
    source = DatabaseTokenSource(state, TokenVault(decode_key(key)), workspace, oauth_client(base_url))
    ready.put(1)
    go.wait(30)
    try:
        out.put(("ok", source.refresh(rejected)))
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        out.put(("error", repr(exc)))
    state.dispose()


def drain_inbox(url: str, workspace: str, worker: str, batch: int, ready, go, out) -> None:
    engine = make_engine(url)
    state = StateStore(engine)
    ready.put(1)
    go.wait(30)
    seen = []
    while events := state.inbox.claim(workspace, batch, worker):
        seen.extend(e.id for e in events)
        state.inbox.mark_processed([e.id for e in events])
    engine.dispose()
    out.put((worker, seen))
