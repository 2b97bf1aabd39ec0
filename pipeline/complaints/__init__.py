"""Complaints on the clock: classification, stages with working-day deadlines, statistics."""
