"""The emulator's QBO query language: parsing, QBO's exact fault wording, and evaluation."""
from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from qbo_pipeline.emulator.query import (
    Condition,
    OrderTerm,
    ParsedQuery,
    QueryError,
    QueryResult,
    execute,
    parse,
)

SAMPLES = Path("/work/shared/reference/qbo-samples")


def run(text: str, rows: list[dict], *, name_list: bool = False) -> QueryResult:
    return execute(parse(text), rows, name_list=name_list)


def ids(result: QueryResult) -> list[str]:
    return [row["Id"] for row in result.rows]


def fault(text: str, rows: list[dict] | None = None) -> QueryError:
    with pytest.raises(QueryError) as info:
        if rows is None:
            parse(text)
        else:
            run(text, rows)
    return info.value


def customer(id_: str, name: str, *, active: bool = True, balance: float = 0, email: str | None = None,
             updated: str = "2024-01-01T10:00:00-08:00") -> dict:
    row = {
        "Id": id_,
        "SyncToken": "0",
        "DisplayName": name,
        "Active": active,
        "Balance": balance,
        "MetaData": {"CreateTime": "2023-12-01T09:00:00-08:00", "LastUpdatedTime": updated},
        "domain": "QBO",
        "sparse": False,
    }
    if email:
        row["PrimaryEmailAddr"] = {"Address": email}
    return row


@pytest.fixture()
def customers() -> list[dict]:
    return [
        customer("1", "Amy's Bird Sanctuary", balance=239.0, email="Birds@Intuitm.com",
                 updated="2024-03-01T16:00:00-08:00"),
        customer("2", "Bill's Windsurf Shop", balance=85.0, updated="2024-03-02T00:30:00Z"),
        customer("10", "O'Brien & Sons", balance=0, updated="2024-03-01T23:59:59-0800"),
        customer("3", "Cool Cars", active=False, balance=0, updated="2024-02-28T12:00:00-08:00"),
        customer("4", "back\\slash Ltd", balance=1200.5, updated="2024-03-05T08:00:00.123-08:00"),
        customer("5", "Diego Rodriguez", balance=0, updated="2024-03-03T08:00:00-08:00"),
    ]


@pytest.fixture()
def invoices() -> list[dict]:
    def invoice(id_: str, customer_id: str, total: float, balance: float, txn_date: str, doc: str) -> dict:
        return {
            "Id": id_,
            "DocNumber": doc,
            "TxnDate": txn_date,
            "CustomerRef": {"value": customer_id, "name": f"Customer {customer_id}"},
            "TotalAmt": total,
            "Balance": balance,
            "Line": [{"Amount": total, "DetailType": "SalesItemLineDetail"}],
            "MetaData": {"CreateTime": f"{txn_date}T09:00:00-08:00",
                         "LastUpdatedTime": f"{txn_date}T10:00:00-08:00"},
        }

    return [
        invoice("130", "20", 362.07, 0, "2024-01-14", "1037"),
        invoice("9", "3", 300.00, 300.00, "2024-01-15", "1001"),
        invoice("27", "20", 50.00, 50.00, "2024-01-16", "1002"),
        invoice("100", "21", 999.99, 10.00, "2024-02-01", "1003"),
    ]


# ----------------------------------------------------------------------------- parsing


def test_parse_select_star_with_every_clause() -> None:
    q = parse("SELECT *, Sku FROM Item WHERE Name LIKE 'Garden%' AND Active = false "
              "ORDER BY Name DESC, Id STARTPOSITION 11 MAXRESULTS 5")
    assert q == ParsedQuery(
        entity="Item",
        count=False,
        conditions=[Condition("Name", "LIKE", "Garden%"), Condition("Active", "=", False)],
        order_by=[OrderTerm("Name", True), OrderTerm("Id", False)],
        start_position=11,
        max_results=5,
        select_extra=["Sku"],
    )


def test_keywords_entity_and_both_orderby_spellings_are_case_insensitive() -> None:
    a = parse("select * from customer where displayname = 'X' orderby metadata.lastupdatedtime asc")
    b = parse("SeLeCt * FrOm Customer WhErE DisplayName = 'X' ORDER BY MetaData.LastUpdatedTime")
    assert a.entity == "customer" and b.entity == "Customer"
    assert a.order_by[0].path == b.order_by[0].path == ("metadata", "lastupdatedtime")
    assert a.conditions[0].path == b.conditions[0].path == ("displayname",)


def test_defaults_and_count() -> None:
    q = parse("SELECT COUNT(*) FROM Invoice WHERE TotalAmt > '300.00'")
    assert q.count and q.start_position == 1 and q.max_results == 100
    assert q.conditions == [Condition("TotalAmt", ">", "300.00")]


