"""The campaign report (``recall report ID --format csv|html|json``): one row per case with
its outcome and masked contact data, and the summary metrics; the HTML is the final report
the recall policy asks for (``final_report``: what was done, when, how many, what users
said, the four measures, the curves). Also written as the final report when a campaign
closes (the layer above writes the files).

Contact data is masked in every row: the report is for people and may be mailed around.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import astuple, dataclass, fields
from datetime import datetime
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipeline.errors import NotFound
from pipeline.models import Attempt, Campaign, Case, Recipient
from pipeline.privacy.masking import mask_email, mask_phone
from pipeline.reporting import curves
from pipeline.reporting.final_report import OPTIONAL_MEASURES, report_data

FORMATS = ("csv", "html", "json")
_templates = Environment(
    loader=PackageLoader("pipeline.reporting", "templates"),
    autoescape=select_autoescape(["html", "j2"]),
)


@dataclass(frozen=True)
class CaseRow:
    case_id: int
    external_id: str
    phone: str
    email: str
    risk_tier: int
    state: str
    last_response: str
    answered_channel: str
    answered_step: str
    attempts: int
    first_notified_at: str
    last_response_at: str


def report_columns() -> list[str]:
    return [column.name for column in fields(CaseRow)]


def case_rows(session: Session, campaign_id: int) -> Iterator[CaseRow]:
    """Every case of the campaign, in id order, masked."""
    attempts = (
        select(Attempt.case_id, func.count().label("n"))
        .join(Case, Case.id == Attempt.case_id)
        .where(Case.campaign_id == campaign_id)
        .group_by(Attempt.case_id)
        .subquery()
    )
    query = (
        select(Case, Recipient, func.coalesce(attempts.c.n, 0))
        .join(Recipient, Recipient.id == Case.recipient_id)
        .outerjoin(attempts, attempts.c.case_id == Case.id)
        .where(Case.campaign_id == campaign_id)
        .order_by(Case.id)
        .execution_options(yield_per=1000)
    )
    for case, person, attempt_count in session.execute(query):
        yield CaseRow(
            case_id=case.id,
            external_id=person.external_id,
            phone=mask_phone(person.phone) if person.phone else "",
            email=mask_email(person.email) if person.email else "",
            risk_tier=person.risk_tier,
            state=case.state,
            last_response=case.last_response or "",
            answered_channel=case.answered_channel or "",
            answered_step="" if case.answered_step is None else str(case.answered_step + 1),
            attempts=int(attempt_count),
            first_notified_at=_when(case.first_notified_at),
            last_response_at=_when(case.last_response_at),
        )


def _when(moment: datetime | None) -> str:
    return "" if moment is None else moment.isoformat(timespec="seconds")


def render_report(session: Session, campaign_id: int, fmt: str) -> str:
    """The report as text in ``fmt`` (csv or html). Raises NotFound for an unknown campaign."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r}; use csv, html or json")
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"campaign {campaign_id} does not exist")
    data = report_data(session, campaign_id)
    if fmt == "json":
        # The figures only: a tool wanting every case reads the CSV.
        return json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"
    rows = case_rows(session, campaign_id)
    return _csv(data["summary"], rows) if fmt == "csv" else _html(campaign, data, rows)


