"""Tests for campaigner.summary.outcomes and campaigner.summary.render: counting rules, cost, latency, the renderings."""

from __future__ import annotations

import ast
import csv
import io
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import campaigner.summary.outcomes
import campaigner.summary.render
from campaigner.summary.outcomes import (
    CSV_HEADER,
    MARKDOWN_LIMIT,
    LatencyDigest,
    OutcomeLike,
    Summary,
    SummaryContext,
    iter_messages_csv,
    render_json,
    spreadsheet_safe,
    summarize,
    write_messages_csv,
)
from campaigner.summary.render import format_money, format_seconds, headline, render_all, render_html, render_markdown


@dataclass(frozen=True, slots=True)
class Outcome:
    """A ledger record as the summary reads it."""

    row: int
    message_id: str
    state: str
    report: Mapping[str, Any] | None = None
    report_source: str | None = None
    reason: str | None = None
    recipient_id: str = "385977666618"
    requested_at: float | None = None


_STATUS = {
    "DELIVERED": (3, 5, "DELIVERED_TO_HANDSET"),
    "UNDELIVERABLE": (2, 9, "UNDELIVERABLE_NOT_DELIVERED"),
    "EXPIRED": (4, 15, "EXPIRED_EXPIRED"),
    "REJECTED": (5, 52, "REJECTED_DESTINATION"),
    "PENDING": (1, 7, "PENDING_ENROUTE"),
}
_ERRORS = {
    "NO_ERROR": (0, 0, "No Error"),
    "EC_UNKNOWN_USER": (1, 7002, "user is unknown or not registered"),
    "EC_ABSENT_SUBSCRIBER_SM": (1, 6, "Absent Subscriber"),
    "EC_VALIDITY_EXPIRED": (2, 4101, "Validity expired"),
}


def report(
    group: str,
    channel: str,
    *,
    error: str = "NO_ERROR",
    price: object = 0.01,
    currency: str = "EUR",
    count: int | None = 1,
    sent: str = "2016-02-23T17:41:11.833+0100",
    done: str = "2016-02-23T17:41:12.833+0100",
    source: str = "reports",
) -> dict[str, Any]:
    """A final delivery report shaped like the provider's (a logs-derived one has no ``error``)."""
    group_id, status_id, name = _STATUS[group]
    body: dict[str, Any] = {
        "bulkId": "bulk-1",
        "messageId": "m",
        "to": "385977666618",
        "sentAt": sent,
        "doneAt": done,
        "mccMnc": "21910",
        "price": {"pricePerMessage": price, "currency": currency},
        "status": {"groupId": group_id, "groupName": group, "id": status_id, "name": name, "description": ""},
        "channel": channel,
    }
    if count is not None:
        body["messageCount"] = count
    if source == "reports":
        egroup, eid, description = _ERRORS.get(error, (1, 1, "an error"))
        body["error"] = {
            "groupId": egroup,
            "groupName": "HANDSET_ERRORS" if egroup == 1 else "OK",
            "id": eid,
            "name": error,
            "description": description,
            "permanent": False,
        }
    return body


def ctx(**kwargs: Any) -> SummaryContext:
    values: dict[str, Any] = {"campaign": "spring-sale-2026", "target": "sandbox", "bulk_id": "bulk-1"}
    return SummaryContext(**{**values, **kwargs})


def outcome_from(report_: dict[str, Any] | None, state: str = "accepted", row: int = 2, **kw: Any) -> Outcome:
    source = kw.pop("report_source", None if report_ is None else "reports")
    return Outcome(row, f"m{row}", state, report_, report_source=source, **kw)


def test_the_test_outcome_fits_the_protocol() -> None:
    record: OutcomeLike = Outcome(2, "m2", "planned")  # mypy checks this assignment
    assert record.state == "planned"


# --- counting rules -------------------------------------------------------------------------------

