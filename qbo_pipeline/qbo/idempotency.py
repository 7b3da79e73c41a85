"""Deterministic QBO `requestid`s.

QBO remembers a `requestid` per company and answers a repeated request with the original
response instead of executing it again. Deriving the id from what the operation *is*
(workspace, entity, source id, operation, version) rather than from a random number makes a
retried create idempotent even when the retry happens in another process after a crash.
"""
from __future__ import annotations

import uuid

# Fixed namespace so ids are stable across processes, hosts and releases.
REQUEST_ID_NAMESPACE = uuid.UUID("6f1c3c4e-8a57-5b1e-9d0a-2b7c4e1f9a30")
MAX_REQUEST_ID_LENGTH = 36  # 50 for single calls, 36 for batch; a UUID fits both


def request_id_for(*parts: object) -> str:
    """A UUID (36 chars) determined only by `parts`.

    >>> request_id_for("ws1", "Customer", "c-42", "create", 1) == request_id_for("ws1", "Customer", "c-42", "create", 1)
    True
    """
    if not parts:
        raise ValueError("request_id_for needs at least one part naming the operation")
    # Length-prefix each part so ("a|b",) and ("a", "b") cannot collide.
    name = "".join(f"{len(text)}:{text}|" for text in (_text(part) for part in parts))
    return str(uuid.uuid5(REQUEST_ID_NAMESPACE, name))


def derived_request_id(request_id: str, *suffix: object) -> str:
    """A new id for a follow-up request of one logical operation (e.g. the retry after a
    stale-object fault, which must not replay the stored fault)."""
    return request_id_for("derived", request_id, *suffix)


def _text(part: object) -> str:
    if part is None:
        return "\x00none"
    return str(part)
