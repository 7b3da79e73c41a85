"""JobsiteOnStore on real SQLite and real PostgreSQL: schema, canonical frames, atomic batched
writes, the change feed (same transaction, source, order) and the user actions."""
from __future__ import annotations

import datetime as dt
import threading
import time
from decimal import Decimal as D

import pandas as pd
import pytest
import sqlalchemy as sa

from qbo_pipeline.jobsiteon import feed
from qbo_pipeline.jobsiteon.db import make_engine, normalize_url
from qbo_pipeline.jobsiteon.money import compute_document_totals
from qbo_pipeline.jobsiteon.store import InvalidRecord, JobsiteOnStore, RecordNotFound

WS = "ws_acme"
RATE = D("0.0825")

# The contract of docs/jobsiteon-schema.md, spelled out: frame columns per entity.
FRAME_COLUMNS = {
    "contacts": ["id", "name", "email", "phone", "billing_line1", "billing_city", "billing_state",
                 "billing_postal_code", "billing_country", "updated_at", "deleted_at"],
    "pricebook_items": ["id", "name", "description", "default_price", "type", "archived",
                        "updated_at", "deleted_at"],
    "invoices": ["id", "number", "contact_id", "status", "issue_date", "due_date", "tax_inclusive",
                 "subtotal", "tax", "total", "amount_paid", "balance", "updated_at", "deleted_at",
                 "lines"],
    "payments": ["id", "contact_id", "invoice_id", "amount", "paid_on", "method", "reference",
                 "origin", "updated_at", "deleted_at"],
    "vendors": ["id", "name", "email", "phone", "billing_line1", "billing_city", "billing_state",
                "billing_postal_code", "billing_country", "updated_at", "deleted_at"],
    "deposits": ["id", "deposited_on", "account_name", "memo", "total", "updated_at", "deleted_at",
                 "lines"],
    "credit_memos": ["id", "number", "contact_id", "issue_date", "tax_inclusive", "subtotal", "tax",
                     "total", "remaining_credit", "updated_at", "deleted_at", "lines"],
    "refund_receipts": ["id", "number", "contact_id", "issue_date", "payment_method",
                        "refund_from_account", "total", "updated_at", "deleted_at", "lines"],
    "purchase_orders": ["id", "number", "vendor_id", "status", "issue_date", "due_date", "memo",
                        "total", "updated_at", "deleted_at", "lines"],
}
SALES_LINE_KEYS = ["position", "item_id", "description", "qty", "unit_price", "taxable"]
LINE_KEYS = {
    "invoices": SALES_LINE_KEYS, "credit_memos": SALES_LINE_KEYS, "refund_receipts": SALES_LINE_KEYS,
    "deposits": ["position", "payment_id", "description", "amount"],
    "purchase_orders": ["position", "item_id", "description", "qty", "unit_cost"],
}


@pytest.fixture()
def store(db_url):
    engine = make_engine(db_url)
    store = JobsiteOnStore(engine)
    store.create_schema()
    store.ensure_workspace(WS, "Acme Builders", tax_rate=RATE)
    yield store
    engine.dispose()


def seed_basics(store: JobsiteOnStore) -> dict[str, str]:
    """A contact, a vendor, a service and a part (as a JobsiteOn user would create them)."""
    ids = {
        "contact": store.create_contact(WS, "Maria Lopez", "maria.lopez@gmail.com", "(512) 555-0101",
                                        billing_line1="100 Congress Ave", billing_city="Austin",
                                        billing_state="TX", billing_postal_code="78701",
                                        billing_country="US"),
        "vendor": store.create_record(WS, "vendors", name="Hill Country Lumber Supply",
                                      email="orders@hclumber.com"),
        "service": store.create_record(WS, "pricebook_items", name="Electrician hourly",
                                       default_price="115.00", type="service"),
        "part": store.create_record(WS, "pricebook_items", name="2x4 stud 8ft",
                                    default_price="4.28", type="part"),
    }
    return ids