PATHS = [
    pytest.param(
        outcome_from(report("DELIVERED", "LINE")),
        {"sent": 1},
        {"delivered": 1},
        ("LINE", "delivered"),
        "line_delivered",
        id="line-delivered",
    ),
    pytest.param(
        outcome_from(report("DELIVERED", "SMS")),
        {"sent": 1},
        {"delivered": 1},
        ("SMS", "delivered"),
        "sms_fallback_delivered",
        id="line-undeliverable-then-sms-delivered",
    ),
    pytest.param(
        outcome_from(report("UNDELIVERABLE", "SMS", error="EC_ABSENT_SUBSCRIBER_SM")),
        {"sent": 1},
        {"undeliverable": 1},
        ("SMS", "undeliverable"),
        "not_delivered",
        id="sms-undeliverable",
    ),
    pytest.param(
        outcome_from(report("EXPIRED", "SMS", error="EC_VALIDITY_EXPIRED")),
        {"sent": 1},
        {"expired": 1},
        ("SMS", "expired"),
        "not_delivered",
        id="expired",
    ),
    pytest.param(
        outcome_from(report("REJECTED", "SMS")),
        {"sent": 1},
        {"rejected": 1},
        ("SMS", "rejected"),
        "not_delivered",
        id="rejected-by-the-report",
    ),
    pytest.param(
        outcome_from(None, "rejected", reason="Invalid destination address"),
        {"rejected": 1},
        {"rejected": 1},
        None,
        "not_delivered",
        id="rejected-at-send",
    ),
    pytest.param(outcome_from(None, "unknown"), {"unknown": 1}, {}, None, None, id="unknown"),
    pytest.param(outcome_from(None, "sending"), {"unknown": 1}, {}, None, None, id="sending-counts-unknown"),
    pytest.param(outcome_from(None, "accepted"), {"sent": 1}, {"pending": 1}, None, None, id="pending"),
    pytest.param(
        outcome_from(report("PENDING", "LINE", source="logs"), report_source="logs"),
        {"sent": 1},
        {"pending": 1},
        None,
        None,
        id="pending-in-the-logs",
    ),
    pytest.param(
        outcome_from(report("DELIVERED", "LINE"), "unknown"),
        {"sent": 1},
        {"delivered": 1},
        ("LINE", "delivered"),
        "line_delivered",
        id="unknown-with-a-report-was-sent",
    ),
    pytest.param(outcome_from(None, "planned"), {}, {}, None, None, id="planned-not-sent"),
]


@pytest.mark.parametrize(("outcome", "recipients", "final", "channel", "failover"), PATHS)
def test_each_path_is_counted_once_in_the_right_places(
    outcome: Outcome,
    recipients: dict[str, int],
    final: dict[str, int],
    channel: tuple[str, str] | None,
    failover: str | None,
) -> None:
    data = summarize([outcome], ctx()).to_dict()
    assert data["recipients"] == {
        "planned": 1,
        **{k: recipients.get(k, 0) for k in ("sent", "rejected", "unknown")},
        "skipped": {},
    }
    assert data["final"] == {k: final.get(k, 0) for k in data["final"]}
    expected_channels = {
        c: dict.fromkeys(("delivered", "undeliverable", "expired", "rejected"), 0) for c in ("LINE", "SMS")
    }
    if channel:
        expected_channels[channel[0]][channel[1]] = 1
    assert data["channels"] == expected_channels
    assert data["failover"] == {
        k: int(k == failover) for k in ("line_delivered", "sms_fallback_delivered", "not_delivered")
    }


def test_summary_json_has_exactly_the_spec_keys_and_is_deterministic() -> None:
    outcomes = [outcome_from(report("DELIVERED", "LINE"), row=r) for r in range(2, 6)]
    context = ctx(skipped={"invalid phone number": 2, "duplicate": 5}, planned=4)
    first = render_json(summarize(outcomes, context))
    assert first == render_json(summarize(iter(outcomes), context))
    data = json.loads(first)
    spec = ["campaign", "target", "bulkId", "recipients", "final", "channels", "failover", "errors", "cost"]
    spec.append("latency_seconds")
    assert [k for k in data if k in spec] == spec
    assert set(data) - set(spec) == {"format_version", "rejected_reasons", "reports_from_logs"}
    assert list(data["recipients"]) == ["planned", "sent", "rejected", "unknown", "skipped"]
    assert data["recipients"]["skipped"] == {"duplicate": 5, "invalid phone number": 2}
    assert list(data["final"]) == ["delivered", "undeliverable", "expired", "rejected", "pending", "scheduled"]
    assert list(data["latency_seconds"]) == ["p50", "p95"]


