"""Hook points other policy domains attach to (satisfaction asks after a closed complaint)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from pipeline.models import Complaint


def on_complaint_closed(session: Session, complaint: Complaint, now: datetime) -> None:
    """Called in the transaction that closes ``complaint``, after its stage is written.

    Today it does nothing more than the close itself: the satisfaction question after a
    closed complaint (issue 15, slice 15a) is meant to be asked from here.
    """
    return None
