"""`recall status` prints what was spent, with the budget when the campaign has one."""

from __future__ import annotations

from cli.launch import money_line


def test_money_line_with_and_without_a_budget() -> None:
    cost = {"currency": "EUR", "total": 12.4, "budget": None, "per_completed_case": None}
    assert money_line(cost) == "Spent [bold]12.40 EUR[/]"
    cost |= {"budget": 100.0, "budget_used": 0.124, "per_completed_case": 0.5167}
    assert money_line(cost) == (
        "Spent [bold]12.40 EUR[/] (budget 100.00: 12.4%); per completed case 0.5167"
    )
