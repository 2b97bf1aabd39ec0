"""Remedies: the service centre's word that a case's remedy is done (issue 15).

``confirm`` holds the rule (an agreed case completes; one that never agreed completes too
and is marked so; a repeat is a no-op), ``csv_input`` the import file, ``reminders`` the
one reminder an agreed-but-not-remedied case gets, ``funnel`` the figures for status.
"""