def test_channels_keep_flow_order_and_add_unexpected_ones_after() -> None:
    outcomes = [outcome_from(report("DELIVERED", "viber"), row=2), outcome_from(report("DELIVERED", "SMS"), row=3)]
    summary = summarize(outcomes, ctx(channels=("LINE", "SMS")))
    assert list(summary.channels) == ["LINE", "SMS", "VIBER"]
    assert summary.failover["line_delivered"] + summary.failover["sms_fallback_delivered"] == 1


def test_errors_are_tallied_by_name_largest_first_without_no_error() -> None:
    outcomes = [
        outcome_from(report("UNDELIVERABLE", "LINE", error="EC_UNKNOWN_USER"), row=2),
        outcome_from(report("UNDELIVERABLE", "SMS", error="EC_ABSENT_SUBSCRIBER_SM"), row=3),
        outcome_from(report("UNDELIVERABLE", "SMS", error="EC_ABSENT_SUBSCRIBER_SM"), row=4),
        outcome_from(report("DELIVERED", "SMS"), row=5),
        outcome_from(report("UNDELIVERABLE", "SMS", source="logs"), row=6, report_source="logs"),
        outcome_from(None, "rejected", row=7, reason="Invalid destination address"),
        outcome_from(None, "rejected", row=8, reason=None),
    ]
    summary = summarize(outcomes, ctx())
    assert summary.to_dict()["errors"] == {"EC_ABSENT_SUBSCRIBER_SM": 2, "EC_UNKNOWN_USER": 1}
    assert summary.error_descriptions["EC_UNKNOWN_USER"] == "user is unknown or not registered"
    assert summary.to_dict()["rejected_reasons"] == {"(no reason given)": 1, "Invalid destination address": 1}


def test_distinct_error_names_are_bounded() -> None:
    outcomes = (outcome_from(report("UNDELIVERABLE", "SMS", error=f"EC_{i}"), row=i + 2) for i in range(1_500))
    errors = summarize(outcomes, ctx()).errors
    assert len(errors) == 1_001
    assert list(errors)[-1] == "(other)"
    assert errors["(other)"] == 500


# --- cost -----------------------------------------------------------------------------------------


def test_cost_is_price_per_part_times_message_count_summed_per_currency_as_decimal() -> None:
    outcomes = [
        outcome_from(report("DELIVERED", "SMS", price=0.0104, count=3), row=2),  # 0.0312
        outcome_from(report("DELIVERED", "LINE", price=0.01, count=None), row=3),  # no messageCount: 1
        outcome_from(report("UNDELIVERABLE", "SMS", price="0.0104", count=1), row=4),  # a string price
        outcome_from(report("DELIVERED", "SMS", price=0.02, currency="USD", count=2), row=5),
        outcome_from(report("DELIVERED", "SMS", price=None), row=6),  # no price: not counted
    ]
    outcomes += [outcome_from(report("DELIVERED", "LINE", price=0.1), row=10 + i) for i in range(10)]
    summary = summarize(outcomes, ctx())
    assert summary.cost == {"EUR": Decimal("1.051600"), "USD": Decimal("0.040000")}
    assert summary.to_dict()["cost"] == {"EUR": 1.0516, "USD": 0.04}
    assert headline(summary).endswith("; cost 1.0516 EUR, 0.04 USD")


@pytest.mark.parametrize(
    ("total", "text"),
    [
        pytest.param(Decimal("0.21"), "0.21", id="two-decimals"),
        pytest.param(Decimal("0.210000"), "0.21", id="trailing-zeros"),
        pytest.param(Decimal("12"), "12.00", id="whole"),
        pytest.param(Decimal("0.0312"), "0.0312", id="four-decimals"),
        pytest.param(Decimal("0.12345678"), "0.123457", id="rounded-to-six"),
    ],
)
def test_format_money(total: Decimal, text: str) -> None:
    assert format_money(total) == text


# --- latency --------------------------------------------------------------------------------------


def test_latency_percentiles_from_sent_to_done_are_nearest_rank() -> None:
    outcomes = [
        outcome_from(
            report(
                "DELIVERED",
                "LINE",
                sent="2026-12-01T09:00:00.000+0100",
                done=f"2026-12-01T08:{s // 60:02d}:{s % 60:02d}.000+0000",
            ),
            row=s,
        )
        for s in range(1, 101)
    ]  # doneAt in UTC: 1..100 s after sentAt
    outcomes.append(outcome_from(None, "accepted", row=200))  # pending: no latency
    summary = summarize(outcomes, ctx())
    assert summary.to_dict()["latency_seconds"] == {"p50": 50.0, "p95": 95.0}
    assert summary.latency_reports == 100
    assert summary.latency_exact