def approved_invoice(store, ids, number="5001", **extra) -> str:
    return store.create_record(WS, "invoices", number=number, contact_id=ids["contact"],
                               status="approved", issue_date="2025-03-01", due_date="2025-03-31",
                               lines=[{"item_id": ids["service"], "qty": "2.5", "unit_price": "115"},
                                      {"item_id": ids["part"], "qty": 20, "unit_price": "4.28"}],
                               **extra)


def feed_rows(store, since=0):
    return store.changes_since(since, limit=10_000)


# ---------------------------------------------------------------------------- schema


def test_create_schema_is_idempotent_and_indexed(store):
    store.create_schema()  # a second time: no error, nothing dropped
    inspector = sa.inspect(store.engine)
    tables = set(inspector.get_table_names())
    assert set(FRAME_COLUMNS) | {"workspaces", "change_feed", "invoice_lines", "deposit_lines",
                                 "credit_memo_lines", "refund_receipt_lines",
                                 "purchase_order_lines"} <= tables
    indexed = {table: {tuple(ix["column_names"]) for ix in inspector.get_indexes(table)}
               for table in tables}
    for table in FRAME_COLUMNS:
        assert ("workspace_id", "updated_at") in indexed[table], table
    assert ("workspace_id", "email") in indexed["contacts"]
    for table in ("invoices", "credit_memos", "refund_receipts", "purchase_orders"):
        assert ("workspace_id", "number") in indexed[table], table
    for table, parent in (("invoice_lines", "invoice_id"), ("deposit_lines", "deposit_id"),
                          ("credit_memo_lines", "credit_memo_id"),
                          ("refund_receipt_lines", "refund_receipt_id"),
                          ("purchase_order_lines", "purchase_order_id")):
        assert any(ix[0] == parent for ix in indexed[table]), table
    feed_columns = [c["name"] for c in inspector.get_columns("change_feed")]
    assert feed_columns == ["seq", "workspace_id", "entity", "record_id", "operation", "source",
                            "changed_at"]


