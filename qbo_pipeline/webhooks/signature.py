"""Intuit's webhook signature: base64(HMAC-SHA256(verifier token, raw body))."""
from __future__ import annotations

import base64
import hashlib
import hmac

SIGNATURE_HEADER = "intuit-signature"


def sign(body: bytes, verifier_token: str) -> str:
    digest = hmac.new(verifier_token.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(body: bytes, signature: str | None, verifier_token: str) -> bool:
    """Constant-time check of the `intuit-signature` header against the raw body."""
    if not signature:
        return False
    expected = sign(body, verifier_token).encode("ascii")
    return hmac.compare_digest(expected, signature.strip().encode("ascii", errors="replace"))
