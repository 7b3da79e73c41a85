"""Small helpers that turn frames into Dagster UI metadata."""
from __future__ import annotations

import pandas as pd

PREVIEW_ROWS = 5
MAX_CELL = 60


def frame_markdown(frame: pd.DataFrame, limit: int = PREVIEW_ROWS) -> str:
    """A markdown table of the first rows (nested columns such as `lines` and raw JSON
    left out; long cells cut)."""
    if frame.empty:
        return "_no rows_"
    shown = frame.drop(columns=[c for c in ("lines", "qbo_raw") if c in frame.columns]).head(limit)
    header = "| " + " | ".join(map(str, shown.columns)) + " |"
    rule = "|" + "---|" * len(shown.columns)
    rows = [
        "| " + " | ".join(_cell(value) for value in row) + " |" for row in shown.itertuples(index=False)
    ]
    more = f"\n\n_{len(frame) - limit} more rows_" if len(frame) > limit else ""
    return "\n".join([header, rule, *rows]) + more


def _cell(value) -> str:
    text = "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"
