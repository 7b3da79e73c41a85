"""Token vault: AES-256-GCM encryption of OAuth tokens at rest.

Each ciphertext is `v1:<key id>:<base64(nonce || ciphertext+tag)>` with a fresh 96-bit
nonce and the realm id as associated data, so a token copied onto another connection row
fails to decrypt. Keys come from the environment:

- `QBO_PIPELINE_TOKEN_KEY` — the current key, base64 of 32 random bytes; all new
  ciphertexts use it.
- `QBO_PIPELINE_TOKEN_KEY_PREVIOUS` — optional, comma-separated older keys, only for
  decrypting while `qbo-pipeline rotate-key` re-encrypts everything under the current key.

The key id is a short SHA-256 fingerprint of the key (not secret-bearing).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Mapping, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_ENV = "QBO_PIPELINE_TOKEN_KEY"
PREVIOUS_KEYS_ENV = "QBO_PIPELINE_TOKEN_KEY_PREVIOUS"
GENERATE_KEY_COMMAND = (
    'python -c "import os,base64;print(base64.b64encode(os.urandom(32)).decode())"'
)
_FORMAT = "v1"
_NONCE_BYTES = 12


class VaultError(Exception):
    """A key is missing or malformed, or a ciphertext cannot be decrypted. Messages never
    contain a key, a token or a ciphertext."""


def generate_key() -> str:
    """A new random key in the form `QBO_PIPELINE_TOKEN_KEY` expects (for demos and tests)."""
    return base64.b64encode(os.urandom(32)).decode("ascii")


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:12]


def decode_key(text: str, env_var: str = KEY_ENV) -> bytes:
    """Parses one base64 key, explaining what is wrong without echoing the value."""
    fix = f"Generate one with: {GENERATE_KEY_COMMAND}"
    cleaned = text.strip()
    try:
        raw = base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):
        raise VaultError(f"{env_var} is not valid base64. {fix}") from None
    if len(raw) != 32:
        raise VaultError(
            f"{env_var} decodes to {len(raw)} bytes; AES-256 needs exactly 32. {fix}"
        )
    return raw


class TokenVault:
    """Encrypts with the current key; decrypts with the current or any previous key."""

    def __init__(self, current_key: bytes, previous_keys: Sequence[bytes] = ()) -> None:
        if len(current_key) != 32:
            raise VaultError(f"the current token key must be 32 bytes, got {len(current_key)}")
        self._current_id = key_id(current_key)
        self._ciphers: dict[str, AESGCM] = {self._current_id: AESGCM(current_key)}
        for key in previous_keys:
            if len(key) != 32:
                raise VaultError(f"a previous token key must be 32 bytes, got {len(key)}")
            self._ciphers.setdefault(key_id(key), AESGCM(key))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TokenVault:
        env = os.environ if environ is None else environ
        current = env.get(KEY_ENV, "").strip()
        if not current:
            raise VaultError(
                f"{KEY_ENV} is not set: it must hold the base64 of a 32-byte key used to "
                f"encrypt QuickBooks tokens at rest. Generate one with: {GENERATE_KEY_COMMAND}"
            )
        previous = [
            decode_key(part, PREVIOUS_KEYS_ENV)
            for part in env.get(PREVIOUS_KEYS_ENV, "").split(",")
            if part.strip()
        ]
        return cls(decode_key(current, KEY_ENV), previous)

    @property
    def key_id(self) -> str:
        """Id of the key new ciphertexts are written with."""
        return self._current_id

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._ciphers)

    def __repr__(self) -> str:
        return f"TokenVault(key_id={self._current_id!r}, keys={len(self._ciphers)})"

    def encrypt(self, plaintext: str, realm_id: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._ciphers[self._current_id].encrypt(
            nonce, plaintext.encode("utf-8"), _aad(realm_id)
        )
        body = base64.b64encode(nonce + sealed).decode("ascii")
        return f"{_FORMAT}:{self._current_id}:{body}"

    def decrypt(self, ciphertext: str, realm_id: str) -> str:
        kid, body = self._split(ciphertext)
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise VaultError(
                f"token was encrypted with key {kid}, which is neither {KEY_ENV} nor listed in "
                f"{PREVIOUS_KEYS_ENV}; set the old key in {PREVIOUS_KEYS_ENV} (or reconnect "
                f"the workspace to get new tokens)"
            )
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise VaultError("token ciphertext is corrupted (not base64)") from None
        if len(raw) <= _NONCE_BYTES:
            raise VaultError("token ciphertext is corrupted (too short)")
        try:
            plain = cipher.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _aad(realm_id))
        except InvalidTag:
            raise VaultError(
                f"token ciphertext for realm {realm_id} failed authentication under key {kid}: "
                f"it was tampered with, belongs to another realm, or the key is wrong"
            ) from None
        return plain.decode("utf-8")

    def key_id_of(self, ciphertext: str) -> str:
        return self._split(ciphertext)[0]

    def needs_rotation(self, ciphertext: str) -> bool:
        return self.key_id_of(ciphertext) != self._current_id

    def reencrypt(self, ciphertext: str, realm_id: str) -> str:
        """The same plaintext under the current key (unchanged text if already current)."""
        if not self.needs_rotation(ciphertext):
            return ciphertext
        return self.encrypt(self.decrypt(ciphertext, realm_id), realm_id)

    @staticmethod
    def _split(ciphertext: str) -> tuple[str, str]:
        parts = ciphertext.split(":", 2) if isinstance(ciphertext, str) else []
        if len(parts) != 3 or parts[0] != _FORMAT:
            raise VaultError("token ciphertext has an unknown format (expected v1:<key id>:<data>)")
        return parts[1], parts[2]


def _aad(realm_id: str) -> bytes:
    return f"qbo-realm:{realm_id}".encode("utf-8")
