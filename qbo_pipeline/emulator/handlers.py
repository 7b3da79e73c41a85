"""Per-entity rule sets: how a write body becomes the stored object, and what else changes."""
from __future__ import annotations

from typing import Any

from . import errors
from .models import Company, Record
from .validation import Context


class Handler:
    entity: str = ""

    def build(self, company: Company, ctx: Context, fields: dict[str, Any], existing: Record | None) -> dict[str, Any]:
        raise NotImplementedError

    def committed(self, company: Company, ctx: Context, old: dict[str, Any] | None, record: Record | None) -> None:
        """After the store changed: indices, links, balances. `record` is None after a delete."""

    def check_delete(self, company: Company, record: Record) -> None:
        """Raise a Fault when QBO refuses to delete this object."""

    def void(self, company: Company, ctx: Context, record: Record) -> dict[str, Any]:
        raise errors.unsupported_operation("Void")

    def preserved(self, existing: Record) -> dict[str, Any]:
        """Fields a full update keeps although the body omits them (create-only fields)."""
        return {}


def assign_address_ids(company: Company, data: dict[str, Any], keys: tuple[str, ...]) -> None:
    for key in keys:
        address = data.get(key)
        if isinstance(address, dict) and address and "Id" not in address:
            address["Id"] = company.next_address_id()
