"""Step 5: the operator reads each open dead letter's hint and fixes the cause the way a
person would — a user edit in JobsiteOn, or the product's dedupe tool — then retries.

Every fix is a real change (JobsiteOn's user actions write change-feed entries with source
'user'; the dedupe tool merges in QBO and JobsiteOn) and is printed with its reason. Letters
without a known fix are left open, and say so."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from qbo_pipeline.demo import console
from qbo_pipeline.demo.commands import run_cli
from qbo_pipeline.demo.config import DemoConfig
from qbo_pipeline.demo.qbo_user import QBOUser
from qbo_pipeline.jobsiteon.store import JobsiteOnStore
from qbo_pipeline.state import StateStore

DOCUMENTS = {"invoices": "Invoice", "credit_memos": "CreditMemo", "refund_receipts": "RefundReceipt",
             "purchase_orders": "PurchaseOrder"}
PARTIES = {"customers": "contacts", "vendors": "vendors"}


@dataclass
class OperatorReport:
    fixes: list[str] = field(default_factory=list)
    waiting: int = 0  # letters retried with the record they wait for
    left_open: list[str] = field(default_factory=list)


def _name_key(name: str) -> str:
    return " ".join(str(name or "").split()).casefold()


class Operator:
    def __init__(self, config: DemoConfig, state: StateStore, jobsiteon: JobsiteOnStore) -> None:
        self.config = config
        self.ws = config.workspace_id
        self.state = state
        self.jobsiteon = jobsiteon
        self.qbo = QBOUser(state, self.ws)
        self.report = OperatorReport()
        self._taken_names: set[str] | None = None

    # -- names and numbers in use

    def _names_in_use(self) -> set[str]:
        if self._taken_names is None:
            names = {_name_key(r.get("DisplayName")) for e in ("Customer", "Vendor") for r in self.qbo.all(e)}
            for table in ("contacts", "vendors"):
                frame = self.jobsiteon.read_frame(self.ws, table)
                names |= {_name_key(n) for n in frame["name"]}
            self._taken_names = names
        return self._taken_names

    def _free_name(self, name: str, *qualifiers: str) -> str:
        taken = self._names_in_use()
        for qualifier in [q for q in qualifiers if q] + [str(n) for n in range(2, 100)]:
            candidate = f"{name} ({qualifier})"
            if _name_key(candidate) not in taken:
                taken.add(_name_key(candidate))
                return candidate
        raise RuntimeError(f"no free variant of the name {name!r}")

    def _free_number(self, entity: str, number: str) -> str:
        frame = self.jobsiteon.read_frame(self.ws, entity)
        used = {str(n) for n in frame["number"].dropna()}
        used |= {str(r.get("DocNumber")) for r in self.qbo.all(DOCUMENTS[entity]) if r.get("DocNumber")}
        prefix, digits = re.match(r"^(.*?)(\d*)$", number).groups()
        numeric = [int(m.group(2)) for n in used if (m := re.match(r"^(.*?)(\d+)$", n)) and m.group(1) == prefix]
        candidate = max(numeric + [int(digits or 0)]) + 1
        while f"{prefix}{candidate}" in used:
            candidate += 1
        return f"{prefix}{candidate}"

    # -- fixes

    def _fix(self, letter: dict, what: str) -> None:
        self.report.fixes.append(what)
        console.info(f"#{letter['id']} {letter['entity']} {letter['record']}: {what}", indent=2)

    def _rename_party(self, letter: dict) -> bool:
        table = PARTIES[letter["entity"]]
        record = self.jobsiteon.get(self.ws, table, letter["record"])
        if record is None:
            return False
        name = record["name"]
        holders = [(e, r) for e in ("Vendor", "Customer") for r in self.qbo.all(e)
                   if _name_key(r.get("DisplayName")) == _name_key(name) and r.get("Active", True)]
        if not holders:
            return False
        kind, holder = holders[0]
        own_kind = "Customer" if table == "contacts" else "Vendor"
        if kind != own_kind:
            new = self._free_name(name, own_kind.lower())
            why = f"QBO {kind.lower()} {holder['Id']} already holds that name (QBO's names are unique across customers and vendors)"
        else:
            email = (holder.get("PrimaryEmailAddr") or {}).get("Address")
            new = self._free_name(name, record.get("billing_city") or "", (record.get("email") or "").split("@")[0])
            why = f"QBO {kind.lower()} {holder['Id']} of that name is someone else ({email or 'no email'})"
        self.jobsiteon.update_record(self.ws, table, record["id"], name=new)
        self._fix(letter, f"renamed the JobsiteOn {table[:-1]} {name!r} -> {new!r}: {why}")
        return True

    def _renumber(self, letter: dict) -> bool:
        entity = letter["entity"]
        record = self.jobsiteon.get(self.ws, entity, letter["record"])
        if record is None or not record.get("number"):
            return False
        new = self._free_number(entity, str(record["number"]))
        self.jobsiteon.update_record(self.ws, entity, record["id"], number=new)
        self._fix(letter, f"renumbered the JobsiteOn {entity[:-1].replace('_', ' ')} {record['number']} -> {new}: "
                          f"QBO {DOCUMENTS[entity]} number {record['number']} belongs to another document")
        return True

    def _tax_exclusive(self, letter: dict) -> bool:
        entity = letter["entity"]
        record = self.jobsiteon.get(self.ws, entity, letter["record"])
        if record is None or not record.get("tax_inclusive"):
            return False
        self.jobsiteon.update_record(self.ws, entity, record["id"], tax_inclusive=False)
        after = self.jobsiteon.get(self.ws, entity, record["id"])
        self._fix(letter, f"switched {entity[:-1].replace('_', ' ')} {record['number']} to tax-exclusive prices "
                          f"(a US QBO company has no tax-inclusive pricing): total {record['total']} -> {after['total']}")
        return True

    def fix_letter(self, letter: dict) -> None:
        category, message = letter["category"], letter["message"] or ""
        fixed = False
        if category == "dependency":
            self.report.waiting += 1
            return
        if category == "duplicate" and letter["entity"] in PARTIES and (
                "match by name" in message or "6240" in message or "Duplicate Name" in message):
            fixed = self._rename_party(letter)
        elif category == "duplicate" and letter["entity"] in DOCUMENTS and (
                "doc_number" in message or "6140" in message or "Duplicate Document Number" in message):
            fixed = self._renumber(letter)
        elif category == "total_mismatch" and letter["entity"] in ("invoices", "credit_memos"):
            fixed = self._tax_exclusive(letter)
        if not fixed:
            self.report.left_open.append(f"#{letter['id']} {letter['entity']} {letter['record']} [{category}]")
            console.info(f"#{letter['id']} {letter['entity']} {letter['record']}: no fix the demo knows; "
                         f"left for a person ({letter['hint']})", indent=2)

    def dedupe_customers(self) -> None:
        """The duplicate-name pair in QBO: the product's dedupe tool merges it in both systems."""
        _, lines = run_cli(self.config, ["dedupe", "--workspace", self.ws, "--entity", "customer", "--apply"],
                              log_name="dedupe")
        # `merge <id>: <duplicate> -> <survivor>: ...` per merge done (ops/render.py)
        self.report.fixes += [f"qbo-pipeline dedupe: {line.strip()}" for line in lines
                              if line.strip().startswith("merge M")]


def play_operator(config: DemoConfig, state: StateStore, jobsiteon: JobsiteOnStore, *,
                  first_round: bool = True) -> OperatorReport:
    from qbo_pipeline.ops.errors import list_errors

    operator = Operator(config, state, jobsiteon)
    try:
        letters = sorted(list_errors(state, config.workspace_id), key=lambda d: d["id"])
        console.info("fixing what the dead letters' hints say (user edits in JobsiteOn):")
        for letter in letters:
            operator.fix_letter(letter)
        if operator.report.waiting:
            console.info(f"{operator.report.waiting} letter(s) only wait for a record fixed above; "
                         "they are retried with it", indent=2)
        if first_round:
            console.info("duplicate customers in QBO (names that differ only by case/spacing):")
            operator.dedupe_customers()
        if not letters and not operator.report.fixes:
            return operator.report
        run_cli(config, ["retry", "--all", "--workspace", config.workspace_id], log_name="retry")
    finally:
        operator.qbo.close()
    return operator.report
