"""JobsiteOn's tables, exactly as docs/jobsiteon-schema.md describes them (SQLAlchemy Core).

These tables stand for JobsiteOn's own product database: JobsiteOn migrates it, not us, so
`create_schema` is a plain idempotent `metadata.create_all` (used by tests, the demo and the
embedded default) rather than an Alembic history of ours.

Portable between PostgreSQL and SQLite:
- money is NUMERIC(14,2) and quantities NUMERIC(14,4), read back as `Decimal` on both (on
  SQLite the value is bound as its decimal text, so no float ever passes through our code);
- timestamps are timezone-aware UTC on both (SQLite stores naive UTC text; `UTCDateTime`
  puts the zone back on read);
- enumerated text columns carry CHECK constraints, so a bad status fails the whole write.

Cross-entity references (contact_id, item_id, vendor_id, invoice_id, payment_id) are plain
columns without FOREIGN KEYs: JobsiteOn's records may point at records soft-deleted since, and
the sync checks mapping completeness itself. Line tables do reference their parent, and
every entity table references its workspace. Line tables carry no timestamps or
workspace_id: lines are always replaced together with their parent, whose updated_at covers
them.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

metadata = sa.MetaData()


class _SQLiteDecimal(sa.Numeric):
    """NUMERIC for SQLite bound as decimal text instead of via float.

    SQLite's NUMERIC affinity stores the text as a number; SQLAlchemy's default path would
    convert the Decimal to float first (and warn about it).
    """

    cache_ok = True

    def bind_processor(self, dialect):  # noqa: ARG002 - same for every SQLite driver
        def process(value):
            if value is None:
                return None
            return str(value if isinstance(value, Decimal) else Decimal(str(value)))

        return process


def _numeric(precision: int, scale: int) -> sa.types.TypeEngine:
    return sa.Numeric(precision, scale, asdecimal=True).with_variant(
        _SQLiteDecimal(precision, scale, asdecimal=True), "sqlite"
    )


def Money() -> sa.types.TypeEngine:  # noqa: N802 - reads like a type in column lists
    return _numeric(14, 2)


def Quantity() -> sa.types.TypeEngine:  # noqa: N802
    return _numeric(14, 4)


def Rate() -> sa.types.TypeEngine:  # noqa: N802 - tax rates such as 0.08875
    return _numeric(9, 6)


class UTCDateTime(sa.types.TypeDecorator):
    """Timezone-aware UTC datetimes on every dialect (naive input is taken as UTC)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        value = value.astimezone(dt.timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):  # noqa: ARG002
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


def _one_of(column: str, values: tuple[str, ...], table: str) -> sa.CheckConstraint:
    allowed = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({allowed})", name=f"ck_{table}_{column}")


def _entity_table(name: str, *columns: sa.Column | sa.Constraint, **kw) -> sa.Table:
    """A JobsiteOn entity table with the common columns every entity has."""
    return sa.Table(
        name,
        metadata,
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("workspace_id", sa.Text, sa.ForeignKey("workspaces.id"), nullable=False),
        *columns,
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("deleted_at", UTCDateTime(), nullable=True),
        sa.Index(f"ix_{name}_workspace_updated", "workspace_id", "updated_at"),
        **kw,
    )


