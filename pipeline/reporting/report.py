"""The campaign report (``recall report ID --format csv|html``): one row per case with its
outcome and masked contact data, and the summary metrics. Also written as the final report
when a campaign closes at its deadline.

Contact data is masked in every row: the report is for people and may be mailed around.
"""

from __future__ import annotations

import csv
import io
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
from pipeline.reporting.metrics import campaign_status

FORMATS = ("csv", "html")
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
        raise ValueError(f"unknown report format {fmt!r}; use csv or html")
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"campaign {campaign_id} does not exist")
    summary = campaign.final_report or campaign_status(session, campaign_id)
    rows = case_rows(session, campaign_id)
    return _csv(summary, rows) if fmt == "csv" else _html(campaign, summary, rows)


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


def _html(campaign: Campaign, summary: dict[str, Any], rows: Iterator[CaseRow]) -> str:
    template = _templates.get_template("report.html.j2")
    return template.render(
        campaign=campaign,
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
    return lines
