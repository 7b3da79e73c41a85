"""The demo books: deterministic, scalable, internally consistent, the planted cases present;
loaded into JobsiteOn (SQLite and PostgreSQL) and seeded into the QBO emulator over HTTP."""
from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from decimal import Decimal as D

import httpx
import pytest

from qbo_pipeline.jobsiteon.db import make_engine
from qbo_pipeline.jobsiteon.demo import JOBSITEON_TABLES, QBO_ENTITIES, generate_books
from qbo_pipeline.jobsiteon.demo.__main__ import main as demo_main
from qbo_pipeline.jobsiteon.money import compute_document_totals, line_amount, sum_line_costs
from qbo_pipeline.jobsiteon.store import InvalidRecord, JobsiteOnStore

AS_OF = dt.date(2025, 6, 30)


def key(name: str) -> str:
    return " ".join(name.split()).casefold()


@pytest.fixture(scope="module")
def small():
    return generate_books(7, 0.05, as_of=AS_OF)


@pytest.fixture(scope="module")
def full():
    return generate_books(7, 1.0, as_of=AS_OF)


def test_same_seed_same_books_other_seed_other_books(small):
    assert generate_books(7, 0.05, as_of=AS_OF) == small
    other = generate_books(8, 0.05, as_of=AS_OF)
    assert other != small
    assert [c["name"] for c in other.contacts] != [c["name"] for c in small.contacts]


def test_counts_follow_the_scale(small, full):
    assert {t: len(full.rows_by_table()[t]) for t in
            ("contacts", "pricebook_items", "invoices", "vendors", "purchase_orders",
             "credit_memos", "refund_receipts")} == {
        "contacts": 500, "pricebook_items": 200, "invoices": 2000, "vendors": 50,
        "purchase_orders": 300, "credit_memos": 60, "refund_receipts": 30}
    assert (len(small.contacts), len(small.invoices), len(small.pricebook_items)) == (25, 100, 14)
    assert len(generate_books(7, 0.1, as_of=AS_OF).invoices) == 200
    statuses = Counter(invoice["status"] for invoice in full.invoices)
    assert set(statuses) == {"draft", "approved", "partially_paid", "paid", "void"}
    assert statuses["paid"] > statuses["approved"] > statuses["void"] > 0
    line_counts = Counter(line["invoice_id"] for line in full.invoice_lines)
    assert min(line_counts.values()) == 1 and max(line_counts.values()) == 15
    issue_dates = [invoice["issue_date"] for invoice in full.invoices]
    assert AS_OF - dt.timedelta(days=366) < min(issue_dates) and max(issue_dates) < AS_OF


@pytest.mark.parametrize("books_fixture", ["small", "full"])
def test_books_are_referentially_and_arithmetically_consistent(books_fixture, request):
    books = request.getfixturevalue(books_fixture)
    contacts = {c["id"]: c for c in books.contacts}
    items = {i["id"]: i for i in books.pricebook_items}
    vendors = {v["id"] for v in books.vendors}
    payments = {p["id"]: p for p in books.payments}
    live = {cid for cid, c in contacts.items() if c["deleted_at"] is None}
    all_ids = [row["id"] for table in JOBSITEON_TABLES for row in books.rows_by_table()[table]]
    assert len(all_ids) == len(set(all_ids))

    def lines_of(rows, parent):
        grouped: dict[str, list[dict]] = {}
        for line in rows:
            grouped.setdefault(line[parent], []).append(line)
        return grouped

    invoice_lines = lines_of(books.invoice_lines, "invoice_id")
    paid = Counter()
    for payment in books.payments:
        paid[payment["invoice_id"]] += payment["amount"]
        assert payment["contact_id"] in contacts and payment["amount"] > 0
    for invoice in books.invoices:
        assert invoice["contact_id"] in live
        lines = invoice_lines[invoice["id"]]
        assert [line["position"] for line in lines] == list(range(1, len(lines) + 1))
        for line in lines:
            assert line["item_id"] in items and not items[line["item_id"]]["archived"]
            exact = line["qty"] * line["unit_price"]
            assert exact == line_amount(line["qty"], line["unit_price"])  # no 6070 in QBO
        assert (invoice["subtotal"], invoice["tax"], invoice["total"]) == compute_document_totals(
            lines, books.tax_rate, invoice["tax_inclusive"])
        assert invoice["amount_paid"] == paid.get(invoice["id"], 0)
        if invoice["status"] == "void":
            assert invoice["balance"] == 0 and invoice["amount_paid"] == 0
        else:
            assert invoice["balance"] == invoice["total"] - invoice["amount_paid"]
        expected_status = {True: "paid", False: "partially_paid"}.get(
            invoice["amount_paid"] >= invoice["total"]) if invoice["amount_paid"] else None
        if expected_status:
            assert invoice["status"] == expected_status
        assert invoice["created_at"] <= invoice["updated_at"]
    for deposit in books.deposits:
        lines = [line for line in books.deposit_lines if line["deposit_id"] == deposit["id"]]
        assert deposit["total"] == sum(line["amount"] for line in lines)
        assert all(payments[line["payment_id"]]["paid_on"] <= deposit["deposited_on"] for line in lines)
    for table, lines_table, parent in (("credit_memos", "credit_memo_lines", "credit_memo_id"),
                                       ("refund_receipts", "refund_receipt_lines", "refund_receipt_id")):
        grouped = lines_of(books.rows_by_table()[lines_table], parent)
        for document in books.rows_by_table()[table]:
            assert document["contact_id"] in live
            assert document["total"] == compute_document_totals(grouped[document["id"]],
                                                                books.tax_rate, False)[2]
    po_lines = lines_of(books.purchase_order_lines, "purchase_order_id")
    for order in books.purchase_orders:
        assert order["vendor_id"] in vendors
        assert order["total"] == sum_line_costs(po_lines[order["id"]])
        assert all(line["item_id"] in items for line in po_lines[order["id"]])
    emails = [c["email"].casefold() for c in books.contacts if c["email"]]
    assert len(emails) == len(set(emails))
    assert all(email.isascii() and "@" in email and "." in email.split("@")[1] for email in emails)
    assert all(c["phone"] is None or c["phone"].startswith("(") for c in books.contacts)
    item_names = [i["name"] for i in books.pricebook_items]
    assert len(item_names) == len(set(item_names))


