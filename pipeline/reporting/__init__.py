"""Reporting: metrics, tallies, snapshots, the campaign report and the dashboard's views."""