def test_literals_quoted_unquoted_boolean_and_in_lists() -> None:
    q = parse("SELECT * FROM Invoice WHERE Balance >= 10.50 AND Id IN ('1', '2', 3) AND Active = TRUE")
    assert q.conditions == [
        Condition("Balance", ">=", Decimal("10.50")),
        Condition("Id", "IN", ["1", "2", Decimal(3)]),
        Condition("Active", "=", True),
    ]


def test_backslash_escapes_in_string_literals() -> None:
    q = parse(r"SELECT * FROM Customer WHERE DisplayName = 'O\'Brien & Sons' AND CompanyName = 'a\\b'")
    assert [c.value for c in q.conditions] == ["O'Brien & Sons", "a\\b"]


def test_multiline_query_parses() -> None:
    q = parse("SELECT *\n  FROM Customer\n  WHERE Active IN (true, false)\n  MAXRESULTS 1000")
    assert q.max_results == 1000 and q.conditions[0].value == [True, False]


def test_column_list_is_parsed() -> None:
    assert parse("SELECT Id, DisplayName FROM Customer").columns == ["Id", "DisplayName"]


# ----------------------------------------------------------------------------- 4000 / 4001 wording


def test_syntax_error_matches_qbo_sample_byte_for_byte() -> None:
    sample = json.loads((SAMPLES / "fault_4000_query_parse.json").read_text())["Fault"]["Error"][0]
    error = fault("select * from NULL")
    assert (error.code, error.message, error.detail) == (sample["code"], sample["Message"], sample["Detail"])


def test_bad_escape_gives_the_message_qbo_gave_node_quickbooks() -> None:
    # Reported verbatim from QBO in mcohen01/node-quickbooks#56 (an unescaped apostrophe).
    error = fault("select * from vendor where DisplayName = 'Cutlery 'R Us'")
    assert error.code == "4000"
    assert error.detail == (
        'QueryParserError: Encountered " <IDENTIFIER> "R "" at line 1, column 52.\n'
        "Was expecting one of:\n    <EOF> \n    <AND> ...\n    \"iterator\" ...\n"
        "    \"maxresults\" ...\n    <OR> ...\n    \"order\" ...\n    \"orderby\" ...\n"
        "    \"startposition\" ...\n    "
    )


def test_or_is_a_syntax_error() -> None:
    error = fault("SELECT * FROM Customer WHERE DisplayName = 'a' OR DisplayName = 'b'")
    assert error.code == "4000" and error.message == "Error parsing query"
    assert error.detail.startswith('QueryParserError: Encountered " <OR> "OR "" at line 1, column 48.\n'
                                   "Was expecting one of:\n    <EOF> \n    <AND> ...")
    assert "<OR> ..." not in error.detail


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("", 'QueryParserError: Encountered "<EOF>" at line 0, column 0.\nWas expecting:\n    "select" ...\n    '),
        ("SELECT * FROM Customer WHERE DisplayName != 'a'",
         'QueryParserError: Invalid content. Lexical error at line 1, column 42.  Encountered: "!" (33), after : ""'),
        ("SELECT * FROM Customer WHERE DisplayName = 'open",
         "QueryParserError: Invalid content. Lexical error at line 1, column 48.  "
         "Encountered: <EOF> after : \"\\'open\""),
        ("SELECT * FROM Customer WHERE",
         'QueryParserError: Encountered "<EOF>" at line 1, column 28.\nWas expecting:\n    <IDENTIFIER> ...\n    '),
        ("SELECT * FROM Customer ORDER DisplayName",
         'QueryParserError: Encountered " <IDENTIFIER> "DisplayName "" at line 1, column 30.\n'
         'Was expecting:\n    "by" ...\n    '),
        ("SELECT * FROM Customer WHERE Balance <> 5",
         'QueryParserError: Encountered " ">" "> "" at line 1, column 39.\nWas expecting one of:\n'
         '    <DECIMAL> ...\n    "false" ...\n    <INTEGER> ...\n    <STRING> ...\n    "true" ...\n    '),
        ("SELECT * FROM Customer MAXRESULTS 'ten'",
         'QueryParserError: Encountered " <STRING> "\\\'ten\\\' "" at line 1, column 35.\n'
         'Was expecting:\n    <INTEGER> ...\n    '),
        ("SELECT * FROM Customer\nWHERE Id = '1' LIMIT 5",
         'QueryParserError: Encountered " <IDENTIFIER> "LIMIT "" at line 2, column 16.\n'
         'Was expecting one of:\n    <EOF> \n    <AND> ...\n    "iterator" ...\n    "maxresults" ...\n'
         '    <OR> ...\n    "order" ...\n    "orderby" ...\n    "startposition" ...\n    '),
        ("SELECT DisplayName Id FROM Customer",
         'QueryParserError: Encountered " <IDENTIFIER> "Id "" at line 1, column 20.\n'
         'Was expecting one of:\n    "," ...\n    "from" ...\n    '),
    ],
)
def test_syntax_error_details(text: str, detail: str) -> None:
    error = fault(text)
    assert (error.code, error.message, error.detail) == ("4000", "Error parsing query", detail)


