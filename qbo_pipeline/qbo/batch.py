"""QBO batch API: up to 30 operations per request, one outcome per operation.

Each chunk carries a deterministic `requestid` derived from its items (and the caller's
optional request id), so re-sending the same chunk — by the transport after a timeout, or
by a re-run after a crash — makes QBO replay its first answer instead of creating twice.
bIds are short (`b0`..`b29`; QBO allows at most 10 characters with a requestid).

If a chunk still fails after the transport's retries, `run_batch` raises; outcomes of the
chunks before it are not lost in effect: calling again with the same operations replays them.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Literal, Sequence

from .errors import ErrorCategory, QBOError, error_from_fault
from .idempotency import request_id_for
from .jsoncodec import dumps
from .models import Entity, canonical_entity_name, parse_entity, wire_body

if TYPE_CHECKING:
    from .client import QBOClient

MAX_BATCH_ITEMS = 30
MAX_BID_LENGTH = 10
Operation = Literal["create", "update", "delete", "query"]
_ITEM_META_KEYS = {"bId", "Fault", "QueryResponse", "operation", "time", "batchItemRequest"}


@dataclass(frozen=True)
class BatchOperation:
    """One item. `body` is a model or dict (query: the query text); `key` is the caller's
    own label, returned in the outcome and never sent."""

    operation: Operation
    entity: str
    body: Any = None
    bid: str | None = None
    key: Any = None

    @classmethod
    def create(cls, entity: str, body: Any, *, key: Any = None, bid: str | None = None) -> "BatchOperation":
        return cls("create", canonical_entity_name(entity), body, bid, key)

    @classmethod
    def update(cls, entity: str, body: Any, *, sparse: bool = True, key: Any = None,
               bid: str | None = None) -> "BatchOperation":
        wire = wire_body(body)
        wire["sparse"] = sparse
        return cls("update", canonical_entity_name(entity), wire, bid, key)

    @classmethod
    def delete(cls, entity: str, id: str, sync_token: str, *, key: Any = None,
               bid: str | None = None) -> "BatchOperation":
        return cls("delete", canonical_entity_name(entity), {"Id": str(id), "SyncToken": str(sync_token)}, bid, key)

    @classmethod
    def query(cls, text: str, *, entity: str = "", key: Any = None, bid: str | None = None) -> "BatchOperation":
        return cls("query", entity, text, bid, key)

    def wire_item(self, bid: str) -> dict[str, Any]:
        if self.operation == "query":
            return {"bId": bid, "Query": str(self.body)}
        if self.operation not in ("create", "update", "delete"):
            raise ValueError(f"batch operation must be create, update, delete or query, not {self.operation!r}")
        return {"bId": bid, "operation": self.operation, canonical_entity_name(self.entity): wire_body(self.body)}

    def record_context(self) -> dict[str, Any]:
        body = self.body if isinstance(self.body, dict) else (
            self.body.to_wire() if hasattr(self.body, "to_wire") else {}
        )
        return {
            "operation": f"batch {self.operation}",
            "entity": self.entity or None,
            "record_id": body.get("Id"),
            "doc_number": body.get("DocNumber"),
            "record_name": body.get("DisplayName") or body.get("Name"),
        }


@dataclass
class BatchOutcome:
    operation: BatchOperation
    bid: str
    entity: Entity | None = None
    entities: list[Entity] | None = None  # query items
    error: QBOError | None = None
    request_id: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def key(self) -> Any:
        return self.operation.key

    @property
    def result(self) -> Entity | list[Entity] | QBOError | None:
        if self.error is not None:
            return self.error
        return self.entities if self.operation.operation == "query" else self.entity


@dataclass
class _Chunk:
    operations: list[BatchOperation]
    bids: list[str]
    items: list[dict[str, Any]] = field(default_factory=list)
    request_id: str = ""


def plan_chunks(
    operations: Sequence[BatchOperation], *, request_id: str | None = None, chunk_size: int = MAX_BATCH_ITEMS
) -> list[_Chunk]:
    if not 1 <= chunk_size <= MAX_BATCH_ITEMS:
        raise ValueError(f"chunk_size must be between 1 and {MAX_BATCH_ITEMS}")
    chunks: list[_Chunk] = []
    for start in range(0, len(operations), chunk_size):
        ops = list(operations[start : start + chunk_size])
        bids = [op.bid or f"b{index}" for index, op in enumerate(ops)]
        for bid in bids:
            if len(bid) > MAX_BID_LENGTH:
                raise ValueError(f"bId {bid!r} is longer than {MAX_BID_LENGTH} characters (QBO's limit with a requestid)")
        if len(set(bids)) != len(bids):
            raise ValueError(f"duplicate bIds in one batch request: {bids}")
        chunk = _Chunk(ops, bids, [op.wire_item(bid) for op, bid in zip(ops, bids)])
        digest = hashlib.sha256(dumps(chunk.items).encode()).hexdigest()
        chunk.request_id = request_id_for("batch", request_id or "", digest)
        chunks.append(chunk)
    return chunks


def run_batch(
    client: "QBOClient",
    operations: Iterable[BatchOperation],
    *,
    request_id: str | None = None,
    chunk_size: int = MAX_BATCH_ITEMS,
) -> list[BatchOutcome]:
    """Outcomes in the order of `operations`."""
    outcomes: list[BatchOutcome] = []
    for chunk in plan_chunks(list(operations), request_id=request_id, chunk_size=chunk_size):
        try:
            body = client._post_batch({"BatchItemRequest": chunk.items}, chunk.request_id)
        except QBOError as error:
            error.with_context(operation=f"batch of {len(chunk.items)} (requestid {chunk.request_id})",
                               entity="batch")
            raise
        outcomes.extend(_outcomes(chunk, body))
    return outcomes


def _outcomes(chunk: _Chunk, body: Any) -> list[BatchOutcome]:
    items = body.get("BatchItemResponse") if isinstance(body, dict) else None
    by_bid = {str(item.get("bId")): item for item in (items or []) if isinstance(item, dict)}
    results = []
    for op, bid in zip(chunk.operations, chunk.bids):
        outcome = BatchOutcome(op, bid, request_id=chunk.request_id)
        item = by_bid.get(bid)
        if item is None:
            outcome.error = QBOError.create(
                "QuickBooks returned no result for this batch item",
                category=ErrorCategory.SERVER,
                detail=f"bId {bid} missing from BatchItemResponse",
            ).with_context(**op.record_context())
        elif isinstance(item.get("Fault"), dict):
            outcome.error = error_from_fault(item["Fault"]).with_context(**op.record_context())
        elif "QueryResponse" in item:
            outcome.entities = _query_entities(item["QueryResponse"], op.entity)
        else:
            name, value = next(
                ((key, val) for key, val in item.items() if key not in _ITEM_META_KEYS and isinstance(val, dict)),
                (op.entity, None),
            )
            if value is None:
                outcome.error = QBOError.create(
                    "batch item answered without an entity", category=ErrorCategory.SERVER
                ).with_context(**op.record_context())
            else:
                outcome.entity = parse_entity(name, value)
        results.append(outcome)
    return results


def _query_entities(query_response: Any, entity: str) -> list[Entity]:
    if not isinstance(query_response, dict):
        return []
    for key, value in query_response.items():
        if isinstance(value, list):
            return [parse_entity(key, row) for row in value]
    return []