def _line_table(name: str, parent: str, parent_column: str, *columns: sa.Column) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column(parent_column, sa.Text, sa.ForeignKey(f"{parent}.id"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        *columns,
        sa.Index(f"ix_{name}_{parent_column}", parent_column, "position"),
    )


def _address_columns() -> list[sa.Column]:
    return [
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("email", sa.Text),
        sa.Column("phone", sa.Text),
        sa.Column("billing_line1", sa.Text),
        sa.Column("billing_city", sa.Text),
        sa.Column("billing_state", sa.Text),
        sa.Column("billing_postal_code", sa.Text),
        sa.Column("billing_country", sa.Text),
    ]


def _sales_line_columns() -> list[sa.Column]:
    return [
        sa.Column("item_id", sa.Text),
        sa.Column("description", sa.Text),
        sa.Column("qty", Quantity(), nullable=False, server_default="1"),
        sa.Column("unit_price", Money(), nullable=False, server_default="0"),
        sa.Column("taxable", sa.Boolean, nullable=False, server_default=sa.true()),
    ]


INVOICE_STATUSES = ("draft", "approved", "partially_paid", "paid", "void")
ITEM_TYPES = ("service", "part")
PAYMENT_ORIGINS = ("jobsiteon", "qbo")
PURCHASE_ORDER_STATUSES = ("open", "closed")
FEED_OPERATIONS = ("create", "update", "delete")
FEED_SOURCES = ("user", "integration")

workspaces = sa.Table(
    "workspaces",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    # The workspace's sales-tax rate (0.0825 = 8.25 %); JobsiteOn's invoice math uses it.
    sa.Column("tax_rate", Rate(), nullable=False, server_default="0"),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("deleted_at", UTCDateTime(), nullable=True),
)

contacts = _entity_table(
    "contacts",
    *_address_columns(),
    sa.Index("ix_contacts_workspace_email", "workspace_id", "email"),
)

pricebook_items = _entity_table(
    "pricebook_items",
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("default_price", Money()),
    sa.Column("type", sa.Text, nullable=False, server_default="service"),
    sa.Column("archived", sa.Boolean, nullable=False, server_default=sa.false()),
    _one_of("type", ITEM_TYPES, "pricebook_items"),
)

invoices = _entity_table(
    "invoices",
    sa.Column("number", sa.Text),
    sa.Column("contact_id", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False, server_default="draft"),
    sa.Column("issue_date", sa.Date),
    sa.Column("due_date", sa.Date),
    sa.Column("tax_inclusive", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("subtotal", Money(), nullable=False, server_default="0"),
    sa.Column("tax", Money(), nullable=False, server_default="0"),
    sa.Column("total", Money(), nullable=False, server_default="0"),
    sa.Column("amount_paid", Money(), nullable=False, server_default="0"),
    sa.Column("balance", Money(), nullable=False, server_default="0"),
    _one_of("status", INVOICE_STATUSES, "invoices"),
    sa.Index("ix_invoices_workspace_number", "workspace_id", "number"),
)

invoice_lines = _line_table("invoice_lines", "invoices", "invoice_id", *_sales_line_columns())

payments = _entity_table(
    "payments",
    sa.Column("contact_id", sa.Text, nullable=False),
    sa.Column("invoice_id", sa.Text),
    sa.Column("amount", Money(), nullable=False),
    sa.Column("paid_on", sa.Date),
    sa.Column("method", sa.Text),
    sa.Column("reference", sa.Text),
    sa.Column("origin", sa.Text, nullable=False, server_default="jobsiteon"),
    _one_of("origin", PAYMENT_ORIGINS, "payments"),
    sa.Index("ix_payments_invoice_id", "invoice_id"),
)

vendors = _entity_table("vendors", *_address_columns())

deposits = _entity_table(
    "deposits",
    sa.Column("deposited_on", sa.Date),
    sa.Column("account_name", sa.Text),
    sa.Column("memo", sa.Text),
    sa.Column("total", Money(), nullable=False, server_default="0"),
)

deposit_lines = _line_table(
    "deposit_lines",
    "deposits",
    "deposit_id",
    sa.Column("payment_id", sa.Text),
    sa.Column("description", sa.Text),
    sa.Column("amount", Money(), nullable=False, server_default="0"),
)

credit_memos = _entity_table(
    "credit_memos",
    sa.Column("number", sa.Text),
    sa.Column("contact_id", sa.Text, nullable=False),
    sa.Column("issue_date", sa.Date),
    sa.Column("tax_inclusive", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("subtotal", Money(), nullable=False, server_default="0"),
    sa.Column("tax", Money(), nullable=False, server_default="0"),
    sa.Column("total", Money(), nullable=False, server_default="0"),
    sa.Column("remaining_credit", Money(), nullable=False, server_default="0"),
    sa.Index("ix_credit_memos_workspace_number", "workspace_id", "number"),
)

credit_memo_lines = _line_table(
    "credit_memo_lines", "credit_memos", "credit_memo_id", *_sales_line_columns()
)

refund_receipts = _entity_table(
    "refund_receipts",
    sa.Column("number", sa.Text),
    sa.Column("contact_id", sa.Text),
    sa.Column("issue_date", sa.Date),
    sa.Column("payment_method", sa.Text),
    sa.Column("refund_from_account", sa.Text),
    sa.Column("total", Money(), nullable=False, server_default="0"),
    sa.Index("ix_refund_receipts_workspace_number", "workspace_id", "number"),
)

refund_receipt_lines = _line_table(
    "refund_receipt_lines", "refund_receipts", "refund_receipt_id", *_sales_line_columns()
)

purchase_orders = _entity_table(
    "purchase_orders",
    sa.Column("number", sa.Text),
    sa.Column("vendor_id", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False, server_default="open"),
    sa.Column("issue_date", sa.Date),
    sa.Column("due_date", sa.Date),
    sa.Column("memo", sa.Text),
    sa.Column("total", Money(), nullable=False, server_default="0"),
    _one_of("status", PURCHASE_ORDER_STATUSES, "purchase_orders"),
    sa.Index("ix_purchase_orders_workspace_number", "workspace_id", "number"),
)

purchase_order_lines = _line_table(
    "purchase_order_lines",
    "purchase_orders",
    "purchase_order_id",
    sa.Column("item_id", sa.Text),
    sa.Column("description", sa.Text),
    sa.Column("qty", Quantity(), nullable=False, server_default="1"),
    sa.Column("unit_cost", Money(), nullable=False, server_default="0"),
)

change_feed = sa.Table(
    "change_feed",
    metadata,
    # BIGINT on PostgreSQL; on SQLite an INTEGER PRIMARY KEY with AUTOINCREMENT so a seq
    # is never reused even after the newest rows are pruned.
    sa.Column(
        "seq",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("workspace_id", sa.Text, nullable=False),
    sa.Column("entity", sa.Text, nullable=False),
    sa.Column("record_id", sa.Text, nullable=False),
    sa.Column("operation", sa.Text, nullable=False),
    # 'user': a change made in JobsiteOn (to push); 'integration': our own write (never echo).
    sa.Column("source", sa.Text, nullable=False, server_default="user"),
    sa.Column("changed_at", UTCDateTime(), nullable=False),
    _one_of("operation", FEED_OPERATIONS, "change_feed"),
    _one_of("source", FEED_SOURCES, "change_feed"),
    sa.Index("ix_change_feed_workspace_seq", "workspace_id", "seq"),
    sqlite_autoincrement=True,
)


def create_schema(engine: Engine) -> None:
    """Creates JobsiteOn's tables that do not exist yet (safe to call repeatedly).

    Not a migration tool on purpose: the real JobsiteOn migrates its own database; this stands
    in for it in tests, the demo and the embedded default.
    """
    metadata.create_all(engine)