def test_database_url_normalization():
    assert normalize_url("postgresql://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"


def test_default_engine_is_sqlite_in_data_dir_with_wal(tmp_path, monkeypatch):
    monkeypatch.delenv("JOBSITEON_DATABASE_URL", raising=False)
    monkeypatch.setenv("QBO_PIPELINE_DATA_DIR", str(tmp_path))
    engine = make_engine()
    try:
        assert engine.url.database == str(tmp_path / "jobsiteon.db")
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    finally:
        engine.dispose()


# ---------------------------------------------------------------------------- frames


def test_read_frame_returns_every_entity_with_lines_and_decimal_money(store):
    ids = seed_basics(store)
    invoice = approved_invoice(store, ids)
    payment = store.record_payment(WS, invoice, "100.00", paid_on=dt.date(2025, 3, 5))
    store.create_record(WS, "deposits", deposited_on="2025-03-07", account_name="Business Checking",
                        lines=[{"payment_id": payment, "description": "Lopez check", "amount": "100.00"}])
    store.create_record(WS, "credit_memos", number="CM-1", contact_id=ids["contact"],
                        issue_date="2025-03-09",
                        lines=[{"item_id": ids["part"], "qty": 2, "unit_price": "4.28"}])
    store.create_record(WS, "refund_receipts", number="RF-1", contact_id=ids["contact"],
                        issue_date="2025-03-10", payment_method="check",
                        refund_from_account="Business Checking",
                        lines=[{"item_id": ids["part"], "qty": 1, "unit_price": "4.28"}])
    store.create_record(WS, "purchase_orders", number="PO-1", vendor_id=ids["vendor"],
                        issue_date="2025-02-20",
                        lines=[{"position": 2, "item_id": ids["part"], "qty": 100, "unit_cost": "2.75"},
                               {"position": 1, "description": "Delivery", "qty": 1, "unit_cost": "45"}])

    for entity, columns in FRAME_COLUMNS.items():
        frame = store.read_frame(WS, entity)
        assert list(frame.columns) == columns, entity
        assert len(frame) >= 1, entity
        assert str(frame["updated_at"].dtype) == "datetime64[ns, UTC]"
        if entity in LINE_KEYS:
            for lines in frame["lines"]:
                assert lines and [list(line) for line in lines] == [LINE_KEYS[entity]] * len(lines)
                assert [line["position"] for line in lines] == sorted(line["position"] for line in lines)

    invoices = store.read_frame(WS, "invoices")
    row = invoices.iloc[0]
    assert isinstance(row["total"], D) and isinstance(row["lines"][0]["qty"], D)
    # 2.5 x 115 = 287.50 (labor, taxable by default here) + 20 x 4.28 = 85.60 -> taxable 373.10
    expected = compute_document_totals(row["lines"], RATE, False)
    assert (row["subtotal"], row["tax"], row["total"]) == expected == (D("373.10"), D("30.78"), D("403.88"))
    assert row["issue_date"] == dt.date(2025, 3, 1)
    assert pd.isna(row["deleted_at"])

    purchase_order = store.read_frame(WS, "purchase_orders").iloc[0]
    assert [line["description"] for line in purchase_order["lines"]][0] == "Delivery"
    assert purchase_order["total"] == D("320.00")
    assert store.read_frame(WS, "deposits").iloc[0]["total"] == D("100.00")
    assert store.read_frame(WS, "credit_memos").iloc[0]["remaining_credit"] == D("9.27")  # 8.56 + 0.71 tax
    assert store.read_frame(WS, "refund_receipts").iloc[0]["total"] == D("4.63")  # 4.28 + 0.35
    assert store.read_frame("another_workspace", "contacts").empty


def test_read_frame_includes_soft_deleted_rows_and_filters_by_ids_in_chunks(store):
    contacts = [{"id": f"c{n:04d}", "name": f"Customer {n}", "email": f"c{n}@example.com"}
                for n in range(1200)]
    assert len(store.apply(WS, "contacts", contacts)) == 1200
    store.soft_delete(WS, "contacts", "c0007")
    wanted = [f"c{n:04d}" for n in range(0, 1200, 2)] + ["not-there"]
    frame = store.read_frame(WS, "contacts", ids=wanted)
    assert list(frame["id"]) == sorted(wanted[:-1])
    assert store.read_frame(WS, "contacts", ids=[]).empty
    everything = store.read_frame(WS, "contacts")
    assert len(everything) == 1200
    assert pd.notna(everything.set_index("id").loc["c0007", "deleted_at"])


def test_read_frame_is_one_query_for_headers_and_one_for_lines(store):
    ids = seed_basics(store)
    for n in range(30):
        approved_invoice(store, ids, number=str(6000 + n))
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    sa.event.listen(store.engine, "before_cursor_execute", count)
    try:
        frame = store.read_frame(WS, "invoices")
        assert len(frame) == 30 and all(len(lines) == 2 for lines in frame["lines"])
        assert len(statements) == 2
        statements.clear()
        store.read_frame(WS, "invoices", ids=list(frame["id"][:3]))
        assert len(statements) == 2
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", count)


# ---------------------------------------------------------------------------- writes


def test_apply_updates_partially_skips_no_ops_and_feeds_integration_writes(store):
    store.apply(WS, "contacts", [{"id": "c1", "name": "Ann Lee", "email": "ann@lee.com",
                                  "phone": "(512) 555-0100"}])
    before = store.get(WS, "contacts", "c1")
    seq = store.latest_seq()

    assert store.apply(WS, "contacts", [{"id": "c1", "name": "Ann Lee", "email": "ann@lee.com"}]) == []
    assert feed_rows(store, seq) == []
    assert store.get(WS, "contacts", "c1")["updated_at"] == before["updated_at"]

    assert store.apply(WS, "contacts", [{"id": "c1", "phone": "(512) 555-0199"}]) == ["c1"]
    after = store.get(WS, "contacts", "c1")
    assert after["phone"] == "(512) 555-0199" and after["email"] == "ann@lee.com"
    assert after["updated_at"] > before["updated_at"]
    [entry] = feed_rows(store, seq)
    assert (entry["entity"], entry["record_id"], entry["operation"], entry["source"]) == (
        "contacts", "c1", "update", "integration")


def test_apply_accepts_values_as_pandas_and_json_give_them(store):
    ids = seed_basics(store)
    store.apply(WS, "pricebook_items", [{"id": ids["part"], "default_price": 4.35,
                                         "description": float("nan")}])
    item = store.get(WS, "pricebook_items", ids["part"])
    assert item["default_price"] == D("4.35") and item["description"] is None
    when = pd.Timestamp("2025-01-02T03:04:05Z")
    store.apply(WS, "contacts", [{"id": ids["contact"], "phone": "1", "updated_at": when}])
    assert store.get(WS, "contacts", ids["contact"])["updated_at"] == when.to_pydatetime()


def test_a_failing_record_rolls_back_the_whole_batch(store):
    seq = store.latest_seq()
    good = [{"id": f"ok{n}", "name": f"Good {n}"} for n in range(3)]
    with pytest.raises(RecordNotFound, match="ghost"):
        store.apply(WS, "contacts", good, deletes=["ghost"])
    with pytest.raises(InvalidRecord, match="bad1.*status 'sent'.*draft"):
        store.apply(WS, "invoices", [{"id": "bad0", "contact_id": "x"},
                                     {"id": "bad1", "contact_id": "x", "status": "sent"}])
    with pytest.raises(InvalidRecord, match=r"contacts nameless: required field 'name'"):
        store.apply(WS, "contacts", good + [{"id": "nameless", "email": "n@x.com"}])
    # The database itself refuses the second invoice's lines (two lines at position 1) after
    # the first invoice and its lines were written: everything goes.
    lines = [{"position": 1, "qty": 1, "unit_price": 5}, {"position": 1, "qty": 2, "unit_price": 5}]
    with pytest.raises(InvalidRecord, match="rolled back"):
        store.apply(WS, "invoices", [
            {"id": "inv-ok", "contact_id": "x", "lines": [{"qty": 1, "unit_price": 5}]},
            {"id": "inv-dup-lines", "contact_id": "x", "lines": lines},
        ])
    for entity in ("contacts", "invoices"):
        assert store.read_frame(WS, entity).empty
    assert feed_rows(store, seq) == []


def test_invalid_input_errors_name_the_record_and_the_fix(store):
    with pytest.raises(InvalidRecord, match=r"contacts c9: unknown field 'mobile'.*use one of"):
        store.apply(WS, "contacts", [{"id": "c9", "name": "X", "mobile": "1"}])
    with pytest.raises(InvalidRecord, match=r"pricebook_items i1: field 'default_price'"):
        store.apply(WS, "pricebook_items", [{"id": "i1", "name": "X", "default_price": "abc"}])
    with pytest.raises(InvalidRecord, match="unknown JobsiteOn entity 'clients'"):
        store.read_frame(WS, "clients")
    with pytest.raises(RecordNotFound, match="ensure_workspace"):
        store.apply("no_such_ws", "contacts", [{"id": "c1", "name": "X"}])
    store.ensure_workspace("ws_other", "Other")
    store.apply("ws_other", "contacts", [{"id": "shared", "name": "Theirs"}])
    with pytest.raises(InvalidRecord, match="belongs to another workspace"):
        store.apply(WS, "contacts", [{"id": "shared", "name": "Mine"}])
    with pytest.raises(RecordNotFound):
        store.update_record(WS, "contacts", "nobody", phone="1")


def test_soft_delete_is_fed_once_and_kept_in_frames(store):
    ids = seed_basics(store)
    seq = store.latest_seq()
    assert store.soft_delete(WS, "contacts", ids["contact"]) is True
    assert store.soft_delete(WS, "contacts", ids["contact"]) is False  # already deleted
    [entry] = feed_rows(store, seq)
    assert (entry["operation"], entry["source"]) == ("delete", "user")
    assert store.get(WS, "contacts", ids["contact"])["deleted_at"] is not None


# ---------------------------------------------------------------------------- change feed


def test_change_feed_is_ordered_paged_and_tells_user_from_integration(store):
    ids = seed_basics(store)  # 4 user creates
    store.apply(WS, "contacts", [{"id": "from_qbo", "name": "Pulled From QBO"}])  # integration
    store.update_record(WS, "contacts", ids["contact"], phone="(512) 555-0102")  # user
    store.archive_item(WS, ids["part"])
    rows = feed_rows(store)
    assert [row["seq"] for row in rows] == sorted({row["seq"] for row in rows})
    assert [(r["entity"], r["operation"], r["source"]) for r in rows] == [
        ("contacts", "create", "user"), ("vendors", "create", "user"),
        ("pricebook_items", "create", "user"), ("pricebook_items", "create", "user"),
        ("contacts", "create", "integration"), ("contacts", "update", "user"),
        ("pricebook_items", "update", "user"),
    ]
    assert all(row["changed_at"].tzinfo is not None and row["workspace_id"] == WS for row in rows)
    assert store.latest_seq() == rows[-1]["seq"]
    first_page = store.changes_since(0, limit=3)
    second_page = store.changes_since(first_page[-1]["seq"], limit=3)
    assert first_page + second_page == rows[:6]
    store.ensure_workspace("ws_b", "B")
    store.create_contact("ws_b", "Someone Else")
    assert [r["workspace_id"] for r in store.changes_since(0, workspace_id="ws_b")] == ["ws_b"]
    assert store.latest_seq("ws_b") == store.latest_seq() > rows[-1]["seq"]


def test_feed_appends_are_serialized_so_seq_order_is_commit_order(store):
    """A writer that started later cannot commit a feed entry before an earlier, still open
    transaction's entry: otherwise a reader could move its cursor past the earlier seq."""
    seq = store.latest_seq()
    slow = store.engine.connect()
    try:
        feed.append_changes(slow, WS, "user", dt.datetime.now(dt.timezone.utc),
                            [("contacts", "slow-one", "create")])
        finished = threading.Event()

        def fast_writer():
            store.apply(WS, "contacts", [{"id": "fast-one", "name": "Fast"}], origin="user")
            finished.set()

        thread = threading.Thread(target=fast_writer)
        thread.start()
        time.sleep(0.5)
        assert not finished.is_set(), "the second writer committed while the first held the feed"
        assert feed_rows(store, seq) == []
        slow.commit()
        thread.join(timeout=30)
        assert finished.is_set()
    finally:
        slow.close()
    assert [row["record_id"] for row in feed_rows(store, seq)] == ["slow-one", "fast-one"]


# ---------------------------------------------------------------------------- user actions


def test_record_payment_moves_the_invoice_through_its_statuses(store):
    ids = seed_basics(store)
    invoice_id = approved_invoice(store, ids)  # total 403.88
    seq = store.latest_seq()

    first = store.record_payment(WS, invoice_id, "100.00", paid_on=dt.date(2025, 3, 5),
                                 method="check", reference="Check #1042")
    invoice = store.get(WS, "invoices", invoice_id)
    assert (invoice["status"], invoice["amount_paid"], invoice["balance"]) == (
        "partially_paid", D("100.00"), D("303.88"))
    entries = feed_rows(store, seq)
    assert [(e["entity"], e["record_id"], e["operation"], e["source"]) for e in entries] == [
        ("payments", first, "create", "user"), ("invoices", invoice_id, "update", "user")]
    assert entries[0]["changed_at"] == entries[1]["changed_at"]  # one transaction

    with pytest.raises(InvalidRecord, match="at most its balance 303.88"):
        store.record_payment(WS, invoice_id, "303.89")
    store.record_payment(WS, invoice_id, "303.88")
    invoice = store.get(WS, "invoices", invoice_id)
    assert (invoice["status"], invoice["amount_paid"], invoice["balance"]) == (
        "paid", D("403.88"), D("0.00"))
    payment = store.get(WS, "payments", first)
    assert payment["contact_id"] == ids["contact"] and payment["origin"] == "jobsiteon"

    # Deleting a payment reopens the invoice, in the same transaction.
    store.soft_delete(WS, "payments", first)
    invoice = store.get(WS, "invoices", invoice_id)
    assert (invoice["status"], invoice["balance"]) == ("partially_paid", D("100.00"))

    draft = store.create_record(WS, "invoices", number="5002", contact_id=ids["contact"],
                                lines=[{"qty": 1, "unit_price": 50}])
    with pytest.raises(InvalidRecord, match="draft; only approved invoices take payments"):
        store.record_payment(WS, draft, "10")


def test_payments_pulled_by_the_integration_update_the_invoice_as_integration(store):
    ids = seed_basics(store)
    invoice_id = approved_invoice(store, ids)
    seq = store.latest_seq()
    store.apply(WS, "payments", [{"id": "qbo-pay-1", "contact_id": ids["contact"],
                                  "invoice_id": invoice_id, "amount": "403.88",
                                  "paid_on": "2025-03-20", "origin": "qbo"}])
    invoice = store.get(WS, "invoices", invoice_id)
    assert (invoice["status"], invoice["balance"]) == ("paid", D("0.00"))
    assert {(e["entity"], e["source"]) for e in feed_rows(store, seq)} == {
        ("payments", "integration"), ("invoices", "integration")}
    with pytest.raises(InvalidRecord, match="invoices \\['nope'\\] that do not exist"):
        store.apply(WS, "payments", [{"id": "p2", "contact_id": ids["contact"],
                                      "invoice_id": "nope", "amount": 1}])


def test_void_invoice_archive_item_and_derived_totals(store):
    ids = seed_basics(store)
    invoice_id = approved_invoice(store, ids)
    assert store.void_invoice(WS, invoice_id) is True
    invoice = store.get(WS, "invoices", invoice_id)
    assert (invoice["status"], invoice["balance"], invoice["total"]) == ("void", D("0.00"), D("403.88"))

    paid = approved_invoice(store, ids, number="5002")
    store.record_payment(WS, paid, "1.00")
    with pytest.raises(InvalidRecord, match="cannot be voided"):
        store.void_invoice(WS, paid)

    assert store.archive_item(WS, ids["service"]) is True
    assert store.get(WS, "pricebook_items", ids["service"])["archived"] is True
    assert store.archive_item(WS, ids["service"], archived=False) is True
    assert store.get(WS, "pricebook_items", ids["service"])["archived"] is False

    # Editing lines recomputes totals and balance; switching to tax-inclusive too.
    store.update_record(WS, "invoices", paid, lines=[{"qty": 1, "unit_price": "108.25"}])
    invoice = store.get(WS, "invoices", paid)
    assert (invoice["total"], invoice["balance"]) == (D("117.18"), D("116.18"))
    store.update_record(WS, "invoices", paid, tax_inclusive=True)
    invoice = store.get(WS, "invoices", paid)
    assert (invoice["subtotal"], invoice["tax"], invoice["total"]) == (D("100.00"), D("8.25"), D("108.25"))
    # Totals given explicitly (QBO's, say) are kept as given.
    store.apply(WS, "invoices", [{"id": paid, "subtotal": "100.00", "tax": "8.26", "total": "108.26"}])
    assert store.get(WS, "invoices", paid)["total"] == D("108.26")


def test_registry_entity_names_are_accepted_and_fed_as_table_names(store):
    store.apply(WS, "customers", [{"id": "c-alias", "name": "Alias Customer"}])
    store.apply(WS, "items", [{"id": "i-alias", "name": "Alias Item", "type": "part"}])
    assert list(store.read_frame(WS, "customers")["id"]) == ["c-alias"]
    assert [e["entity"] for e in feed_rows(store)] == ["contacts", "pricebook_items"]
