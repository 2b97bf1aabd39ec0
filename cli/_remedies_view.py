"""The status table's remedy funnel and satisfaction lines (issue 15a)."""

from __future__ import annotations

from typing import Any


def remedy_lines(status: dict[str, Any]) -> list[str]:
    """``Remedies: 8 agreed → 6 remedied (75.0%), 2 awaiting; 1 without agreeing`` and
    ``Satisfaction: 4 answer(s), mean 4.25, …`` when the campaign has any."""
    lines = []
    remedies = status.get("remedies") or {}
    if remedies.get("agreed") or remedies.get("remedied"):
        lines.append(
            f"Remedies: {remedies['agreed']} agreed → "
            f"{remedies['remedied'] - remedies['remedied_without_agreement']} remedied "
            f"({remedies['rate']:.1%}), {remedies['awaiting']} awaiting; "
            f"{remedies['remedied_without_agreement']} remedied without agreeing"
        )
    satisfaction = status.get("satisfaction") or {}
    if satisfaction.get("asked"):
        spread = " ".join(f"{k}:{v}" for k, v in satisfaction["distribution"].items())
        mean = "–" if satisfaction["mean"] is None else f"{satisfaction['mean']:.2f}"
        lines.append(
            f"Satisfaction: {satisfaction['answers']} answer(s) of {satisfaction['asked']} "
            f"asked ({satisfaction['rate']:.1%}), mean {mean}; {spread}"
        )
    return lines
