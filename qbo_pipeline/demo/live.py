"""Step 6: live sync through the daemon. A bookkeeper changes records in QBO (its public API,
the workspace's access token) and a user changes records in JobsiteOn (its store's user
actions); nothing calls the pipeline. Each change is timed until it is visible on the other
side — webhook or change feed -> inbox -> sensor -> incremental run -> write."""
from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Callable

from qbo_pipeline.demo import console
from qbo_pipeline.demo.config import DemoConfig
from qbo_pipeline.demo.qbo_user import QBOUser
from qbo_pipeline.jobsiteon.demo import DemoBooks
from qbo_pipeline.jobsiteon.store import JobsiteOnStore
from qbo_pipeline.state import StateStore

POLL_SECONDS = 1.0
CENT = Decimal("0.01")


@dataclass
class LiveChange:
    name: str
    direction: str  # "QBO -> JobsiteOn" | "JobsiteOn -> QBO"
    description: str
    landed: Callable[[], str | None]  # what arrived, or None while it has not
    started: float = field(default_factory=time.monotonic)
    seconds: float | None = None
    arrived: str | None = None

    def to_dict(self) -> dict:
        return {"change": self.name, "direction": self.direction, "description": self.description,
                "landed": self.seconds is not None,
                "seconds": None if self.seconds is None else round(self.seconds, 1), "arrived": self.arrived}


def _digits(text) -> str:
    return re.sub(r"\D", "", str(text or ""))


class LivePlayer:
    def __init__(self, config: DemoConfig, state: StateStore, jobsiteon: JobsiteOnStore, books: DemoBooks) -> None:
        self.ws = config.workspace_id
        self.state = state
        self.jobsiteon = jobsiteon
        self.qbo = QBOUser(state, self.ws)
        self.planted = _planted_ids(books)

    def _linked(self, entity: str, jobsiteon_id: str) -> str | None:
        link = self.state.id_map.get_by_jobsiteon(self.ws, entity, jobsiteon_id)
        return str(link["qbo_id"]) if link else None

    def _open_invoices(self, count: int) -> list[dict]:
        frame = self.jobsiteon.read_frame(self.ws, "invoices")
        rows = frame[(frame["status"] == "approved") & frame["deleted_at"].isna() & ~frame["tax_inclusive"]
                     & ~frame["id"].isin(self.planted)]
        rows = rows[rows["balance"].map(lambda b: b >= Decimal("20"))].sort_values("issue_date", ascending=False)
        picked = []
        for record in rows.to_dict("records"):
            qbo_id = self._linked("invoices", record["id"])
            if qbo_id and Decimal(str(self.qbo.read("Invoice", qbo_id)["Balance"])) == record["balance"]:
                picked.append({**record, "qbo_id": qbo_id})
            if len(picked) == count:
                return picked
        raise RuntimeError("no unpaid, synced invoice to use for the live changes")

    # -- QBO side (the bookkeeper)

    def qbo_payment(self, invoice: dict) -> LiveChange:
        raw = self.qbo.read("Invoice", invoice["qbo_id"])
        amount = (invoice["balance"] / 2).quantize(CENT)
        before = invoice["amount_paid"]
        payment = self.qbo.create("Payment", {
            "CustomerRef": raw["CustomerRef"], "TotalAmt": float(amount), "TxnDate": dt.date.today().isoformat(),
            "PaymentRefNum": "LIVE-DEMO",
            "Line": [{"Amount": float(amount), "LinkedTxn": [{"TxnId": invoice["qbo_id"], "TxnType": "Invoice"}]}],
        })

        def landed() -> str | None:
            now = self.jobsiteon.get(self.ws, "invoices", invoice["id"])
            if now is None or now["amount_paid"] != before + amount:
                return None
            return f"invoice {invoice['number']} amount_paid {now['amount_paid']}, balance {now['balance']}, {now['status']}"

        return LiveChange("qbo_payment", "QBO -> JobsiteOn",
                          f"QBO payment {payment['Id']} of {amount} on invoice {invoice['number']} (QBO {invoice['qbo_id']})",
                          landed)

    def qbo_customer_edit(self) -> LiveChange:
        frame = self.jobsiteon.read_frame(self.ws, "contacts")
        rows = frame[frame["deleted_at"].isna() & frame["phone"].notna() & ~frame["id"].isin(self.planted)]
        for record in rows.to_dict("records"):
            qbo_id = self._linked("customers", record["id"])
            if qbo_id:
                break
        else:
            raise RuntimeError("no synced contact to edit in QBO")
        raw = self.qbo.read("Customer", qbo_id)
        phone = f"(512) 555-{int(time.time()) % 9000 + 1000:04d}"
        self.qbo.update("Customer", {"Id": qbo_id, "SyncToken": raw["SyncToken"], "PrimaryPhone": {"FreeFormNumber": phone}})

        def landed() -> str | None:
            now = self.jobsiteon.get(self.ws, "contacts", record["id"])
            return f"contact {record['name']!r} phone {now['phone']}" if now and _digits(now["phone"]) == _digits(phone) else None

        return LiveChange("qbo_customer_edit", "QBO -> JobsiteOn",
                          f"QBO customer {qbo_id} {raw['DisplayName']!r}: phone {record['phone']} -> {phone}", landed)

    def qbo_void_invoice(self, invoice: dict) -> LiveChange:
        self.qbo.void_invoice(invoice["qbo_id"])

        def landed() -> str | None:
            now = self.jobsiteon.get(self.ws, "invoices", invoice["id"])
            return f"invoice {invoice['number']} status void, balance {now['balance']}" if now and now["status"] == "void" else None

        return LiveChange("qbo_void_invoice", "QBO -> JobsiteOn",
                          f"QBO invoice {invoice['qbo_id']} (JobsiteOn {invoice['number']}, {invoice['total']}) voided",
                          landed)

    # -- JobsiteOn side (a user)

    def jobsiteon_new_contact(self) -> LiveChange:
        stamp = dt.datetime.now().strftime("%H%M%S")
        name = f"Lakeway Orthodontics {stamp}"
        email = f"frontdesk{stamp}@lakewayortho.com"
        contact_id = self.jobsiteon.create_contact(
            self.ws, name, email, "(512) 555-0142", billing_line1="2100 Lohmans Crossing", billing_city="Lakeway",
            billing_state="TX", billing_postal_code="78734", billing_country="US")

        def landed() -> str | None:
            qbo_id = self._linked("customers", contact_id)
            if not qbo_id:
                return None
            raw = self.qbo.read("Customer", qbo_id)
            return f"QBO customer {qbo_id} {raw['DisplayName']!r}" if raw.get("DisplayName") == name else None

        return LiveChange("jobsiteon_new_contact", "JobsiteOn -> QBO", f"new JobsiteOn contact {name!r} <{email}>", landed)

    def jobsiteon_item_price(self) -> LiveChange:
        frame = self.jobsiteon.read_frame(self.ws, "pricebook_items")
        rows = frame[frame["deleted_at"].isna() & ~frame["archived"] & ~frame["id"].isin(self.planted)]
        for record in rows.to_dict("records"):
            qbo_id = self._linked("items", record["id"])
            if qbo_id:
                break
        else:
            raise RuntimeError("no synced pricebook item to edit")
        price = (record["default_price"] * Decimal("1.05")).quantize(CENT)
        self.jobsiteon.update_record(self.ws, "pricebook_items", record["id"], default_price=price)

        def landed() -> str | None:
            raw = self.qbo.read("Item", qbo_id)
            return f"QBO item {qbo_id} UnitPrice {raw.get('UnitPrice')}" if Decimal(str(raw.get("UnitPrice"))) == price else None

        return LiveChange("jobsiteon_item_price", "JobsiteOn -> QBO",
                          f"JobsiteOn item {record['name']!r}: price {record['default_price']} -> {price}", landed)