def test_paging_bounds_use_qbo_validation_wording() -> None:
    sample = (SAMPLES / "fault_4001_query_validation.xml").read_text()
    sample_detail = re.search(r"<Detail>(.*)</Detail>", sample).group(1)

    error = fault("SELECT * FROM Customer STARTPOSITION 0 MAXRESULTS 10")
    assert (error.code, error.message, error.detail) == ("4001", "Invalid query", sample_detail)

    error = fault("SELECT * FROM Customer MAXRESULTS 1500")
    assert (error.code, error.message) == ("4001", "Invalid query")
    assert error.detail == "QueryValidationError: value 1500 is too large. Max allowed value is 1000"

    assert fault("SELECT * FROM Customer MAXRESULTS 0").detail.endswith("value 0 is too small. Min allowed value is 1")
    assert parse("SELECT * FROM Customer MAXRESULTS 1000 STARTPOSITION 1").max_results == 1000


def test_syntax_errors_win_over_validation_errors() -> None:
    assert fault("SELECT * FROM Customer STARTPOSITION 0 garbage").code == "4000"


def test_unknown_and_unqueryable_properties_are_4001(customers, invoices) -> None:
    error = fault("SELECT * FROM Customer WHERE NoSuchField = 'x'", customers)
    assert (error.code, error.message) == ("4001", "Invalid query")
    assert error.detail == "QueryValidationError: Property NoSuchField not found for Entity Customer"

    error = fault("select * from customer orderby Metadata.Bogus", customers)
    assert error.detail == "QueryValidationError: Property Metadata.Bogus not found for Entity Customer"

    error = fault("SELECT * FROM Invoice WHERE Line = '1'", invoices)
    assert error.detail == "QueryValidationError: property 'Line' is not queryable"
    assert fault("SELECT * FROM Deposit WHERE TotalAmt > '5'", []).detail == (
        "QueryValidationError: property 'TotalAmt' is not queryable")
    assert fault("SELECT * FROM PurchaseOrder WHERE CustomerRef = '5'", []).detail == (
        "QueryValidationError: Property CustomerRef not found for Entity PurchaseOrder")


def test_documented_but_absent_properties_just_do_not_match(customers) -> None:
    # ParentRef is a real Customer field that none of these rows carries.
    assert run("SELECT * FROM Customer WHERE ParentRef = '1'", customers).total == 0
    # Entities without a known field list are lenient: a missing property matches nothing.
    assert run("SELECT * FROM TaxCode WHERE Whatever = 'x'", [{"Id": "1", "Name": "TAX"}]).total == 0
    # A field present in the stored rows is queryable even if the registry does not know it.
    rows = [dict(customers[0], Extra="yes")]
    assert ids(run("SELECT * FROM Customer WHERE Extra = 'YES'", rows)) == ["1"]


# ----------------------------------------------------------------------------- evaluation


def test_default_order_is_numeric_id(customers) -> None:
    assert ids(run("SELECT * FROM Customer", customers)) == ["1", "2", "3", "4", "5", "10"]


def test_inactive_rows_hidden_from_name_lists_unless_active_is_mentioned(customers) -> None:
    assert "3" not in ids(run("SELECT * FROM Customer", customers, name_list=True))
    assert "3" in ids(run("SELECT * FROM Customer", customers, name_list=False))
    assert ids(run("SELECT * FROM Customer WHERE Active = false", customers, name_list=True)) == ["3"]
    both = run("SELECT * FROM Customer WHERE Active IN (true, false)", customers, name_list=True)
    assert ids(both) == ["1", "2", "3", "4", "5", "10"]
    assert run("SELECT COUNT(*) FROM Customer", customers, name_list=True).total == 5
    assert run("SELECT * FROM Customer WHERE Id = '3'", customers, name_list=True).total == 0


