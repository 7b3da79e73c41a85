"""Emulator state: the backend (all companies, tokens, knobs) and one Company per realm.

A Company holds, per entity, a dict Id → Record (the QBO JSON object as a dict plus internal
bookkeeping), the tombstones of deleted transactions, Id and DocNumber counters, uniqueness
indices (DisplayName across Customer+Vendor, Item names, DocNumbers), the links between
payments and the invoices/credit memos they pay, request counters and the requestid replay
store. One re-entrant lock per company serialises its writes.
"""
from __future__ import annotations

import logging
import secrets
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Callable, Iterable

from . import clock as clockmod
from .clock import Clock
from .entities import SPECS
from .settings import COMPANY_OVERRIDABLE, EmulatorSettings

log = logging.getLogger(__name__)

USD = {"value": "USD", "name": "United States Dollar"}

# Reference keys whose `name` QBO fills on read, and the entity they point to.
REF_TARGETS = {
    "CustomerRef": "Customer", "VendorRef": "Vendor", "ItemRef": "Item",
    "IncomeAccountRef": "Account", "ExpenseAccountRef": "Account", "AssetAccountRef": "Account",
    "DepositToAccountRef": "Account", "APAccountRef": "Account", "ARAccountRef": "Account",
    "AccountRef": "Account", "DiscountAccountRef": "Account", "ItemAccountRef": "Account",
    "TaxRateRef": None, "TaxCodeRef": None, "TxnTaxCodeRef": None, "ParentRef": None,
}
# Where the sandbox leaves a reference without its name (payment.json: DepositToAccountRef).
_UNNAMED = {("Payment", "DepositToAccountRef")}


class Record:
    """One stored object: `data` is exactly what a read returns (before reference names)."""

    __slots__ = ("data", "created", "updated", "created_seq", "seq")

    def __init__(self, data: dict[str, Any], created: datetime, seq: int) -> None:
        self.data = data
        self.created = created
        self.updated = created
        self.created_seq = seq
        self.seq = seq


@dataclass
class Tombstone:
    deleted: datetime
    seq: int


