"""Who may do what: the four roles, in order, and the one comparison everything uses.

``viewer`` sees aggregates and masked lists; ``agent`` also works the query inbox and may
reveal one case's contact data (audited); ``operator`` also controls campaigns (pause,
resume, cancel), dead letters and remedies; ``admin`` may do everything, erasure included.
Each role includes the ones before it, so a check is one comparison of ranks.
"""

from __future__ import annotations

ROLES = ("viewer", "agent", "operator", "admin")
# What an entry of RECALL_DASHBOARD_USERS without a role gets: the least, so that forgetting
# to name a role never grants control of a campaign.
DEFAULT_ROLE = "viewer"


def rank(role: str) -> int:
    """The role's place in ``ROLES``; an unknown role ranks below every real one."""
    return ROLES.index(role) if role in ROLES else -1


def allows(role: str, needed: str) -> bool:
    """Whether someone with ``role`` may do what needs ``needed``."""
    if needed not in ROLES:
        raise ValueError(f"unknown role {needed!r}; roles: {', '.join(ROLES)}")
    return rank(role) >= rank(needed)
