"""Keeps secrets out of log lines, exception text and reprs.

QBO's own 401 bodies can echo part of the rejected token ("Token expired: eyJlbmMiOi..."), so
text from the server is scrubbed too, not only what we format ourselves.
"""
from __future__ import annotations

import re
from typing import Iterable

REDACTED = "[redacted]"

# "Bearer x", "Basic x", token=..., "Token expired: x" and JWT/JWE-looking blobs.
_PATTERNS = (
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(?i)\b((?:access|refresh|id)?_?token|client_secret|authorization)(\"?\s*[=:]\s*\"?)[^\s\"&,;]+"),
    re.compile(r"(?i)([?&]code=)[^\s&]+"),
    re.compile(r"(?i)(token (?:expired|invalid|revoked)\s*:\s*)\S+"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*)*"),
    re.compile(r"\bAB1\d[A-Za-z0-9]{20,}"),  # Intuit refresh tokens and authorization codes
)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with every known secret and every token-looking fragment replaced."""
    if not text:
        return text
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    text = _PATTERNS[0].sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _PATTERNS[1].sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    text = _PATTERNS[2].sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    text = _PATTERNS[3].sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    text = _PATTERNS[4].sub(REDACTED, text)
    text = _PATTERNS[5].sub(REDACTED, text)
    return text


def fingerprint(secret: str | None) -> str:
    """A short, non-reversible label to tell tokens apart in logs."""
    if not secret:
        return "none"
    import hashlib

    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()[:8]