def test_latency_without_reports_is_null() -> None:
    data = summarize([outcome_from(None, "accepted")], ctx()).to_dict()
    assert data["latency_seconds"] == {"p50": None, "p95": None}


def test_latency_skips_unparsable_and_clamps_negative() -> None:
    outcomes = [
        outcome_from(report("DELIVERED", "LINE", sent="yesterday"), row=2),
        outcome_from(report("DELIVERED", "LINE", done="2016-02-23T17:41:10.833+0100"), row=3),
    ]
    summary = summarize(outcomes, ctx())
    assert (summary.latency_reports, summary.latency_p50) == (1, 0.0)


def test_latency_digest_past_the_exact_limit_is_within_half_a_percent() -> None:
    digest = LatencyDigest()
    values = [0.5 + (i * 7919 % 20_000) / 1000 for i in range(20_000)]  # 0.5 .. 20.5 s, shuffled
    for value in values:
        digest.add(value)
    assert not digest.exact
    ordered = sorted(values)
    for p in (50, 95):
        exact = ordered[-(-p * len(values) // 100) - 1]
        approx = digest.percentile(p)
        assert approx is not None
        assert abs(approx - exact) <= exact * 0.005 + 0.001


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        pytest.param(None, "n/a", id="none"),
        pytest.param(0.85, "850 ms", id="ms"),
        pytest.param(0.9996, "1.0 s", id="rounds-up-to-seconds"),
        pytest.param(4.24, "4.2 s", id="seconds"),
        pytest.param(210.0, "3.5 min", id="minutes"),
        pytest.param(7200.0, "2.0 h", id="hours"),
    ],
)
def test_format_seconds(seconds: float | None, text: str) -> None:
    assert format_seconds(seconds) == text


# --- markdown -------------------------------------------------------------------------------------


def spring_sale() -> list[Outcome]:
    """18 recipients: 9 delivered on LINE, 5 by SMS fallback, 2 undeliverable, 2 pending; 0.21 EUR."""
    out = [outcome_from(report("DELIVERED", "LINE", price=0.01), row=r) for r in range(2, 11)]
    out += [
        outcome_from(
            report(
                "DELIVERED", "SMS", price=0.02, sent="2016-02-23T17:41:11.833+0100", done="2016-02-23T17:41:41.833+0100"
            ),
            row=r,
        )
        for r in range(11, 16)
    ]
    out += [outcome_from(report("UNDELIVERABLE", "SMS", error="EC_ABSENT_SUBSCRIBER_SM"), row=r) for r in (16, 17)]
    out += [outcome_from(None, "accepted", row=r) for r in (18, 19)]
    return out


SPRING_MD = """\
**spring-sale-2026 → sandbox: 18 planned, 18 sent, 14 delivered (9 LINE, 5 SMS fallback), 2 undeliverable, 2 pending; cost 0.21 EUR**

Spring sale for loyalty members

| Recipients | Count |
|:--|--:|
| planned | 18 |
| sent | 18 |
| rejected at send | 0 |
| unknown outcome | 0 |
| skipped | 3 |
| skipped: invalid phone number | 2 |
| skipped: excluded | 1 |

| Final status | Recipients |
|:--|--:|
| delivered | 14 |
| undeliverable | 2 |
| expired | 0 |
| rejected | 0 |
| pending | 2 |

| Failover | Recipients |
|:--|--:|
| delivered on LINE | 9 |
| delivered by SMS fallback | 5 |
| not delivered | 2 |

| Channel | Delivered | Undeliverable | Expired | Rejected |
|:--|--:|--:|--:|--:|
| LINE | 9 | 0 | 0 | 0 |
| SMS | 5 | 2 | 0 | 0 |

| Error | Count | Description |
|:--|--:|:--|
| `EC_ABSENT_SUBSCRIBER_SM` | 2 | `Absent Subscriber` |

| Currency | Cost |
|:--|--:|
| EUR | 0.21 |

Latency from sent to done (16 reports): p50 1.0 s, p95 30.0 s

bulkId: bulk-1
"""


