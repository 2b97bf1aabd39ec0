"""Satisfaction: one 1-to-5 question after a case completes (``satisfaction: true``), the
score it gets back, and the figures (issue 15; one of the four measures the recall policy
assesses a recall by). ``ask.ask_satisfaction`` is the one way to ask; complaints call it
too when one closes."""