def _csv(summary: dict[str, Any], rows: Iterator[CaseRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(report_columns())
    for row in rows:
        writer.writerow([neutralise_formula(cell) for cell in astuple(row)])
    # The summary follows the rows as comment lines, so the file still loads as a table.
    for name, value in summary_lines(summary):
        out.write(f"# {name}: {value}\n")
    return out.getvalue()


# A spreadsheet runs a cell starting with one of these as a formula (=HYPERLINK(…) can send
# what the sheet shows to another site): OWASP's "CSV injection" list.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def neutralise_formula(cell: object) -> object:
    """A text cell a spreadsheet would run, prefixed with ``'`` so it is shown as text;
    numbers and every other cell unchanged."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


def _html(campaign: Campaign, data: dict[str, Any], rows: Iterator[CaseRow]) -> str:
    template = _templates.get_template("report.html.j2")
    summary = data["summary"]
    chart = curves.line_chart(
        {"completion": data["curves"]["completion"], "answers": data["curves"]["answers"]},
        "Completion and answer rates over time",
    )
    return template.render(
        campaign=campaign,
        data=data,
        status=summary,
        chart=chart,
        optional={k: summary[k] for k in OPTIONAL_MEASURES if summary.get(k) is not None},
        summary=summary_lines(summary),
        columns=report_columns(),
        rows=(astuple(row) for row in rows),
    )


def summary_lines(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """The summary metrics flattened to (name, value) pairs, rates as percentages."""
    lines = [("state", str(summary.get("state", ""))), ("cases", str(summary.get("cases", 0)))]
    for name, rate in (summary.get("rates") or {}).items():
        lines.append((f"{name} rate", f"{float(rate):.1%}"))
    for name, count in (summary.get("states") or {}).items():
        lines.append((f"cases {name}", str(count)))
    for name, count in (summary.get("responses") or {}).items():
        lines.append((f"responses {name}", str(count)))
    for reason, count in (summary.get("refusals") or {}).items():
        lines.append((f"refusal reason {reason}", str(count)))
    for channel, counts in (summary.get("channels") or {}).items():
        for name, count in counts.items():
            lines.append((f"{channel} {name}", str(count)))
    for name, value in (summary.get("remedies") or {}).items():
        shown = f"{float(value):.1%}" if name == "rate" else str(value)
        lines.append((f"remedies {name}", shown))
    satisfaction = summary.get("satisfaction") or {}
    for name in ("asked", "answers", "mean", "rate"):
        if name in satisfaction:
            value = satisfaction[name]
            shown = "" if value is None else str(value)
            shown = f"{float(value):.1%}" if name == "rate" else shown
            lines.append((f"satisfaction {name}", shown))
    for score, count in (satisfaction.get("distribution") or {}).items():
        lines.append((f"satisfaction score {score}", str(count)))
    return (
        lines
        + privacy_lines(summary)
        + cost_lines(summary.get("cost"))
        + compliance_lines(summary.get("compliance"))
    )


def privacy_lines(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """Purpose, consent bases, erasures during the campaign and the retention purge."""
    lines = [("purpose", str(summary.get("purpose") or "(not stated)"))]
    for basis, count in (summary.get("consent") or {}).items():
        lines.append((f"consent {basis}", str(count)))
    erasures = summary.get("erasures") or []
    lines.append(("erasures during the campaign", str(len(erasures))))
    for erasure in erasures:
        asked, done = erasure.get("asked_at"), erasure.get("done_at")
        lines.append((f"erasure #{erasure.get('recipient_id')}", f"asked {asked}, done {done}"))
    retention = summary.get("retention") or {}
    purged = retention.get("purged_at")
    days = retention.get("days")
    kept = "kept (no RECALL_RETENTION_DAYS)" if days is None else f"purged {days} days after close"
    lines.append(("personal data", f"{kept}; purged at {purged}" if purged else kept))
    return lines


def cost_lines(cost: dict[str, Any] | None) -> list[tuple[str, str]]:
    """Money spent, per channel and per case, and the budget, in the prices' currency."""
    if not cost:
        return []
    currency = cost.get("currency", "")
    lines = [("cost total", f"{cost.get('total', 0):.2f} {currency}")]
    for channel, amount in (cost.get("per_channel") or {}).items():
        lines.append((f"cost {channel}", f"{amount:.2f} {currency}"))
    for name in ("per_case_reached", "per_completed_case", "per_answer", "budget"):
        value = cost.get(name)
        shown = "" if value is None else f"{value:.4f} {currency}"
        lines.append((f"cost {name.replace('_', ' ')}", shown))
    if cost.get("budget_used") is not None:
        lines.append(("budget used", f"{cost['budget_used']:.1%}"))
    return lines


def compliance_lines(figures: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The compliance figures, one line each (counts, seconds, the audit's last result)."""
    if not figures:
        return []
    notices = figures.get("notices") or {}
    quiet = figures.get("quiet_hours_sends") or {}
    stop = figures.get("stop_to_suppression") or {}
    audit = figures.get("audit") or {}
    return [
        (
            "notices stating every required part",
            f"{notices.get('complete', 0)} of {notices.get('sent', 0)}",
        ),
        ("sends inside quiet hours", str(quiet.get("count", 0))),
        ("quiet hours overrides", "; ".join(quiet.get("overrides") or []) or "none"),
        ("sends after an opt-out", str(figures.get("sends_after_opt_out", 0))),
        ("opt-outs", str(stop.get("count", 0))),
        ("STOP to suppression, max seconds", _shown(stop.get("max_seconds"))),
        ("sends over frequency caps", str(figures.get("over_frequency_caps", 0))),
        ("audit last verified", _shown(audit.get("verified_at"), "never")),
        ("audit last result", _shown(audit.get("result"), "never verified")),
        ("erasures done in time", _in_time(figures.get("erasures_in_time"), "in_time", "done")),
        ("complaints handled in time", _in_time(figures.get("complaints_in_time"), "met", "due")),
        ("risk events", str(len(figures.get("risk_events") or []))),
    ]


def _in_time(figure: dict[str, Any] | None, kept: str, of: str) -> str:
    return "not measured" if not figure else f"{figure[kept]} of {figure[of]}"


def _shown(value: object, missing: str = "not measured") -> str:
    return missing if value is None else str(value)
