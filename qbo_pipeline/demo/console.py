"""Concise progress lines: a numbered step header, then indented facts, with the seconds
since the demo started."""
from __future__ import annotations

import sys
import time

_START = time.monotonic()


def elapsed() -> float:
    return time.monotonic() - _START


def step(number: int, title: str) -> None:
    _write(f"\n[{elapsed():6.1f}s] {number}. {title}")


def info(text: str, indent: int = 1) -> None:
    pad = "   " * indent
    for line in str(text).splitlines() or [""]:
        _write(f"{pad}{line}")


def warn(text: str) -> None:
    info(f"! {text}")


def _write(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
