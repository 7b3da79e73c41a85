"""The id map: which JobsiteOn record is which QBO record, per workspace and entity, with
the versions and content hash last synced."""
from __future__ import annotations

from typing import Any, Iterable, Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Connection as SAConnection

from typing import TYPE_CHECKING

from qbo_pipeline.state._repo import Repository
from qbo_pipeline.state.db import upsert_insert
from qbo_pipeline.state.errors import IdMapConflict
from qbo_pipeline.state.schema import id_map as t
from qbo_pipeline.state.types import utcnow

if TYPE_CHECKING:  # pandas is imported lazily: the CLI and the webhook receiver never need it
    import pandas as pd

FRAME_COLUMNS = [
    "jobsiteon_id",
    "qbo_id",
    "qbo_sync_token",
    "qbo_updated_at",
    "jobsiteon_updated_at",
    "content_hash",
    "synced_at",
]
_OPTIONAL = ("qbo_sync_token", "qbo_updated_at", "jobsiteon_updated_at", "content_hash")
_CHUNK = 500


class IdMapRepository(Repository):
    def frame(self, workspace_id: str, entity: str) -> pd.DataFrame:
        """All links for one workspace and entity as a DataFrame with FRAME_COLUMNS
        (timestamps as UTC datetime64; ids as strings)."""
        import pandas as pd

        query = (
            sa.select(*[t.c[name] for name in FRAME_COLUMNS])
            .where(t.c.workspace_id == workspace_id, t.c.entity == entity)
            .order_by(t.c.id)
        )
        with self._read() as conn:
            rows = conn.execute(query).all()
        frame = pd.DataFrame.from_records(rows, columns=FRAME_COLUMNS)
        for column in ("qbo_updated_at", "jobsiteon_updated_at", "synced_at"):
            frame[column] = pd.to_datetime(frame[column], utc=True)
        for column in ("jobsiteon_id", "qbo_id", "qbo_sync_token", "content_hash"):
            frame[column] = frame[column].astype("object")
        return frame

    def upsert(
        self,
        workspace_id: str,
        entity: str,
        links: pd.DataFrame | Iterable[Mapping[str, Any]],
        *,
        conn: SAConnection | None = None,
    ) -> int:
        """Inserts or updates links keyed by jobsiteon_id, all in one transaction; returns
        the number of links written. Each link needs jobsiteon_id and qbo_id; the version
        columns are optional (missing ones keep their stored value).

        Raises `IdMapConflict` (writing nothing) if a QBO id would be linked to two
        JobsiteOn records — unlink the old pair first with `delete()`."""
        rows = _normalize(links)
        if not rows:
            return 0
        by_qbo: dict[str, str] = {}
        for row in rows:
            other = by_qbo.setdefault(row["qbo_id"], row["jobsiteon_id"])
            if other != row["jobsiteon_id"]:
                raise IdMapConflict(
                    f"{entity} QBO id {row['qbo_id']} is linked to two JobsiteOn records "
                    f"({other}, {row['jobsiteon_id']}) in one upsert for workspace {workspace_id}"
                )
        now = utcnow()
        with self._write(conn) as c:
            self._check_conflicts(c, workspace_id, entity, by_qbo)
            for start in range(0, len(rows), _CHUNK):
                chunk = rows[start : start + _CHUNK]
                # Rows in one INSERT must share columns; group by which optional ones are set.
                for columns, group in _group_by_columns(chunk).items():
                    stmt = upsert_insert(self._dialect, t).values(
                        [{**r, "workspace_id": workspace_id, "entity": entity, "synced_at": now} for r in group]
                    )
                    update = {name: stmt.excluded[name] for name in ("qbo_id", "synced_at", *columns)}
                    c.execute(
                        stmt.on_conflict_do_update(
                            index_elements=[t.c.workspace_id, t.c.entity, t.c.jobsiteon_id], set_=update
                        )
                    )
        return len(rows)

    def get_by_jobsiteon(self, workspace_id: str, entity: str, jobsiteon_id: str) -> dict[str, Any] | None:
        return self._one(workspace_id, entity, t.c.jobsiteon_id == jobsiteon_id)

    def get_by_qbo(self, workspace_id: str, entity: str, qbo_id: str) -> dict[str, Any] | None:
        return self._one(workspace_id, entity, t.c.qbo_id == qbo_id)

    def delete(
        self,
        workspace_id: str,
        entity: str,
        *,
        jobsiteon_ids: Iterable[str] = (),
        qbo_ids: Iterable[str] = (),
    ) -> int:
        """Unlinks pairs by either side's id; returns how many links were removed."""
        jobsiteon_ids, qbo_ids = list(jobsiteon_ids), list(qbo_ids)
        if not jobsiteon_ids and not qbo_ids:
            return 0
        removed = 0
        with self._write() as c:
            for column, ids in ((t.c.jobsiteon_id, jobsiteon_ids), (t.c.qbo_id, qbo_ids)):
                for start in range(0, len(ids), _CHUNK):
                    removed += c.execute(
                        sa.delete(t).where(
                            t.c.workspace_id == workspace_id,
                            t.c.entity == entity,
                            column.in_(ids[start : start + _CHUNK]),
                        )
                    ).rowcount
        return removed

    def count(self, workspace_id: str, entity: str | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(t).where(t.c.workspace_id == workspace_id)
        if entity is not None:
            query = query.where(t.c.entity == entity)
        with self._read() as c:
            return int(c.execute(query).scalar_one())

    def _one(self, workspace_id: str, entity: str, condition) -> dict[str, Any] | None:
        query = sa.select(*[t.c[n] for n in FRAME_COLUMNS]).where(
            t.c.workspace_id == workspace_id, t.c.entity == entity, condition
        )
        with self._read() as c:
            row = c.execute(query).first()
        return dict(row._mapping) if row else None

    @staticmethod
    def _check_conflicts(c: SAConnection, workspace_id: str, entity: str, by_qbo: dict[str, str]) -> None:
        qbo_ids = list(by_qbo)
        for start in range(0, len(qbo_ids), _CHUNK):
            existing = c.execute(
                sa.select(t.c.qbo_id, t.c.jobsiteon_id).where(
                    t.c.workspace_id == workspace_id,
                    t.c.entity == entity,
                    t.c.qbo_id.in_(qbo_ids[start : start + _CHUNK]),
                )
            )
            clashes = [(q, j) for q, j in existing if by_qbo[q] != j]
            if clashes:
                q, j = clashes[0]
                raise IdMapConflict(
                    f"{entity} QBO id {q} is already linked to JobsiteOn record {j} in workspace "
                    f"{workspace_id}, so it cannot also be linked to {by_qbo[q]} "
                    f"({len(clashes)} such conflict(s)); unlink with id_map.delete() first"
                )


def _normalize(links: pd.DataFrame | Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    import pandas as pd

    if isinstance(links, pd.DataFrame):
        records = links.to_dict("records")
    else:
        records = [dict(link) for link in links]
    latest: dict[str, dict[str, Any]] = {}
    for record in records:
        row = {"jobsiteon_id": str(record["jobsiteon_id"]), "qbo_id": str(record["qbo_id"])}
        for name in _OPTIONAL:
            if name in record and not _is_missing(record[name]):
                value = record[name]
                row[name] = value.to_pydatetime() if isinstance(value, pd.Timestamp) else value
        latest[row["jobsiteon_id"]] = row  # last one wins within a batch
    return list(latest.values())


def _group_by_columns(rows: list[dict[str, Any]]) -> dict[tuple[str, ...], list[dict[str, Any]]]:
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(n for n in _OPTIONAL if n in row), []).append(row)
    return groups


def _is_missing(value: Any) -> bool:
    import pandas as pd

    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