def test_markdown_for_a_pull_request_comment() -> None:
    context = ctx(skipped={"invalid phone number": 2, "excluded": 1}, description="Spring sale for loyalty members")
    summary = summarize(spring_sale(), context)
    assert headline(summary) == (
        "spring-sale-2026 → sandbox: 18 planned, 18 sent, 14 delivered (9 LINE, 5 SMS fallback), "
        "2 undeliverable, 2 pending; cost 0.21 EUR"
    )
    assert render_markdown(summary) == SPRING_MD


def test_markdown_escapes_user_and_provider_text() -> None:
    outcomes = [
        outcome_from(None, "rejected", row=2, reason="bad | pipe `tick` @org/team <img src=x>"),
        outcome_from(report("UNDELIVERABLE", "SMS", error="EC_<b>|X"), row=3),
    ]
    md = render_markdown(summarize(outcomes, ctx(description="**bold** <script>x</script> | [link](y)")))
    assert "\\*\\*bold\\*\\* &lt;script&gt;x&lt;/script&gt; \\| \\[link\\](y)" in md
    assert "| `bad \\| pipe 'tick' @org/team <img src=x>` | 1 |" in md
    assert "| `EC_<b>\\|X` | 1 | `an error` |" in md
    assert "<script" not in md


def test_markdown_stays_small_for_a_million_outcomes() -> None:
    # 1,500 distinct error names, 50 channels, 300 currencies: more than the summary keeps of each.
    failures = [report("UNDELIVERABLE", f"CH{i % 50}", error=f"EC_{i}", currency=f"C{i % 300}") for i in range(1_500)]
    delivered = report("DELIVERED", "LINE")

    def outcomes() -> Iterator[Outcome]:  # lazily: never a million objects at once
        for i in range(1_000_000):
            if i % 10 == 0:
                yield Outcome(i + 2, f"m{i}", "rejected", reason=f"reason number {i} " + "x" * 200)
            elif i % 7 == 0:
                yield Outcome(i + 2, f"m{i}", "accepted", failures[i % 1_500], "reports")
            else:
                yield Outcome(i + 2, f"m{i}", "accepted", delivered, "reports")

    summary = summarize(outcomes(), ctx(skipped={f"reason {i}": i for i in range(5000)}, description="d" * 100_000))
    assert summary.messages == 1_000_000
    assert summary.recipients["rejected"] == 100_000
    assert not summary.latency_exact
    md = render_markdown(summary)
    assert len(md.encode()) < MARKDOWN_LIMIT
    assert len(render_html(summary).encode()) < 200_000


# --- messages.csv ---------------------------------------------------------------------------------


def read_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def test_messages_csv_one_row_per_recipient_with_logs_rows_marked() -> None:
    outcomes = [
        outcome_from(report("DELIVERED", "SMS", price=0.0104, count=3), row=2),
        outcome_from(report("EXPIRED", "SMS", source="logs"), row=3, report_source="logs"),
        outcome_from(None, "rejected", row=4, reason="Invalid destination address"),
        outcome_from(None, "accepted", row=5),
    ]
    buffer = io.StringIO(newline="")
    assert write_messages_csv(outcomes, buffer) == 4
    assert read_csv(buffer.getvalue()) == [
        list(CSV_HEADER),
        ["2", "m2", "SMS", "DELIVERED_TO_HANDSET", "", "0.0312", "EUR", "accepted", "delivered", "reports"],
        ["3", "m3", "SMS", "EXPIRED_EXPIRED", "", "0.01", "EUR", "accepted", "expired", "logs"],
        ["4", "m4", "", "", "Invalid destination address", "", "", "rejected", "rejected", ""],
        ["5", "m5", "", "", "", "", "", "accepted", "pending", ""],
    ]
    assert summarize(outcomes, ctx()).reports_from_logs == 1
    assert "1 report from the provider's logs: status only, no error details." in render_markdown(
        summarize(outcomes, ctx())
    )