def _planted_ids(books: DemoBooks) -> set[str]:
    """Records the planted cases use: the live changes stay clear of them."""
    ids: set[str] = set()

    def walk(value) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str) and "_" in value and " " not in value:
            ids.add(value)

    walk(books.scenarios)
    return ids


def play_live(config: DemoConfig, state: StateStore, jobsiteon: JobsiteOnStore, books: DemoBooks) -> list[LiveChange]:
    player = LivePlayer(config, state, jobsiteon, books)
    try:
        paid, voided = player._open_invoices(2)
        changes = []
        for make in (lambda: player.qbo_payment(paid), player.qbo_customer_edit,
                     lambda: player.qbo_void_invoice(voided), player.jobsiteon_new_contact,
                     player.jobsiteon_item_price):
            change = make()
            console.info(f"{change.direction:17} {change.description}", indent=2)
            changes.append(change)
        console.info(f"waiting for each to land on the other side (up to {config.live_timeout:.0f}s) ...")
        _wait(changes, config.live_timeout)
    finally:
        player.qbo.close()
    return changes


def _wait(changes: list[LiveChange], timeout: float) -> None:
    deadline = max(c.started for c in changes) + timeout
    while True:
        for change in changes:
            if change.seconds is not None:
                continue
            try:
                arrived = change.landed()
            except Exception as exc:  # noqa: BLE001 - a failed poll is retried at the next tick
                arrived = None
                console.warn(f"checking {change.name}: {type(exc).__name__}: {exc}")
            if arrived:
                change.seconds = time.monotonic() - change.started
                change.arrived = arrived
                console.info(f"landed after {change.seconds:5.1f}s  {change.name:22} -> {arrived}", indent=2)
        waiting = [c for c in changes if c.seconds is None]
        if not waiting:
            return
        if time.monotonic() > deadline:
            for change in waiting:
                console.info(f"DID NOT ARRIVE within {timeout:.0f}s: {change.name} ({change.direction}: "
                             f"{change.description})", indent=2)
            return
        time.sleep(POLL_SECONDS)