def test_equality_is_case_insensitive_and_escapes_match(customers) -> None:
    assert ids(run(r"SELECT * FROM Customer WHERE DisplayName = 'o\'brien & sons'", customers)) == ["10"]
    assert ids(run(r"SELECT * FROM Customer WHERE DisplayName = 'back\\slash Ltd'", customers)) == ["4"]
    assert ids(run("SELECT * FROM Customer WHERE displayname = 'COOL CARS' AND active = false", customers)) == ["3"]


def test_like_uses_percent_only_and_ignores_case(customers) -> None:
    assert ids(run("SELECT * FROM Customer WHERE DisplayName LIKE '%S%'", customers, name_list=True)) == [
        "1", "2", "4", "10"]
    assert ids(run("SELECT * FROM Customer WHERE DisplayName LIKE 'b%'", customers)) == ["2", "4"]
    assert ids(run("SELECT * FROM Customer WHERE DisplayName LIKE '%shop'", customers)) == ["2"]
    assert ids(run("SELECT * FROM Customer WHERE DisplayName LIKE 'Cool_Cars'", customers)) == []
    assert ids(run("SELECT * FROM Customer WHERE DisplayName LIKE 'Cool Cars'", customers)) == ["3"]


def test_numeric_fields_compare_numerically_even_when_quoted(invoices) -> None:
    assert ids(run("SELECT * FROM Invoice WHERE TotalAmt > '300.00'", invoices)) == ["100", "130"]
    assert ids(run("SELECT * FROM Invoice WHERE TotalAmt >= '300'", invoices)) == ["9", "100", "130"]
    assert ids(run("SELECT * FROM Invoice WHERE Balance < 50", invoices)) == ["100", "130"]
    assert ids(run("SELECT * FROM Invoice WHERE Balance <= 50.00", invoices)) == ["27", "100", "130"]
    assert ids(run("SELECT * FROM Invoice WHERE Balance = '0'", invoices)) == ["130"]
    assert ids(run("SELECT * FROM Invoice WHERE TotalAmt = 'abc'", invoices)) == []


def test_reference_fields_compare_on_value(invoices) -> None:
    assert ids(run("SELECT * FROM Invoice WHERE CustomerRef = '20'", invoices)) == ["27", "130"]
    assert ids(run("SELECT * FROM Invoice WHERE CustomerRef IN ('3', '21')", invoices)) == ["9", "100"]
    assert ids(run("SELECT * FROM Invoice WHERE customerref.value = '020'", invoices)) == ["27", "130"]


def test_id_compares_numerically(customers, invoices) -> None:
    assert ids(run("SELECT * FROM Invoice WHERE Id = '0027'", invoices)) == ["27"]
    assert ids(run("SELECT * FROM Invoice WHERE Id > '27'", invoices)) == ["100", "130"]
    assert ids(run("SELECT * FROM Customer WHERE Id IN ('1', '10', 4, '99')", customers)) == ["1", "4", "10"]
    assert ids(run("SELECT * FROM Invoice ORDERBY Id DESC", invoices)) == ["130", "100", "27", "9"]


def test_nested_properties_any_case(customers) -> None:
    a = run("SELECT * FROM Customer WHERE MetaData.LastUpdatedTime > '2024-03-02T00:00:00-08:00'", customers)
    b = run("SELECT * FROM Customer WHERE metadata.lastupdatedtime > '2024-03-02T00:00:00-08:00'", customers)
    assert ids(a) == ids(b) == ["4", "5"]
    assert ids(run("SELECT * FROM Customer WHERE PrimaryEmailAddr = 'birds@intuitm.com'", customers)) == ["1"]
    assert ids(run("SELECT * FROM Customer WHERE PrimaryEmailAddr.Address LIKE '%@intuitm.com'", customers)) == ["1"]


def test_datetimes_compare_as_instants_across_offset_forms(customers) -> None:
    # 2024-03-01T23:59:59-0800 == 2024-03-02T07:59:59Z; 2024-03-02T00:30:00Z == 2024-03-01T16:30-08:00
    after = run("SELECT * FROM Customer WHERE MetaData.LastUpdatedTime >= '2024-03-02T07:59:59Z'", customers)
    assert ids(after) == ["4", "5", "10"]
    before = run("SELECT * FROM Customer WHERE Metadata.LastUpdatedTime < '2024-03-01T16:30:00-08:00'", customers)
    assert ids(before) == ["1", "3"]
    exact = run("SELECT * FROM Customer WHERE MetaData.LastUpdatedTime = '2024-03-01T16:30:00.000-0800'",
                customers)
    assert ids(exact) == ["2"]
    window = run("SELECT * FROM Customer WHERE MetaData.LastUpdatedTime > '2024-03-01T00:00:00-08:00' "
                 "AND MetaData.LastUpdatedTime <= '2024-03-03T08:00:00-08:00' "
                 "ORDER BY MetaData.LastUpdatedTime", customers)
    assert ids(window) == ["1", "2", "10", "5"]


