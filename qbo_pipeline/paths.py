"""Where the embedded default keeps its files."""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """The project's data directory (SQLite files, DAGSTER_HOME, emulator state)."""
    path = Path(os.environ.get("QBO_PIPELINE_DATA_DIR", PROJECT_ROOT / "data"))
    path.mkdir(parents=True, exist_ok=True)
    return path
