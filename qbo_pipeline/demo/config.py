"""Where the demo keeps its files, which ports it uses, and the environment every process
it starts shares (the variables the resources read, docs/PIPELINE.md)."""
from __future__ import annotations

import os
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path

from qbo_pipeline.emulator.settings import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_VERIFIER_TOKEN
from qbo_pipeline.paths import PROJECT_ROOT

WORKSPACE_ID = "demo"
KEY_FILE = "token.key"
# Removed at the start of every run: a fresh emulator (in memory) needs fresh sync state.
RESET = ("state.db", "state.db-wal", "state.db-shm", "jobsiteon.db", "jobsiteon.db-wal", "jobsiteon.db-shm", "logs")


class DemoError(Exception):
    """The demo cannot go on; the message says what failed and what to do."""


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _port(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise DemoError(f"{name}={raw!r} is not a port number; use 1-65535")
    return int(raw)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class DemoConfig:
    data_dir: Path
    scale: float
    seed: int
    noninteractive: bool
    emulator_port: int
    receiver_port: int
    dagster_port: int
    redirect_port: int
    summary_path: Path
    live_timeout: float
    throttle: bool
    project_root: Path = PROJECT_ROOT
    workspace_id: str = WORKSPACE_ID
    _key: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls) -> DemoConfig:
        data = os.environ.get("DEMO_DATA_DIR") or os.environ.get("QBO_PIPELINE_DATA_DIR") or PROJECT_ROOT / "data"
        try:
            scale = float(os.environ.get("DEMO_SCALE", "1.0"))
        except ValueError:
            raise DemoError(f"DEMO_SCALE={os.environ['DEMO_SCALE']!r} is not a number; e.g. DEMO_SCALE=0.1") from None
        if scale <= 0:
            raise DemoError("DEMO_SCALE must be positive (1.0 = 500 contacts, 2,000 invoices)")
        summary = os.environ.get("DEMO_SUMMARY_PATH") or PROJECT_ROOT / ".demo" / "summary.json"
        return cls(
            data_dir=Path(data).resolve(),
            scale=scale,
            seed=int(os.environ.get("DEMO_SEED", "7")),
            noninteractive=_flag("DEMO_NONINTERACTIVE"),
            emulator_port=_port("DEMO_EMULATOR_PORT", 8765),
            receiver_port=_port("DEMO_RECEIVER_PORT", 8080),
            dagster_port=_port("DEMO_DAGSTER_PORT", 3000),
            redirect_port=_port("DEMO_REDIRECT_PORT", 0) or free_port(),
            summary_path=Path(summary).resolve(),
            live_timeout=float(os.environ.get("DEMO_LIVE_TIMEOUT", "120")),
            throttle=not _flag("DEMO_NO_THROTTLE"),
        )

    # -- paths

    @property
    def demo_dir(self) -> Path:
        return self.data_dir / "demo"

    @property
    def log_dir(self) -> Path:
        return self.demo_dir / "logs"

    @property
    def dagster_home(self) -> Path:
        return self.data_dir / "dagster_home"

    @property
    def state_url(self) -> str:
        return f"sqlite:///{self.demo_dir / 'state.db'}"

    @property
    def jobsiteon_url(self) -> str:
        return f"sqlite:///{self.demo_dir / 'jobsiteon.db'}"

    @property
    def emulator_url(self) -> str:
        return f"http://127.0.0.1:{self.emulator_port}"

    @property
    def receiver_url(self) -> str:
        return f"http://127.0.0.1:{self.receiver_port}"

    @property
    def dagster_url(self) -> str:
        return f"http://127.0.0.1:{self.dagster_port}"

    # -- preparation

    def prepare(self) -> list[str]:
        """Fresh demo state (the token key is kept) and a fresh Dagster instance with the
        repo's dagster.yaml: run keys and sensor cursors of an earlier demo would refer to
        inbox ids of a state database that no longer exists. Returns what was removed."""
        removed = []
        self.demo_dir.mkdir(parents=True, exist_ok=True)
        for name in RESET:
            path = self.demo_dir / name
            if path.is_dir():
                shutil.rmtree(path)
                removed.append(str(path))
            elif path.exists():
                path.unlink()
                removed.append(str(path))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if self.dagster_home.exists():
            shutil.rmtree(self.dagster_home)
            removed.append(str(self.dagster_home))
        self.dagster_home.mkdir(parents=True)
        shutil.copy(self.project_root / "dagster.yaml", self.dagster_home / "dagster.yaml")
        return removed

    def token_key(self) -> str:
        """QBO_PIPELINE_TOKEN_KEY, generated once and kept in data/demo/ (never printed)."""
        if self._key is None:
            from qbo_pipeline.state import generate_key

            path = self.demo_dir / KEY_FILE
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as handle:
                    handle.write(generate_key())
            self._key = path.read_text().strip()
        return self._key

    def env(self) -> dict[str, str]:
        """The environment of every process the demo starts (and of the demo itself)."""
        env = dict(os.environ)
        env.update({
            "QBO_PIPELINE_DATA_DIR": str(self.data_dir),
            "QBO_PIPELINE_DATABASE_URL": self.state_url,
            "JOBSITEON_DATABASE_URL": self.jobsiteon_url,
            "DAGSTER_HOME": str(self.dagster_home),
            "QBO_ENVIRONMENT": "emulator",
            "QBO_EMULATOR_URL": self.emulator_url,
            "QBO_CLIENT_ID": DEFAULT_CLIENT_ID,
            "QBO_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
            "QBO_PIPELINE_TOKEN_KEY": self.token_key(),
            "QBO_WEBHOOK_VERIFIER_TOKEN": DEFAULT_VERIFIER_TOKEN,
            "QBO_REDIRECT_URI": f"http://127.0.0.1:{self.redirect_port}/callback",
            "PYTHONUNBUFFERED": "1",
        })
        return env

    def __repr__(self) -> str:  # the token key stays out of any repr
        return (f"DemoConfig(data_dir={str(self.data_dir)!r}, scale={self.scale}, ports="
                f"{self.emulator_port}/{self.receiver_port}/{self.dagster_port}/{self.redirect_port})")