@pytest.mark.parametrize("books_fixture", ["small", "full"])
def test_the_planted_scenarios_are_there(books_fixture, request):
    books = request.getfixturevalue(books_fixture)
    s = books.scenarios
    contacts = {c["id"]: c for c in books.contacts}
    qbo_by_email = {c["PrimaryEmailAddr"]["Address"].casefold(): c
                    for c in books.qbo_customers if "PrimaryEmailAddr" in c}
    qbo_names = [c["DisplayName"] for c in books.qbo_customers + books.qbo_vendors]
    jobsiteon_names = {key(c["name"]) for c in books.contacts}

    # ~15 % of contacts already in QBO under the same email; some spelled differently.
    assert len(s["email_matches"]) == max(4, round(0.15 * len(books.contacts)))
    for match in s["email_matches"]:
        contact = contacts[match["contact_id"]]
        qbo = qbo_by_email[contact["email"].casefold()]
        assert qbo["DisplayName"] == match["qbo_name"] and key(match["qbo_name"]) == key(contact["name"])
    assert any(m["qbo_name"] != m["jobsiteon_name"] for m in s["email_matches"])
    # Contact names are unique apart from the planted cases, in both systems (case/spacing-blind).
    assert max(Counter(key(c["name"]) for c in books.contacts).values()) == 1
    qbo_keys = Counter(key(name) for name in qbo_names)
    assert [name for name, n in qbo_keys.items() if n > 1] == [key(s["duplicate_names_in_qbo"]["qbo_names"][0])]

    for scenario, winner in (("conflict_jobsiteon_newer", "jobsiteon"), ("conflict_qbo_newer", "qbo")):
        case = s[scenario]
        contact = contacts[case["contact_id"]]
        qbo = qbo_by_email[contact["email"].casefold()]
        assert contact["phone"] == case["jobsiteon_phone"] != case["qbo_phone"]
        assert qbo["PrimaryPhone"]["FreeFormNumber"] == case["qbo_phone"]
        qbo_time = dt.datetime.combine(AS_OF, dt.time(), dt.timezone.utc) - dt.timedelta(
            days=case["qbo_days_before_as_of"])
        jobsiteon_newer = contact["updated_at"] > qbo_time + dt.timedelta(days=1)
        qbo_newer = qbo_time > contact["updated_at"] + dt.timedelta(days=1)
        assert case["winner"] == winner and (jobsiteon_newer if winner == "jobsiteon" else qbo_newer)

    item = s["item_price_conflict"]
    [qbo_item] = [i for i in books.qbo_items if i["Name"] == item["name"]]
    assert qbo_item["UnitPrice"] == item["qbo_price"] != item["jobsiteon_price"]

    pair = s["duplicate_names_in_qbo"]["qbo_names"]
    assert pair[0] != pair[1] and key(pair[0]) == key(pair[1]) and pair[0].casefold() != pair[1].casefold()

    taken = s["name_taken_different_email"]
    [holder] = [c for c in books.qbo_customers if c["DisplayName"] == taken["name"]]
    assert holder["PrimaryEmailAddr"]["Address"] != contacts[taken["contact_id"]]["email"]
    assert contacts[taken["contact_id"]]["email"].casefold() not in qbo_by_email

    both = s["customer_also_vendor"]
    assert contacts[both["contact_id"]]["name"] == both["name"]
    assert [v["name"] for v in books.vendors if v["id"] == both["vendor_id"]] == [both["name"]]
    assert both["name"] in [v["DisplayName"] for v in books.qbo_vendors]
    assert both["name"] not in [c["DisplayName"] for c in books.qbo_customers]

    assert all(key(name) not in jobsiteon_names for name in s["qbo_only_customers"]
               if name != taken["name"])
    assert set(s["qbo_only_items"]).isdisjoint(i["name"] for i in books.pricebook_items)
    assert len(s["qbo_only_invoices"]) == len(books.qbo_invoices) >= 3
    duplicate = s["duplicate_invoice_number"]
    assert duplicate["number"] in [i["DocNumber"] for i in books.qbo_invoices]
    assert [i["status"] for i in books.invoices if i["id"] == duplicate["invoice_id"]] == ["approved"]
    assert s["tax_inclusive_invoices"] and s["deleted_contacts"] and s["archived_items"]
    assert all(contacts[c]["deleted_at"] is not None for c in s["deleted_contacts"])