@dataclass
class Company:
    realm_id: str
    name: str
    tz: Any
    created_at: datetime
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    stores: dict[str, dict[str, Record]] = field(default_factory=lambda: {n: {} for n in SPECS}, repr=False)
    tombstones: dict[str, dict[str, Tombstone]] = field(default_factory=lambda: {n: {} for n in SPECS},
                                                          repr=False)
    id_counters: dict[str, int] = field(default_factory=dict, repr=False)
    seq: int = 0
    display_names: dict[str, tuple[str, str]] = field(default_factory=dict, repr=False)
    item_names: dict[str, str] = field(default_factory=dict, repr=False)
    doc_numbers: dict[str, dict[str, set[str]]] = field(default_factory=dict, repr=False)
    doc_counters: dict[str, int] = field(default_factory=dict, repr=False)
    # ("Invoice"|"CreditMemo", txn id) -> {payment id: amount applied}
    applied: dict[tuple[str, str], dict[str, Decimal]] = field(default_factory=dict, repr=False)
    deposited: dict[str, str] = field(default_factory=dict, repr=False)  # payment id -> deposit id
    address_counter: int = 100
    requests: Counter = field(default_factory=Counter, repr=False)
    replay: dict[str, tuple[int, bytes, str]] = field(default_factory=dict, repr=False)
    overrides: dict[str, Any] = field(default_factory=dict, repr=False)
    defaults: dict[str, str] = field(default_factory=dict, repr=False)  # well-known account/tax ids

    # ---- ids and sequence ------------------------------------------------------------
    def next_id(self, group: str) -> str:
        value = self.id_counters.get(group, 0) + 1
        self.id_counters[group] = value
        return str(value)

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def next_address_id(self) -> str:
        self.address_counter += 1
        return str(self.address_counter)

    # ---- lookup ----------------------------------------------------------------------
    def get(self, entity: str, entity_id: Any, horizon: int | None = None) -> Record | None:
        record = self.stores[entity].get(str(entity_id)) if entity_id is not None else None
        if record is not None and horizon is not None and record.created_seq > horizon:
            return None
        return record

    def rows(self, entity: str) -> list[dict[str, Any]]:
        return [record.data for record in self.stores[entity].values()]

    # ---- writes ----------------------------------------------------------------------
    def insert(self, entity: str, data: dict[str, Any], moment: datetime, *, entity_id: str | None = None) -> Record:
        spec = SPECS[entity]
        new_id = entity_id or self.next_id(spec.id_group)
        stamp = clockmod.meta_time(moment, self.tz)
        full = {"domain": "QBO", "sparse": False, "Id": new_id, "SyncToken": "0",
                "MetaData": {"CreateTime": stamp, "LastUpdatedTime": stamp}}
        full.update(data)
        record = Record(full, moment, self.next_seq())
        self.stores[entity][new_id] = record
        return record

    def replace(self, entity: str, record: Record, data: dict[str, Any], moment: datetime, *,
                bump: bool = True) -> Record:
        old = record.data
        sync = str(int(old["SyncToken"]) + 1) if bump else old["SyncToken"]
        full = {"domain": "QBO", "sparse": False, "Id": old["Id"], "SyncToken": sync,
                "MetaData": {"CreateTime": old["MetaData"]["CreateTime"],
                             "LastUpdatedTime": clockmod.meta_time(moment, self.tz)}}
        full.update(data)
        record.data = full
        record.updated = moment
        record.seq = self.next_seq()
        return record

    def touch(self, record: Record, moment: datetime, *, bump: bool) -> None:
        """A side-effect change (a payment applied to this invoice, a customer's balance)."""
        data = record.data
        if bump:
            data["SyncToken"] = str(int(data["SyncToken"]) + 1)
        data["MetaData"] = {"CreateTime": data["MetaData"]["CreateTime"],
                            "LastUpdatedTime": clockmod.meta_time(moment, self.tz)}
        record.updated = moment
        record.seq = self.next_seq()

    def remove(self, entity: str, entity_id: str, moment: datetime) -> None:
        self.stores[entity].pop(entity_id, None)
        self.tombstones[entity][entity_id] = Tombstone(moment, self.next_seq())

    # ---- rendering -------------------------------------------------------------------
    def ref_name(self, target: str, ref_id: Any) -> str | None:
        record = self.stores[target].get(str(ref_id))
        if record is None:
            return None
        data = record.data
        return data.get("DisplayName") if target in ("Customer", "Vendor") else data.get("Name")

    def render(self, entity: str, data: dict[str, Any]) -> dict[str, Any]:
        """A copy of a stored object as QBO returns it: reference names filled in."""
        out = self._copy(entity, data)
        if entity == "Vendor" and out.get("TaxIdentifier"):
            tail = str(out["TaxIdentifier"])[-4:]
            out["TaxIdentifier"] = "X" * max(len(str(out["TaxIdentifier"])) - 4, 0) + tail  # QBO masks it
        return out

    def _copy(self, entity: str, value: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, item in value.items():
            kind = type(item)
            if kind is dict:
                target = REF_TARGETS.get(key, False)
                if target is not False and "value" in item:
                    ref = {"value": item["value"]}
                    name = self.ref_name(target, item["value"]) if target else None
                    if name is None and target is None and "name" in item:
                        name = item["name"]
                    if name is not None and (entity, key) not in _UNNAMED:
                        ref["name"] = name
                    out[key] = ref
                else:
                    out[key] = self._copy(entity, item)
            elif kind is list:
                out[key] = [self._copy(entity, x) if type(x) is dict else x for x in item]
            else:
                out[key] = item
        return out


class EmulatorBackend:
    """Everything the emulator knows: companies, OAuth grants, throttles, fault injection."""

    def __init__(self, settings: EmulatorSettings | None = None, clock: Clock | None = None) -> None:
        from .faults import FaultInjector
        from .oauth import TokenStore
        from .throttle import Throttle
        from .webhook_link import make_dispatcher

        self.settings = settings or EmulatorSettings()
        self.clock = clock or Clock(time_scale=self.settings.time_scale)
        self.clock.time_scale = self.settings.time_scale
        self.tz = clockmod.zone(self.settings.timezone)
        self.companies: dict[str, Company] = {}
        self.lock = threading.RLock()
        self.tokens = TokenStore(self)
        self.throttle = Throttle(self)
        self.faults = FaultInjector(self)
        self.webhooks = make_dispatcher(self.settings)
        self.consent_realm: str | None = None
        self.consent_deny = False
        self._last_created: str | None = None
        self._dirty = threading.Event()
        self._on_change: list[Callable[[], None]] = []

    # ---- companies -------------------------------------------------------------------
    def create_company(self, name: str, *, realm_id: str | None = None) -> Company:
        from .defaults import bootstrap_company

        with self.lock:
            realm = realm_id or self._new_realm_id()
            company = Company(realm, name, self.tz, self.clock.now())
            bootstrap_company(company, self.clock.now())
            self.companies[realm] = company
            self._last_created = realm
        self.mark_dirty()
        return company

    def company(self, realm_id: str) -> Company | None:
        return self.companies.get(realm_id)

    def most_recent_company(self) -> Company | None:
        return self.companies.get(self._last_created) if self._last_created else None

    def reset(self) -> None:
        with self.lock:
            self.companies.clear()
            self._last_created = None
            self.consent_realm = None
            self.consent_deny = False
            self.tokens.clear()
            self.throttle.clear()
            self.faults.clear()
            self.clock.set_offset(0)
        self.mark_dirty()

    def reset_company(self, realm_id: str) -> Company | None:
        """Empties a company back to its new-company state, keeping its realm id and tokens."""
        from .defaults import bootstrap_company

        with self.lock:
            old = self.companies.get(realm_id)
            if old is None:
                return None
            company = Company(realm_id, old.name, self.tz, self.clock.now())
            bootstrap_company(company, self.clock.now())
            self.companies[realm_id] = company
            self.throttle.clear(realm_id)
            self.faults.clear(realm_id)
        self.mark_dirty()
        return company

    def _new_realm_id(self) -> str:
        while True:
            realm = "9341" + "".join(str(secrets.randbelow(10)) for _ in range(12))
            if realm not in self.companies:
                return realm

    # ---- settings --------------------------------------------------------------------
    def setting(self, company: Company | None, name: str) -> Any:
        if company is not None and name in company.overrides:
            return company.overrides[name]
        return getattr(self.settings, name)

    def set_company_settings(self, company: Company, values: dict[str, Any]) -> list[str]:
        unknown = []
        for key, value in values.items():
            if key not in COMPANY_OVERRIDABLE:
                unknown.append(key)
                continue
            probe = EmulatorSettings()
            probe.update({key: value})
            company.overrides[key] = getattr(probe, key)
        return unknown

    # ---- change notification ---------------------------------------------------------
    def notify(self, company: Company, entity: str, entity_id: str, operation: str, moment: datetime,
               deleted_id: str | None = None) -> None:
        try:
            self.webhooks.notify(company.realm_id, entity, entity_id, operation, moment, deleted_id=deleted_id)
        except Exception:  # noqa: BLE001 - a webhook problem must never fail the API call
            log.exception("webhook notify failed for %s %s %s", entity, entity_id, operation)

    def mark_dirty(self) -> None:
        self._dirty.set()
        for callback in self._on_change:
            callback()

    def iter_companies(self) -> Iterable[Company]:
        return list(self.companies.values())
