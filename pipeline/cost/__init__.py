"""Cost in money: the price of each channel's cost unit, what a campaign spent, and its
budget (``recall status``'s ``cost``)."""