def test_seed_requests_only_reference_older_or_same_call_objects(full):
    requests = full.qbo_seed_requests(today=AS_OF)
    assert [r["backdate_days"] for r in requests] == sorted((r["backdate_days"] for r in requests),
                                                           reverse=True)
    seen_names: set[str] = set()
    seen_docs: set[str] = set()
    for body in requests:
        seen_names |= {o.get("DisplayName") or o.get("Name") for e in ("Customer", "Vendor", "Item")
                       for o in body.get(e, [])}
        seen_docs |= {o["DocNumber"] for o in body.get("Invoice", [])}
        for invoice in body.get("Invoice", []):
            assert invoice["CustomerRef"]["name"] in seen_names
            for line in invoice["Line"]:
                detail = line["SalesItemLineDetail"]
                assert detail["ItemRef"]["name"] in seen_names
                assert D(str(line["Amount"])) == line_amount(D(str(detail["Qty"])), D(str(detail["UnitPrice"])))
        for payment in body.get("Payment", []):
            assert payment["Line"][0]["LinkedTxn"][0]["DocNumber"] in seen_docs
    payload = full.qbo_seed_payload()
    assert set(payload) == set(QBO_ENTITIES)
    assert {e: len(payload[e]) for e in QBO_ENTITIES} == {
        e: full.counts()[f"qbo {e}"] for e in QBO_ENTITIES}
    assert all("days_before_as_of" not in obj for objects in payload.values() for obj in objects)


def test_load_jobsiteon_bulk_loads_the_small_books(db_url, small):
    engine = make_engine(db_url)
    try:
        store = JobsiteOnStore(engine)
        counts = small.load_jobsiteon(store, "ws_demo")
        assert counts == {table: len(rows) for table, rows in small.rows_by_table().items() if rows}
        invoices = store.read_frame("ws_demo", "invoices").set_index("id")
        assert len(invoices) == len(small.invoices)
        for invoice in small.invoices[:20]:
            row = invoices.loc[invoice["id"]]
            assert (row["total"], row["balance"], row["status"]) == (
                invoice["total"], invoice["balance"], invoice["status"])
            expected = [{k: v for k, v in line.items() if k not in ("id", "invoice_id")}
                        for line in small.invoice_lines if line["invoice_id"] == invoice["id"]]
            assert row["lines"] == expected
        contacts = store.read_frame("ws_demo", "contacts")
        assert contacts["deleted_at"].notna().sum() == len(small.scenarios["deleted_contacts"])
        feed = store.changes_since(0, limit=100_000)
        entity_rows = sum(len(getattr(small, spec)) for spec in
                          ("contacts", "pricebook_items", "invoices", "payments", "vendors",
                           "deposits", "credit_memos", "refund_receipts", "purchase_orders"))
        assert len(feed) == entity_rows
        assert {(row["operation"], row["source"]) for row in feed} == {("create", "user")}
        assert store.workspace_tax_rate("ws_demo") == D("0.08")
        with pytest.raises(InvalidRecord, match="bulk load.*loaded before"):
            small.load_jobsiteon(store, "ws_demo")
        assert len(store.changes_since(0, limit=100_000)) == entity_rows
    finally:
        engine.dispose()