def test_one_pass_gives_the_summary_and_the_same_csv() -> None:
    outcomes = spring_sale()
    expected = io.StringIO(newline="")
    write_messages_csv(outcomes, expected)
    single = io.StringIO(newline="")
    summary = summarize(iter(outcomes), ctx(), csv_file=single)  # an iterator: read once
    assert summary.final["delivered"] == 14
    assert single.getvalue() == expected.getvalue() == "".join(iter_messages_csv(iter(outcomes)))
    assert single.getvalue().startswith("row,messageId,channel,status,error,price,currency,state,outcome,source\r\n")


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("=cmd|' /C calc'!A0", id="equals-dde"),
        pytest.param("+1", id="plus"),
        pytest.param("-1", id="minus"),
        pytest.param("@x", id="at"),
        pytest.param("\t=1", id="tab"),
        pytest.param("\r=1", id="carriage-return"),
    ],
)
def test_csv_cells_that_a_spreadsheet_would_run_are_escaped(value: str) -> None:
    outcome = Outcome(2, value, "accepted", {**report("UNDELIVERABLE", value), "error": {"name": value}}, "reports")
    rejected = Outcome(3, "m3", "rejected", reason=value)
    rows = read_csv("".join(iter_messages_csv([outcome, rejected])))
    assert rows[1][1] == "'" + value  # messageId, as the ledger has it
    assert rows[1][4] == "'" + value.strip()  # the report's error name (provider strings are stripped)
    assert rows[2][4] == "'" + " ".join(value.split())  # the rejection reason, on one line


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        pytest.param("plain", "plain", id="plain"),
        pytest.param("", "", id="empty"),
        pytest.param("a=b", "a=b", id="inner-equals"),
        pytest.param("0.0104", "0.0104", id="number"),
        pytest.param("=SUM(A1)", "'=SUM(A1)", id="formula"),
    ],
)
def test_spreadsheet_safe(cell: str, safe: str) -> None:
    assert spreadsheet_safe(cell) == safe


# --- report.html ----------------------------------------------------------------------------------

EVIL = '<script>alert("x")</script><img src=https://evil.example/x onerror=alert(1)>'


def evil_summary() -> Summary:
    outcomes = [
        *spring_sale(),
        Outcome(30, "m30", "accepted", report("UNDELIVERABLE", "SMS", error=EVIL), "reports"),
        Outcome(31, "m31", "rejected", reason=EVIL),
    ]
    return summarize(outcomes, ctx(description=EVIL, skipped={EVIL: 1}))


def test_html_escapes_everything_user_controlled() -> None:
    html = render_html(evil_summary())
    assert "<script" not in html.lower()
    assert "<img" not in html.lower()
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=https://evil.example/x" in html


def test_html_is_self_contained_with_an_svg_funnel() -> None:
    html = render_html(summarize(spring_sale(), ctx()))
    assert html.startswith("<!DOCTYPE html>")
    assert html.count("<svg") == 1
    assert "<script" not in html.lower()
    assert "http://" not in html and "https://" not in html
    assert not re.search(r"\b(src|href)\s*=|url\(|@import|<link", html, re.IGNORECASE)
    assert "default-src 'none'" in html
    for label, count in [("Delivered on LINE", "9 (50.0 %)"), ("Delivered by SMS fallback", "5 (27.8 %)")]:
        assert f">{label}</text>" in html and f">{count}</text>" in html
    assert ">Not delivered</text>" in html and ">Pending (no final report yet)</text>" in html


def test_html_without_messages_has_no_bars() -> None:
    html = render_html(summarize([], ctx(planned=0)))
    assert "<svg" not in html
    assert "No message has reached the provider yet." in html


def test_render_all_gives_the_three_small_files() -> None:
    files = render_all(summarize(spring_sale(), ctx()))
    assert sorted(files) == ["report.html", "summary.json", "summary.md"]
    assert json.loads(files["summary.json"])["failover"] == {
        "line_delivered": 9,
        "sms_fallback_delivered": 5,
        "not_delivered": 2,
    }


# --- purity ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "module", [campaigner.summary.outcomes, campaigner.summary.render], ids=["summary", "summary_html"]
)
def test_summary_is_pure_core(module: Any) -> None:
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    forbidden = {
        "httpx",
        "sqlite3",
        "campaigner.ledger.messages",
        "campaigner.omni.client",
        "campaigner.sending.apply",
        "campaigner.cli",
    }
    assert not {name for name in imported if name.split(".")[0] in forbidden or name in forbidden}
    assert not {name for name in imported if name.startswith(("campaigner.commands", "campaigner.sandbox"))}


def test_a_row_the_ledger_does_not_know_is_an_empty_cell() -> None:
    rows = read_csv("".join(iter_messages_csv([Outcome(None, "m9", "planned")])))  # type: ignore[arg-type]
    assert rows[1] == ["", "m9", "", "", "", "", "", "planned", "not_sent", ""]
