"""Input rules shared by all entities: unknown properties, blanks, required fields, references.

QBO is lenient about empty strings for unset optional fields, SyncToken sent as a number and
read-only fields sent back (they are ignored); it is strict about unknown properties (2010),
missing required fields (2020) and references to ids that do not exist (2500).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from . import errors
from .entities import META, EntitySpec
from .models import Company, Record

REF_KIND_LABEL = {"Customer": "Names", "Vendor": "Names", "Item": "Item", "Account": "Accounts",
                  "TaxCode": "TaxCode", "TaxRate": "TaxRate"}


@dataclass
class Context:
    """How one write is performed."""

    moment: datetime                      # the server time of this change
    horizon: int | None = None            # batch: only objects with created_seq <= horizon exist
    allow_duplicate_docnum: bool = False  # include=allowduplicatedocnum
    notify: bool = True                   # send webhook events
    resolve_names: bool = False           # seeding: {"name": ...} references resolve by name
    strict: bool = True                   # unknown properties → 2010
    # Side effects move the LastUpdatedTime (and SyncToken) of related objects, as QBO does;
    # seeding turns this off so the times it plants stay where they were put.
    touch_related: bool = True


def blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    if isinstance(value, dict) and set(value) <= {"value", "name"} and "value" in value:
        return blank(value.get("value")) and blank(value.get("name"))
    return False


def check_properties(spec: EntitySpec, body: dict[str, Any], strict: bool) -> None:
    if not strict:
        return
    for key in body:
        if key not in spec.allowed:
            raise errors.unsupported_property(key, spec.name)


def clean(spec: EntitySpec, body: dict[str, Any], *, keep: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The writable part of a body: server-computed fields dropped, blanks dropped, deep-copied."""
    out: dict[str, Any] = {}
    drop = spec.readonly | META
    for key, value in body.items():
        if (key in drop and key not in keep) or blank(value):
            continue
        out[key] = clone(value)
    return out


def clone(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return {k: clone(v) for k, v in value.items()}
    if kind is list:
        return [clone(v) for v in value]
    return value


def text(value: Any, element: str, max_length: int | None = None) -> str:
    if not isinstance(value, str):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        else:
            raise errors.invalid_request(f"{element} must be a string", element)
    if max_length is not None and len(value) > max_length:
        raise errors.invalid_value(element, f"String length specified does not match the supported length. "
                                            f"Min:0 Max:{max_length} supported. Supplied length:{len(value)}")
    return value


def flag(value: Any, element: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise errors.invalid_request(f"{element} must be true or false, got {value!r}", element)


def iso_date(value: Any, element: str) -> str:
    if isinstance(value, str):
        candidate = value.strip()[:10]
        try:
            return date.fromisoformat(candidate).isoformat()
        except ValueError:
            pass
    raise errors.invalid_request(f"{element} must be a date YYYY-MM-DD, got {value!r}", element)


def sync_token(body: dict[str, Any], record: Record) -> None:
    """SyncToken may come as a string or a number; a stale one answers 5010."""
    token = body.get("SyncToken")
    if blank(token):
        raise errors.required("SyncToken")
    try:
        supplied = int(str(token).strip())
    except ValueError:
        raise errors.stale_object() from None
    if supplied != int(record.data["SyncToken"]):
        raise errors.stale_object()


def ref_id(ref: Any) -> str | None:
    if isinstance(ref, dict):
        value = ref.get("value")
        return None if blank(value) else str(value).strip()
    if isinstance(ref, (str, int)) and not isinstance(ref, bool):
        return str(ref)
    return None


def reference(company: Company, ctx: Context, ref: Any, target: str, element: str, *,
              required: bool = False) -> Record | None:
    """Resolves a reference {"value": id} to the stored record (2020 if required and missing,
    2500 if no such object). Seeding may give {"name": ...} instead of an id."""
    if ref is None or blank(ref):
        if required:
            raise errors.required(element)
        return None
    value = ref_id(ref)
    if value is None and ctx.resolve_names and isinstance(ref, dict) and ref.get("name"):
        value = find_by_name(company, target, str(ref["name"]))
        if value is None:
            raise errors.invalid_reference(element, REF_KIND_LABEL.get(target, target), ref.get("name"))
    if value is None:
        if required:
            raise errors.required(element)
        return None
    record = company.get(target, value, ctx.horizon)
    if record is None:
        raise errors.invalid_reference(element, REF_KIND_LABEL.get(target, target), value)
    return record


def find_by_name(company: Company, target: str, name: str) -> str | None:
    folded = name.strip().casefold()
    if target in ("Customer", "Vendor"):
        hit = company.display_names.get(folded)
        return hit[1] if hit and hit[0] == target else None
    if target == "Item":
        return company.item_names.get(folded)
    for record in company.stores[target].values():
        data = record.data
        if str(data.get("Name", "")).casefold() == folded or str(data.get("FullyQualifiedName", "")).casefold() == folded:
            return data["Id"]
    return None


def active_name(record: Record, element: str) -> None:
    """A transaction may not use an inactive customer/vendor: QBO answers 610."""
    if record.data.get("Active") is False:
        raise errors.object_not_found()
