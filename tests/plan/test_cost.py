"""campaigner.plan.cost and pricing: best case all on LINE, worst case all by SMS with real segments."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from campaigner.campaign.spec import Pricing
from campaigner.plan.cost import CostEstimate, CostEstimator

BOTH = ("LINE", "SMS")


def test_best_and_worst_case_with_country_prices() -> None:
    pricing = Pricing(currency="EUR", SMS={"385": 0.01, "81": 0.07, "default": 0.05}, LINE=0.004)
    est = CostEstimator(pricing, BOTH)
    est.add({"phoneNumber": "385911234567", "lineUserKey": "k1"}, 2)  # LINE 0.004 | SMS 2 × 0.01
    est.add({"phoneNumber": "819012345678"}, 1)  # no LINE key: SMS 0.07 either way
    est.add({"phoneNumber": "4915112345678", "lineUserKey": "k2"}, 1)  # LINE 0.004 | SMS default 0.05
    est.add({"lineUserKey": "k3"}, None)  # LINE only: 0.004 either way
    result = est.result()
    assert result == CostEstimate("EUR", Decimal("0.082"), Decimal("0.144"), 0)
    assert result.text() == "EUR 0.082 (best case) to 0.144 (worst case)"
    assert result.cell() == "EUR 0.082–0.144"


def test_a_country_without_a_price_is_counted_as_unpriced() -> None:
    est = CostEstimator(Pricing(currency="USD", SMS={"1": 0.0075}), ("SMS",))
    est.add({"phoneNumber": "12025550101"}, 3)
    est.add({"phoneNumber": "385911234567"}, 1)
    assert est.result().text() == "USD 0.0225; 1 message without a price"


PRICED = """
pricing:
  currency: EUR
  SMS: {385: 0.0104, default: 0.05}
  LINE: 0.005
"""


def test_plan_and_summary_show_the_estimate(workdir: Path, cli: Any) -> None:
    path = workdir / "campaigns" / "spring-sale-2026.yaml"
    path.write_text(path.read_text(encoding="utf-8") + PRICED, encoding="utf-8")
    out = cli("plan", str(path.relative_to(workdir))).out
    # 15 to send, one part each: 10 with a LINE key (5 by SMS), 14 with a phone number (1 on LINE only)
    assert "  estimated cost  EUR 0.102 (best case) to 0.1506 (worst case)\n" in out
    data = json.loads(cli("plan", "campaigns/spring-sale-2026.yaml", "--format", "json").out)
    assert data["cost"] == {"currency": "EUR", "best_case": 0.102, "worst_case": 0.1506, "unpriced": 0}
    md = cli("plan", "campaigns/spring-sale-2026.yaml", "--format", "markdown").out
    assert "| `spring-sale-2026` | + create | 15 | 0 | 5 | 15 segments | EUR 0.102–0.1506 | `sha256:" in md
    applied = cli("apply", "campaigns/spring-sale-2026.yaml", "--wait", "30s")
    assert applied.code == 0, applied.err
    line = next(x for x in applied.out.splitlines() if x.startswith("Estimated cost (plan): "))
    assert line.startswith("Estimated cost (plan): EUR 0.102 (best case) to 0.1506 (worst case); actual: ")
    summary_dir = workdir / "campaigns" / "reports" / "spring-sale-2026"
    assert line in (summary_dir / "summary.md").read_text(encoding="utf-8")
    html = (summary_dir / "report.html").read_text(encoding="utf-8")
    assert "<p>Estimated cost (plan): EUR 0.102 (best case) to 0.1506 (worst case); actual: " in html
    summary = json.loads((summary_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["cost_estimate"] == {"currency": "EUR", "best_case": 0.102, "worst_case": 0.1506}
    # report rewrites the summary and keeps the estimate (of every planned message, sent ones included)
    assert cli("report", "campaigns/spring-sale-2026.yaml").code == 0
    assert line.split("; actual")[0] in (summary_dir / "summary.md").read_text(encoding="utf-8")


def test_bad_prices_are_one_line_each(workdir: Path, cli: Any) -> None:
    path = workdir / "campaigns" / "spring-sale-2026.yaml"
    bad = PRICED.replace("currency: EUR", "currency: euro").replace("{385: 0.0104, default: 0.05}", "{38x: 0.01}")
    path.write_text(path.read_text(encoding="utf-8") + bad, encoding="utf-8")
    result = cli("validate", "campaigns/spring-sale-2026.yaml")
    assert result.code == 1
    assert result.err.splitlines() == [
        "campaigns/spring-sale-2026.yaml:42:13: error: pricing.currency: 'euro' is not a currency code: "
        "use the 3 capital letters of ISO 4217, e.g. EUR",
        "campaigns/spring-sale-2026.yaml:43:3: error: pricing.SMS: '38x' is not a country calling code "
        "(1 to 3 digits, e.g. 385) or 'default'",
    ]
