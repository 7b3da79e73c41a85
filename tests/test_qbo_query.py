"""QBO query builder: literal escaping, IN lists, datetimes, paging clauses."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from qbo_pipeline.qbo.models import Ref
from qbo_pipeline.qbo.query import Condition, conditions_text, escape_string, literal, select, select_count


def test_apostrophe_and_backslash_are_backslash_escaped():
    assert literal("O'Brien & Sons") == "'O\\'Brien & Sons'"
    assert literal("back\\slash") == "'back\\\\slash'"
    # a trailing backslash must not swallow the closing quote
    assert literal("ends\\") == "'ends\\\\'"
    assert escape_string("a'\\'b") == "a\\'\\\\\\'b"


def test_other_literals():
    assert literal(True) == "true" and literal(False) == "false"
    assert literal(Decimal("300.00")) == "'300.00'"
    assert literal(42) == "'42'"
    assert literal(date(2024, 2, 29)) == "'2024-02-29'"
    pacific = timezone(timedelta(hours=-7))
    assert literal(datetime(2015, 12, 23, 10, 0, tzinfo=pacific)) == "'2015-12-23T10:00:00-07:00'"
    assert literal(datetime(2015, 12, 23, 10, 0)) == "'2015-12-23T10:00:00+00:00'"
    assert literal(Ref(value="20", name="x")) == "'20'"
    with pytest.raises(ValueError):
        literal(None)


def test_full_query():
    text = (
        select("Customer")
        .where("DisplayName", "=", "O'Brien & Sons")
        .where_in("Active", [True, False])
        .order_by("Id")
        .page(1001, 1000)
        .build()
    )
    assert text == (
        "SELECT * FROM Customer WHERE DisplayName = 'O\\'Brien & Sons' AND Active IN (true, false) "
        "ORDERBY Id ASC STARTPOSITION 1001 MAXRESULTS 1000"
    )


def test_in_list_and_nested_property():
    text = select("Invoice").where_in("Id", ["1", "2'3"]).where("MetaData.LastUpdatedTime", ">=", date(2024, 1, 1)).build()
    assert text == "SELECT * FROM Invoice WHERE Id IN ('1', '2\\'3') AND MetaData.LastUpdatedTime >= '2024-01-01'"


def test_count_and_extra_columns():
    assert select_count("Invoice").where("TotalAmt", ">", Decimal("1.5")).build() == (
        "SELECT COUNT(*) FROM Invoice WHERE TotalAmt > '1.5'"
    )
    assert select("Item", "Sku").build() == "SELECT *, Sku FROM Item"


def test_names_and_operators_are_validated():
    with pytest.raises(ValueError):
        select("Customer; DROP")
    with pytest.raises(ValueError):
        select("Customer").where("DisplayName = 'x' OR 1", "=", "y")
    with pytest.raises(ValueError):
        select("Customer").where("DisplayName", "!=", "y")
    with pytest.raises(ValueError):
        select("Customer").where_in("Id", [])
    with pytest.raises(ValueError):
        select("Customer").limit(1001)
    with pytest.raises(ValueError):
        select("Customer").start(0)


def test_where_forms():
    assert conditions_text(None) == []
    assert conditions_text("Active = true") == ["Active = true"]
    assert conditions_text(("Name", "LIKE", "A%")) == ["Name LIKE 'A%'"]
    assert conditions_text([("Name", "=", "x"), Condition("Id", "IN", ["1"])]) == ["Name = 'x'", "Id IN ('1')"]