def test_seed_qbo_into_the_emulator_and_query_it_back(emulator, qbo_company):
    books = generate_books(7, 0.05)  # as of today: the emulator backdates from its own now
    realm = qbo_company["realm_id"]
    created = books.seed_qbo(emulator.base_url, realm)
    assert {e: len(ids) for e, ids in created.items()} == {
        e: books.counts()[f"qbo {e}"] for e in QBO_ENTITIES}
    api = httpx.Client(base_url=f"{emulator.base_url}/v3/company/{realm}", timeout=30, headers={
        "Authorization": f"Bearer {qbo_company['access_token']}", "Accept": "application/json"})

    def call(method: str, path: str, **kwargs) -> httpx.Response:
        """Like a polite client: the emulator enforces QBO's 10 requests/s per realm."""
        for _ in range(10):
            response = api.request(method, path, **kwargs)
            if response.status_code != 429:
                return response
            time.sleep(1.0)
        return response

    def query(text: str) -> dict:
        response = call("GET", "/query", params={"query": text, "minorversion": "75"})
        assert response.status_code == 200, response.text
        return response.json()["QueryResponse"]

    with api:
        assert query("select count(*) from Customer")["totalCount"] == len(books.qbo_customers)
        assert query("select count(*) from Vendor")["totalCount"] == len(books.qbo_vendors)
        assert query("select count(*) from Invoice")["totalCount"] == len(books.qbo_invoices)
        assert query("select count(*) from Payment")["totalCount"] == len(books.qbo_payments)
        items = query("select * from Item maxresults 1000")["Item"]
        assert {i["Name"] for i in books.qbo_items} <= {i["Name"] for i in items}

        # QBO computes the same totals as JobsiteOn's math (8 %, half-up).
        for invoice in query("select * from Invoice")["Invoice"]:
            [seeded] = [i for i in books.qbo_invoices if i["DocNumber"] == invoice["DocNumber"]]
            lines = [{"qty": D(str(line["SalesItemLineDetail"]["Qty"])),
                      "unit_price": D(str(line["SalesItemLineDetail"]["UnitPrice"])),
                      "taxable": line["SalesItemLineDetail"]["TaxCodeRef"]["value"] == "TAX"}
                     for line in seeded["Line"]]
            total = compute_document_totals(lines, books.tax_rate, False)[2]
            assert D(str(invoice["TotalAmt"])) == total

        # The planted update times landed where "most recent wins" needs them.
        emulator_now = dt.datetime.fromisoformat(
            httpx.get(f"{emulator.base_url}/_emulator/clock").json()["now"])
        drift = emulator_now - dt.datetime.now(dt.timezone.utc)
        contacts = {c["id"]: c for c in books.contacts}
        for scenario in ("conflict_qbo_newer", "conflict_jobsiteon_newer"):
            case = books.scenarios[scenario]
            contact = contacts[case["contact_id"]]
            [customer] = query("select * from Customer where PrimaryEmailAddr = "
                               f"'{contact['email']}'")["Customer"]
            assert customer["PrimaryPhone"]["FreeFormNumber"] == case["qbo_phone"] != contact["phone"]
            qbo_updated = dt.datetime.fromisoformat(customer["MetaData"]["LastUpdatedTime"])
            expected = emulator_now - dt.timedelta(days=case["qbo_days_before_as_of"])
            assert abs(qbo_updated - expected) < dt.timedelta(minutes=10)
            qbo_newer = qbo_updated - drift > contact["updated_at"]
            assert qbo_newer == (case["winner"] == "qbo")

        # ...and the planted collisions really collide in QBO.
        both = books.scenarios["customer_also_vendor"]["name"]
        response = call("POST", "/customer", json={"DisplayName": both},
                        params={"minorversion": "75"})
        assert response.status_code == 400 and "6240" in response.text
        duplicate = books.scenarios["duplicate_invoice_number"]["number"]
        [any_customer] = query("select * from Customer maxresults 1")["Customer"]
        response = call("POST", "/invoice", params={"minorversion": "75"}, json={
            "DocNumber": duplicate, "CustomerRef": {"value": any_customer["Id"]},
            "Line": [{"Amount": 10, "DetailType": "SalesItemLineDetail",
                      "SalesItemLineDetail": {"ItemRef": {"value": items[0]["Id"]}, "Qty": 1,
                                              "UnitPrice": 10}}]})
        assert response.status_code == 400 and "6140" in response.text


def test_cli_prints_counts(capsys):
    assert demo_main(["--seed", "7", "--scale", "0.05", "--as-of", "2025-06-30", "--stats"]) == 0
    out = capsys.readouterr().out
    assert "invoices" in out and "100" in out and "customer_also_vendor" in out
