"""Per-realm fault injection for tests and demos: random 5xx SystemFaults, slow answers that
outlast the client's timeout, a burst of 429s, early expiry of access tokens. Deterministic when
a seed is given."""
from __future__ import annotations

import dataclasses
import random
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import EmulatorBackend

TIMEOUT_MODES = ("execute", "drop")


@dataclass
class FaultSettings:
    error_rate: float = 0.0        # share of API requests answered 5xx + SystemFault 10000
    error_status: int = 503        # 503 or 500
    timeout_rate: float = 0.0      # share of API requests that sleep timeout_seconds first
    timeout_seconds: float = 30.0  # real seconds: make it longer than the client's timeout
    timeout_mode: str = "execute"  # "execute": then run and answer; "drop": then 504, nothing done
    throttle_burst: int = 0        # the next N API requests answer 429
    seed: int | None = None

    def public(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Decision:
    kind: str                      # "throttle" | "error" | "timeout"
    status: int = 0
    seconds: float = 0.0
    mode: str = "execute"


class FaultInjector:
    def __init__(self, backend: "EmulatorBackend") -> None:
        self.backend = backend
        self.lock = threading.Lock()
        self.settings: dict[str, FaultSettings] = {}
        self.random: dict[str, random.Random] = {}

    def clear(self, realm_id: str | None = None) -> None:
        with self.lock:
            if realm_id is None:
                self.settings.clear()
                self.random.clear()
            else:
                self.settings.pop(realm_id, None)
                self.random.pop(realm_id, None)

    def get(self, realm_id: str) -> FaultSettings:
        return self.settings.get(realm_id) or FaultSettings()

    def configure(self, realm_id: str, values: dict[str, Any]) -> dict[str, Any]:
        """Applies the fields given; `expire_tokens: true` expires the realm's access tokens now.
        Raises ValueError naming a bad field."""
        values = dict(values)
        expire = bool(values.pop("expire_tokens", False))
        known = {f.name for f in dataclasses.fields(FaultSettings)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown fault setting(s) {unknown}; known: {sorted(known | {'expire_tokens'})}")
        with self.lock:
            current = dataclasses.replace(self.get(realm_id), **values)
            for name in ("error_rate", "timeout_rate"):
                rate = float(getattr(current, name))
                if not 0.0 <= rate <= 1.0:
                    raise ValueError(f"{name} must be between 0 and 1, got {rate}")
                setattr(current, name, rate)
            if int(current.error_status) not in (500, 502, 503, 504):
                raise ValueError(f"error_status must be 500, 502, 503 or 504, got {current.error_status}")
            if current.timeout_mode not in TIMEOUT_MODES:
                raise ValueError(f"timeout_mode must be one of {TIMEOUT_MODES}")
            current.throttle_burst = int(current.throttle_burst)
            self.settings[realm_id] = current
            if "seed" in values or realm_id not in self.random:
                self.random[realm_id] = random.Random(current.seed)
        result = current.public()
        if expire:
            result["expired_tokens"] = self.backend.tokens.expire_realm(realm_id)
        return result

    def decide(self, realm_id: str) -> Decision | None:
        current = self.settings.get(realm_id)
        if current is None:
            return None
        with self.lock:
            if current.throttle_burst > 0:
                current.throttle_burst -= 1
                return Decision("throttle")
            rng = self.random.setdefault(realm_id, random.Random(current.seed))
            if current.error_rate and rng.random() < current.error_rate:
                return Decision("error", status=int(current.error_status))
            if current.timeout_rate and rng.random() < current.timeout_rate:
                return Decision("timeout", seconds=float(current.timeout_seconds), mode=current.timeout_mode)
        return None
