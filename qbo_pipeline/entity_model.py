"""The registry's vocabulary: directions, field kinds, conflict policies, FieldMap, MatchKey,
LineSpec, EntitySpec and the workspace settings the mapping needs. See qbo_pipeline.entities
for what each means; this module only defines the types (no registry, no I/O)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import Enum
from typing import Any

class Direction(str, Enum):
    TWO_WAY = "two_way"
    PUSH = "push"  # JobsiteOn -> QBO
    PULL = "pull"  # QBO -> JobsiteOn


class Kind(str, Enum):
    TEXT = "text"
    EMAIL = "email"
    PHONE = "phone"
    MONEY = "money"
    QTY = "qty"
    DATE = "date"
    BOOL = "bool"
    ENUM = "enum"
    REF = "ref"
    TAX_CODE = "tax_code"
    LINES = "lines"


class Conflict(str, Enum):
    MOST_RECENT = "most_recent"
    JOBSITEON = "jobsiteon"
    QBO = "qbo"


class RegistryError(ValueError):
    """A record cannot be mapped as asked (unmapped reference, missing setting, ...)."""


@dataclass(frozen=True)
class FieldMap:
    column: str
    qbo_path: str | None
    kind: Kind = Kind.TEXT
    ref: str | None = None
    direction: Direction | None = None
    conflict: Conflict | None = None
    read_only: bool = False
    compare: bool = True
    check: bool = False
    values: tuple[tuple[str, str], ...] = ()  # (canonical, QBO) for enums
    read_values: tuple[tuple[str, str], ...] = ()  # extra QBO -> canonical, read only
    derive: str | None = None
    required: bool = False
    recomputed: bool = False  # QBO recomputes it from pushed fields (balance from lines)


@dataclass(frozen=True)
class MatchKey:
    name: str  # id_map | email | name | doc_number | <composite name>
    columns: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()  # normalizers (reconcile.normalize.KEYS), one per column
    scope: str = "all"  # "all" | "unlinked"
    guard: tuple[tuple[str, str], ...] = ()  # (column, kind): both set and different -> no match


@dataclass(frozen=True)
class LineSpec:
    table: str
    parent_column: str
    detail_type: str | None  # None: the line carries no *Detail object (deposits)
    fields: tuple[FieldMap, ...]
    amount_of: tuple[str, str] | None = None  # (qty column, price column) -> Line.Amount
    amount_column: str | None = None  # lines that store their amount (deposits)
    account_line_detail: str | None = None  # lines without a linked txn post to an account

    @property
    def compared(self) -> tuple[FieldMap, ...]:
        return tuple(f for f in self.fields if f.compare)


@dataclass(frozen=True)
class Reference:
    column: str
    entity: str
    required: bool
    in_lines: bool


@dataclass(frozen=True)
class EntitySpec:
    name: str
    qbo_entity: str
    jobsiteon_table: str
    direction: Direction
    fields: tuple[FieldMap, ...]
    match_keys: tuple[MatchKey, ...]
    is_name_list: bool = False
    deletable_in_qbo: bool = True
    qbo_remove: str = "delete"  # what delete_qbo does: "void" | "delete"
    push_creates: bool | None = None
    push_updates: bool | None = None
    pull_creates: bool | None = None
    pull_updates: bool | None = None
    conflict_policy: Conflict = Conflict.MOST_RECENT
    line_spec: LineSpec | None = None
    archived_column: str | None = None  # JobsiteOn bool column meaning "inactive" (items)
    void_status: tuple[str, str] | None = None  # (column, value) meaning voided in JobsiteOn
    sync_statuses: tuple[str, tuple[str, ...]] | None = None  # only these rows sync
    qbo_inactive_policy: str = "archive"  # inactive in QBO -> "archive" in JobsiteOn | "flag"
    qbo_edit_policy: str = "overwrite"  # push-only field edited in QBO -> "overwrite" | "flag"
    jobsiteon_defaults: tuple[tuple[str, Any], ...] = ()  # set on records created from QBO
    qbo_create_defaults: tuple[tuple[str, str, bool], ...] = ()  # (path, setting, required)
    references: tuple[Reference, ...] = field(init=False)

    def __post_init__(self) -> None:
        push = self.direction in (Direction.TWO_WAY, Direction.PUSH)
        pull = self.direction in (Direction.TWO_WAY, Direction.PULL)
        for flag, default in (
            ("push_creates", push), ("push_updates", push),
            ("pull_creates", pull), ("pull_updates", pull),
        ):
            if getattr(self, flag) is None:
                object.__setattr__(self, flag, default)
        refs = [Reference(f.column, f.ref, f.required, False) for f in self.fields if f.kind is Kind.REF]
        if self.line_spec is not None:
            refs += [
                Reference(f.column, f.ref, f.required, True)
                for f in self.line_spec.fields if f.kind is Kind.REF
            ]
        object.__setattr__(self, "references", tuple(refs))

    # -- derived views -------------------------------------------------------------------

    @property
    def compared_fields(self) -> tuple[FieldMap, ...]:
        return tuple(f for f in self.fields if f.compare and f.derive != "active")

    @property
    def referenced_entities(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.entity for r in self.references))

    @property
    def qbo_columns(self) -> list[str]:
        columns = list(QBO_META_COLUMNS) + [f.column for f in self.fields]
        return columns + (["lines"] if self.line_spec else [])

    def field_map(self, column: str) -> FieldMap:
        for fm in self.fields:
            if fm.column == column:
                return fm
        raise KeyError(f"{self.name} has no field {column!r}")

    def field_direction(self, fm: FieldMap) -> Direction:
        return fm.direction or self.direction

    def can_push(self, fm: FieldMap | None = None) -> bool:
        if fm is not None and (fm.read_only or fm.check):
            return False
        if fm is not None and fm.direction is Direction.PULL:
            return False
        return bool(self.push_updates) or (fm is not None and fm.direction is Direction.PUSH)

    def can_pull(self, fm: FieldMap | None = None) -> bool:
        if fm is not None and fm.check:
            return False
        if fm is not None and fm.direction is Direction.PUSH:
            return False
        if fm is not None and fm.direction is Direction.PULL:
            return True
        return bool(self.pull_updates)

    def with_conflict_overrides(self, overrides: Mapping[str, Conflict | str]) -> EntitySpec:
        """A copy whose fields named in `overrides` resolve conflicts as given (a workspace's
        policy: e.g. {"email": "jobsiteon"})."""
        unknown = set(overrides) - {f.column for f in self.fields} - {"lines"}
        if unknown:
            raise RegistryError(f"{self.name}: no field(s) {sorted(unknown)} to override")
        fields = tuple(
            replace(f, conflict=Conflict(overrides[f.column])) if f.column in overrides else f
            for f in self.fields
        )
        return replace(self, fields=fields)


QBO_META_COLUMNS = ("qbo_id", "qbo_sync_token", "qbo_updated_at", "qbo_active", "qbo_status")


# -- workspace settings --------------------------------------------------------------------

@dataclass(frozen=True)
class WorkspaceSettings:
    """What a workspace mapped at connect time, as the registry needs it."""

    income_account_id: str | None = None
    tax_code_taxable: str = "TAX"
    tax_code_non_taxable: str = "NON"
    tax_rate: Decimal | None = None  # fraction, 0.08 = 8 %
    txn_tax_code_id: str | None = None
    ap_account_id: str | None = None
    deposit_account_id: str | None = None
    refund_account_id: str | None = None
    accounts: Mapping[str, str] = field(default_factory=dict)  # account name -> QBO id
    payment_methods: Mapping[str, str] = field(default_factory=dict)  # method -> QBO id
    send_global_tax_calculation: bool = True

    _ALIASES = {
        "default_income_account_id": "income_account_id",
        "default_income_account": "income_account_id",
        "income_account": "income_account_id",
        "ap_account": "ap_account_id",
        "deposit_account": "deposit_account_id",
    }

    @classmethod
    def coerce(cls, value: object) -> WorkspaceSettings:
        """Accepts None, a WorkspaceSettings, the state's ConnectionSettings or a mapping;
        `tax_code_mapping` may be {"taxable"|"TAX"|True: code, "non_taxable"|"NON"|False: code}."""
        if isinstance(value, WorkspaceSettings):
            return value
        if value is None:
            return cls()
        if isinstance(value, Mapping):
            data = dict(value)
        elif hasattr(value, "__dataclass_fields__"):
            data = {name: getattr(value, name) for name in value.__dataclass_fields__}
        else:
            raise RegistryError(f"settings must be a mapping or dataclass, got {type(value).__name__}")
        known = set(cls.__dataclass_fields__)
        kwargs: dict[str, Any] = {}
        for key, item in data.items():
            key = cls._ALIASES.get(key, key)
            if key in known and item is not None:
                kwargs[key] = item
        mapping = data.get("tax_code_mapping") or {}
        for key, code in dict(mapping).items():
            marker = str(key).strip().lower()
            if marker in ("taxable", "tax", "true", "yes"):
                kwargs["tax_code_taxable"] = str(code)
            elif marker in ("non_taxable", "nontaxable", "non", "false", "no", "exempt"):
                kwargs["tax_code_non_taxable"] = str(code)
        if "tax_rate" in kwargs:
            kwargs["tax_rate"] = Decimal(str(kwargs["tax_rate"]))
        elif data.get("tax_percent") is not None:
            kwargs["tax_rate"] = Decimal(str(data["tax_percent"])) / 100
        return cls(**kwargs)

    def account_id(self, name: object, default: str | None) -> str | None:
        if isinstance(name, str) and name in self.accounts:
            return str(self.accounts[name])
        return default

    def account_name(self, account_id: object) -> str | None:
        for name, value in self.accounts.items():
            if str(value) == str(account_id):
                return name
        return None
