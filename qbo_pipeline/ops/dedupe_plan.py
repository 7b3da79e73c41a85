"""Dedupe, step 1 (reads only): find duplicate customers, vendors or items in QBO, choose a
survivor per group and list every transaction reference that a merge would re-point.

Duplicates: active records whose normalized name is equal (casefold, punctuation and all
whitespace ignored, a trailing " (deleted)" ignored) or — customers and vendors — whose
normalized e-mail is equal; groups are the connected components of those matches.

Survivor: the record linked to JobsiteOn in the id map (the oldest one if several are), else
the oldest by MetaData.CreateTime, else the lowest Id. The plan says which rule decided.

References (re-pointed by `dedupe_qbo.repoint`, in this order, invoices and credit memos
before the payments applied to them — QBO requires a payment's invoices to belong to its
customer):
  customer  Customer.ParentRef (sub-customers), Invoice/CreditMemo/RefundReceipt/Payment
            CustomerRef, Deposit Line DepositLineDetail.Entity (type CUSTOMER)
  vendor    PurchaseOrder VendorRef, Deposit Line DepositLineDetail.Entity (type VENDOR)
  item      Invoice/CreditMemo/RefundReceipt Line SalesItemLineDetail.ItemRef,
            PurchaseOrder Line ItemBasedExpenseLineDetail.ItemRef
Header references are found with `Ref IN (...)` queries; line references need a scan of the
documents (QBO cannot filter on lines), shown with a tqdm progress bar when asked.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator

from tqdm import tqdm

from qbo_pipeline.qbo import Condition, QBOClient
from qbo_pipeline.reconcile.normalize import normalize_email, normalize_name
from qbo_pipeline.state import StateStore

_DELETED_SUFFIX = re.compile(r"\s*\(deleted\)\s*$", re.IGNORECASE)
IN_CHUNK = 100
_NEVER = datetime.max.replace(tzinfo=timezone.utc)


class DedupeError(Exception):
    """A dedupe step cannot go on; the message names the record, the cause and the fix."""


@dataclass(frozen=True)
class NameList:
    kind: str  # customer | vendor | item (the CLI's --entity)
    qbo_entity: str
    registry: str  # id-map entity
    jobsiteon_entity: str
    name_field: str
    by_email: bool
    rename_on_merge: bool


KINDS: dict[str, NameList] = {
    "customer": NameList("customer", "Customer", "customers", "contacts", "DisplayName", True, True),
    "vendor": NameList("vendor", "Vendor", "vendors", "vendors", "DisplayName", True, True),
    "item": NameList("item", "Item", "items", "pricebook_items", "FullyQualifiedName", False, False),
}


@dataclass(frozen=True)
class Site:
    """Where a transaction points at a name-list record."""

    qbo_entity: str
    path: str  # header: "CustomerRef"; line: "<DetailType>.<Ref>"
    in_lines: bool = False
    entity_type: str | None = None  # DepositLineDetail.Entity.type that counts


SITES: dict[str, tuple[Site, ...]] = {
    "customer": (
        Site("Customer", "ParentRef"),
        Site("Invoice", "CustomerRef"),
        Site("CreditMemo", "CustomerRef"),
        Site("RefundReceipt", "CustomerRef"),
        Site("Payment", "CustomerRef"),
        Site("Deposit", "DepositLineDetail.Entity", True, "CUSTOMER"),
    ),
    "vendor": (
        Site("PurchaseOrder", "VendorRef"),
        Site("Deposit", "DepositLineDetail.Entity", True, "VENDOR"),
    ),
    "item": (
        Site("Invoice", "SalesItemLineDetail.ItemRef", True),
        Site("CreditMemo", "SalesItemLineDetail.ItemRef", True),
        Site("RefundReceipt", "SalesItemLineDetail.ItemRef", True),
        Site("PurchaseOrder", "ItemBasedExpenseLineDetail.ItemRef", True),
    ),
}


@dataclass(frozen=True)
class RefChange:
    """One reference to re-point: `before` -> `after` at `path` of a record (and line)."""

    qbo_entity: str
    record_id: str
    path: str
    before: str
    after: str
    line: str | None = None  # the line's Id, or "#<index>" for lines without one
    label: str | None = None  # DocNumber or name, for people

    @property
    def key(self) -> tuple[str, str, str, str | None]:
        return (self.qbo_entity, self.record_id, self.path, self.line)

    def reversed(self) -> RefChange:
        return RefChange(self.qbo_entity, self.record_id, self.path, self.after, self.before, self.line, self.label)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RefChange:
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__})

    def describe(self) -> str:
        where = f"{self.qbo_entity} {self.record_id}" + (f" ({self.label})" if self.label else "")
        line = f" line {self.line}" if self.line else ""
        return f"{where}{line} {self.path}: {self.before} -> {self.after}"


@dataclass(frozen=True)
class Member:
    qbo_id: str
    name: str
    email: str | None
    created_at: str | None
    sync_token: str
    type: str | None = None  # items
    parent_id: str | None = None  # sub-customers
    jobsiteon_id: str | None = None

    def label(self) -> str:
        return f"{self.qbo_id} {self.name!r}"


@dataclass
class MergeGroup:
    matched_on: list[str]
    survivor: Member
    duplicates: list[Member]
    reason: str
    references: dict[str, list[RefChange]] = field(default_factory=dict)  # duplicate id -> changes
    blocked: dict[str, str] = field(default_factory=dict)  # duplicate id -> why it is not merged

    def to_dict(self) -> dict[str, Any]:
        return {
            "matched_on": self.matched_on,
            "survivor": asdict(self.survivor),
            "reason": self.reason,
            "duplicates": [
                {
                    **asdict(d),
                    "references": [c.to_dict() for c in self.references.get(d.qbo_id, [])],
                    "blocked": self.blocked.get(d.qbo_id),
                }
                for d in self.duplicates
            ],
        }


@dataclass
class DedupePlan:
    workspace_id: str
    realm_id: str
    kind: str
    groups: list[MergeGroup]
    scanned: dict[str, int] = field(default_factory=dict)  # records read per QBO entity

    @property
    def spec(self) -> NameList:
        return KINDS[self.kind]

    @property
    def merges(self) -> int:
        return sum(1 for g in self.groups for d in g.duplicates if d.qbo_id not in g.blocked)

    @property
    def reference_count(self) -> int:
        return sum(len(v) for g in self.groups for k, v in g.references.items() if k not in g.blocked)

    def to_dict(self) -> dict[str, Any]:
        return {
            "workspace_id": self.workspace_id,
            "realm_id": self.realm_id,
            "entity": self.kind,
            "groups": [g.to_dict() for g in self.groups],
            "merges": self.merges,
            "references": self.reference_count,
            "scanned": self.scanned,
        }


def kind_spec(kind: str) -> NameList:
    try:
        return KINDS[kind]
    except KeyError:
        raise DedupeError(f"cannot dedupe {kind!r}: choose one of {', '.join(KINDS)}") from None


def name_key(name: object) -> str | None:
    """Casefolded, punctuation- and whitespace-free name; " (deleted)" suffix ignored."""
    if not isinstance(name, str):
        return None
    key = normalize_name(_DELETED_SUFFIX.sub("", name))
    return key.replace(" ", "") if key else None


def plan_dedupe(
    client: QBOClient, state: StateStore, workspace_id: str, kind: str, *, progress: bool = False
) -> DedupePlan:
    """The dry-run plan: groups, survivors and the references each merge would re-point.
    Only reads QBO."""
    spec = kind_spec(kind)
    records = [r.to_wire() for r in client.query_all(spec.qbo_entity)]
    scanned = {spec.qbo_entity: len(records)}
    links = state.id_map.frame(workspace_id, spec.registry)
    linked = dict(zip(links["qbo_id"].astype(str), links["jobsiteon_id"].astype(str)))
    members = [_member(spec, record, linked) for record in records]
    if kind == "item":
        members = [m for m in members if m.type != "Category"]
    groups = [_group(spec, found) for found in _components(spec, members)]
    groups.sort(key=lambda g: _id_order(g.survivor.qbo_id))
    _block_unsafe(kind, groups, {m.qbo_id: m for m in members})
    survivor_of = {d.qbo_id: g.survivor.qbo_id for g in groups for d in g.duplicates}
    if survivor_of:
        changes = find_references(client, kind, survivor_of, records, scanned=scanned, progress=progress)
        for group in groups:
            for dup in group.duplicates:
                group.references[dup.qbo_id] = [c for c in changes if c.before == dup.qbo_id]
    return DedupePlan(workspace_id, client.realm_id, kind, groups, scanned)


def find_references(
    client: QBOClient,
    kind: str,
    survivor_of: dict[str, str],
    name_records: list[dict[str, Any]] | None = None,
    *,
    scanned: dict[str, int] | None = None,
    progress: bool = False,
) -> list[RefChange]:
    """Every reference to a duplicate (keys of `survivor_of`), as changes to its survivor,
    in the order they must be applied (SITES order)."""
    scanned = scanned if scanned is not None else {}
    dup_ids = sorted(survivor_of, key=_id_order)
    changes: list[RefChange] = []
    cache: dict[str, list[dict[str, Any]]] = {}
    for site in SITES[kind]:
        if site.qbo_entity == KINDS[kind].qbo_entity:  # sub-records of the name list itself
            rows = name_records if name_records is not None else [r.to_wire() for r in client.query_all(site.qbo_entity)]
        elif site.in_lines:
            if site.qbo_entity not in cache:
                cache[site.qbo_entity] = _scan(client, site.qbo_entity, progress)
                scanned[site.qbo_entity] = len(cache[site.qbo_entity])
            rows = cache[site.qbo_entity]
        else:
            rows = []
            for start in range(0, len(dup_ids), IN_CHUNK):
                chunk = dup_ids[start : start + IN_CHUNK]
                where = [Condition(site.path, "IN", chunk).render()]
                rows.extend(r.to_wire() for r in client.iter_query_all(site.qbo_entity, where))
            scanned[site.qbo_entity] = scanned.get(site.qbo_entity, 0) + len(rows)
        for row in sorted(rows, key=lambda r: _id_order(str(r.get("Id")))):
            changes.extend(_changes_in(site, row, survivor_of))
    return changes


def _scan(client: QBOClient, entity: str, progress: bool) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with tqdm(desc=f"scanning {entity} lines", unit=" records", disable=not progress or None, leave=False) as bar:
        for page in client.iter_query_pages(entity):
            rows.extend(r.to_wire() for r in page.rows)
            bar.update(len(page.rows))
    return rows


def _changes_in(site: Site, row: dict[str, Any], survivor_of: dict[str, str]) -> Iterator[RefChange]:
    record_id = str(row.get("Id"))
    label = row.get("DocNumber") or row.get("DisplayName") or row.get("Name")
    if not site.in_lines:
        value = ref_value(row.get(site.path))
        if value in survivor_of and value != record_id:
            yield RefChange(site.qbo_entity, record_id, site.path, value, survivor_of[value], None, label)
        return
    for index, line in enumerate(row.get("Line") or []):
        ref = line_ref(line, site.path)
        if ref is None:
            continue
        value = ref_value(ref)
        kind = str(ref.get("type") or "").upper()
        if value in survivor_of and (site.entity_type is None or kind in ("", site.entity_type)):
            yield RefChange(site.qbo_entity, record_id, site.path, value, survivor_of[value], line_key(line, index), label)


def line_key(line: dict[str, Any], index: int) -> str:
    return str(line["Id"]) if line.get("Id") not in (None, "") else f"#{index}"


def line_ref(line: dict[str, Any], path: str) -> dict[str, Any] | None:
    detail_name, ref_name = path.split(".", 1)
    detail = line.get(detail_name)
    if not isinstance(detail, dict):
        return None
    ref = detail.get(ref_name)
    return ref if isinstance(ref, dict) else None


def ref_value(ref: Any) -> str | None:
    if isinstance(ref, dict):
        value = ref.get("value")
        return None if value in (None, "") else str(value)
    return None


def _member(spec: NameList, record: dict[str, Any], linked: dict[str, str]) -> Member:
    qbo_id = str(record["Id"])
    email = (record.get("PrimaryEmailAddr") or {}).get("Address") if spec.by_email else None
    return Member(
        qbo_id=qbo_id,
        name=str(record.get(spec.name_field) or record.get("DisplayName") or record.get("Name") or ""),
        email=email,
        created_at=(record.get("MetaData") or {}).get("CreateTime"),
        sync_token=str(record.get("SyncToken")),
        type=record.get("Type"),
        parent_id=ref_value(record.get("ParentRef")),
        jobsiteon_id=linked.get(qbo_id),
    )


def _components(spec: NameList, members: list[Member]) -> Iterator[tuple[list[Member], list[str]]]:
    """Groups of 2+ members sharing a name or e-mail key (union-find), with the keys that
    joined them."""
    parent = list(range(len(members)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    by_key: dict[str, list[int]] = {}
    for index, member in enumerate(members):
        keys = [f"name {name_key(member.name)!r}"] if name_key(member.name) else []
        if spec.by_email and normalize_email(member.email):
            keys.append(f"email {normalize_email(member.email)!r}")
        for key in keys:
            by_key.setdefault(key, []).append(index)
    for indexes in by_key.values():
        for other in indexes[1:]:
            parent[find(other)] = find(indexes[0])
    roots: dict[int, list[int]] = {}
    for index in range(len(members)):
        roots.setdefault(find(index), []).append(index)
    for indexes in roots.values():
        if len(indexes) < 2:
            continue
        chosen = set(indexes)
        keys = sorted(k for k, v in by_key.items() if len(v) > 1 and chosen.issuperset(v))
        yield [members[i] for i in indexes], keys


def _group(spec: NameList, found: tuple[list[Member], list[str]]) -> MergeGroup:
    group, keys = found
    ordered = sorted(group, key=lambda m: (m.jobsiteon_id is None, _created(m), _id_order(m.qbo_id)))
    survivor, duplicates = ordered[0], ordered[1:]
    return MergeGroup(keys, survivor, duplicates, _reason(spec, survivor, group))


def _reason(spec: NameList, survivor: Member, group: list[Member]) -> str:
    linked = [m for m in group if m.jobsiteon_id is not None]
    if len(linked) == 1:
        return f"the only one linked to JobsiteOn ({spec.jobsiteon_entity} {survivor.jobsiteon_id})"
    pool = linked or group
    times = {_created(m) for m in pool}
    if len(times) > 1 and sum(_created(m) == _created(survivor) for m in pool) == 1:
        rule = f"the oldest by MetaData.CreateTime ({survivor.created_at})"
    else:
        rule = "the lowest Id (same CreateTime)"
    if linked:
        return f"{rule} of the {len(linked)} linked to JobsiteOn ({spec.jobsiteon_entity} {survivor.jobsiteon_id})"
    return f"{rule}; none is linked to JobsiteOn"


def _block_unsafe(kind: str, groups: list[MergeGroup], members: dict[str, Member]) -> None:
    for group in groups:
        survivor = group.survivor
        for dup in group.duplicates:
            if kind == "item" and (dup.type or "") != (survivor.type or ""):
                group.blocked[dup.qbo_id] = (
                    f"item types differ ({dup.type} vs survivor's {survivor.type}); QuickBooks posts them to "
                    "different accounts — merge by hand or change the type first"
                )
            elif kind == "customer" and dup.qbo_id in _ancestors(survivor, members):
                group.blocked[dup.qbo_id] = (
                    f"the survivor {survivor.label()} is a sub-customer of {dup.label()}; "
                    "re-parent it in QuickBooks first"
                )


def _ancestors(member: Member, members: dict[str, Member]) -> set[str]:
    seen: set[str] = set()
    parent = member.parent_id
    while parent and parent not in seen:
        seen.add(parent)
        parent = members[parent].parent_id if parent in members else None
    return seen


def _created(member: Member) -> datetime:
    """CreateTime as an aware datetime; unknown sorts last."""
    try:
        moment = datetime.fromisoformat(str(member.created_at).replace("Z", "+00:00"))
    except ValueError:
        return _NEVER
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _id_order(qbo_id: str) -> tuple[int, str]:
    return (int(qbo_id), "") if qbo_id.isdigit() else (1 << 62, qbo_id)


def changes_by_record(changes: Iterable[RefChange]) -> dict[tuple[str, str], list[RefChange]]:
    """Changes grouped per record, in first-appearance order (which is apply order)."""
    grouped: dict[tuple[str, str], list[RefChange]] = {}
    for change in changes:
        grouped.setdefault((change.qbo_entity, change.record_id), []).append(change)
    return grouped