def test_date_only_values_compare_by_calendar_date(customers, invoices) -> None:
    assert ids(run("SELECT * FROM Invoice WHERE TxnDate >= '2024-01-15' AND TxnDate < '2024-02-01'", invoices)) == [
        "9", "27"]
    assert ids(run("SELECT * FROM Invoice WHERE TxnDate = '2024-01-16'", invoices)) == ["27"]
    # A date-only literal against a datetime compares with the datetime's own calendar date.
    assert ids(run("SELECT * FROM Customer WHERE MetaData.LastUpdatedTime <= '2024-03-01'", customers)) == [
        "1", "3", "10"]
    assert ids(run("SELECT * FROM Customer WHERE MetaData.LastUpdatedTime = '2024-03-02'", customers)) == ["2"]
    # A datetime literal against a date field compares on the literal's date.
    assert ids(run("SELECT * FROM Invoice WHERE TxnDate > '2024-01-15T23:00:00-08:00'", invoices)) == ["27", "100"]


def test_order_by_strings_numbers_dates_and_multiple_terms(customers, invoices) -> None:
    by_name = run("SELECT * FROM Customer ORDERBY DisplayName", customers)
    assert [r["DisplayName"] for r in by_name.rows] == [
        "Amy's Bird Sanctuary", "back\\slash Ltd", "Bill's Windsurf Shop", "Cool Cars", "Diego Rodriguez",
        "O'Brien & Sons"]
    assert ids(run("SELECT * FROM Invoice ORDER BY TotalAmt DESC", invoices)) == ["100", "130", "9", "27"]
    assert ids(run("SELECT * FROM Invoice ORDER BY CustomerRef, TxnDate DESC", invoices)) == [
        "9", "27", "130", "100"]
    # Ties fall back to numeric Id, ascending, whatever the direction.
    assert ids(run("SELECT * FROM Customer ORDER BY Balance DESC", customers)) == ["4", "1", "2", "3", "5", "10"]


def test_paging_is_one_based_and_total_counts_all_matches(customers) -> None:
    page = run("SELECT * FROM Customer STARTPOSITION 2 MAXRESULTS 2", customers)
    assert ids(page) == ["2", "3"] and page.total == 6
    assert ids(run("SELECT * FROM Customer STARTPOSITION 6 MAXRESULTS 2", customers)) == ["10"]
    past_end = run("SELECT * FROM Customer STARTPOSITION 50", customers)
    assert past_end.rows == [] and past_end.total == 6


def test_count_returns_only_the_total(invoices) -> None:
    result = run("SELECT COUNT(*) FROM Invoice WHERE Balance > '0'", invoices)
    assert result.rows == [] and result.total == 3


def test_sku_only_when_selected_and_column_projection() -> None:
    items = [{"Id": "1", "Name": "Hours", "Sku": "HR-1", "Active": True, "Type": "Service"}]
    assert "Sku" not in run("SELECT * FROM Item", items, name_list=True).rows[0]
    assert items[0]["Sku"] == "HR-1"  # the stored row is not modified
    assert run("SELECT *, sku FROM Item", items, name_list=True).rows[0]["Sku"] == "HR-1"
    assert run("SELECT Id, name FROM Item", items, name_list=True).rows == [{"Id": "1", "Name": "Hours"}]
    assert run("SELECT * FROM Item WHERE Sku = 'hr-1'", items, name_list=True).total == 1


def test_in_with_a_thousand_ids_over_ten_thousand_rows() -> None:
    rows = [{"Id": str(i), "DisplayName": f"Customer {i:05d}", "Active": i % 7 != 0} for i in range(1, 10_001)]
    wanted = [str(i) for i in range(5, 10_001, 10)][:1000]
    text = "SELECT * FROM Customer WHERE Id IN (" + ", ".join(f"'{i}'" for i in wanted) + ") MAXRESULTS 1000"
    result = run(text, rows, name_list=True)
    expected = [i for i in wanted if int(i) % 7 != 0]
    assert ids(result) == expected and result.total == len(expected)

    seen: list[str] = []
    position = 1
    while True:
        page = run(f"SELECT * FROM Customer WHERE Active IN (true, false) ORDER BY DisplayName "
                   f"STARTPOSITION {position} MAXRESULTS 1000", rows, name_list=True)
        seen += ids(page)
        if len(page.rows) < 1000:
            break
        position += 1000
    assert seen == [str(i) for i in range(1, 10_001)]
