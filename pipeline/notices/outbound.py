"""What the core hands an adapter: the notice or follow-up rendered for one case, addressed.

Adapters see no ORM rows and render nothing; everything a channel needs to send (the text,
an email's subject, HTML and unsubscribe link, a call's script, the campaign's deadline
that bounds how long a provider may hold a text) is read here, from the case and the
channel's ``ChannelSpec``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from pipeline.channel_port import Outbound, spec_for
from pipeline.notices.templates import (
    builtin_locale,
    render_followup,
    render_followup_subject,
    render_notice,
    response_links,
    voice_prompt,
)

if TYPE_CHECKING:
    from pipeline.models import Case

# The follow-up said after each keypress answer (``pipeline.inbound.answers`` records it).
_SPOKEN_FOLLOWUPS = {"agree": "confirmation", "refuse": "refusal_followup", "query": "query_ack"}


def _address(case: Case, kind: str) -> str | None:
    return getattr(case.recipient, spec_for(kind).address, None) or None


def notice_message(case: Case, kind: str, step: int) -> Outbound:
    """The campaign's notice for ``case`` at ladder ``step``, to go out on channel ``kind``."""
    spec = spec_for(kind)
    notice = render_notice(case, spec.template or kind)
    links = notice.links or {}
    return Outbound(
        case_id=case.id,
        address=_address(case, kind),
        text=notice.text,
        locale=notice.locale,
        step=step,
        name=case.recipient.name or None,
        subject=notice.subject,
        html=notice.html,
        unsubscribe_url=links.get("unsubscribe_url"),
        deadline=case.campaign.deadline,
        machine_text=notice.machine_text,
    )


def followup_message(case: Case, kind: str, body: str) -> Outbound:
    """A rendered follow-up ``body`` for ``case`` on channel ``kind``."""
    spec = spec_for(kind)
    titled = spec.subject_line
    return Outbound(
        case_id=case.id,
        address=_address(case, kind),
        text=body,
        locale=builtin_locale(case.recipient.locale),
        name=case.recipient.name or None,
        subject=render_followup_subject(case) if titled else None,
        unsubscribe_url=response_links(case)["unsubscribe_url"] if titled else None,
        deadline=case.campaign.deadline,
    )


def keypress_message(case: Case, kind: str, step: int) -> Outbound:
    """The notice of a keypress channel with what is said after each answer (and when
    nothing is pressed): what the call's webhooks answer with."""
    message = notice_message(case, kind, step)
    spoken = {answer: render_followup(name, case) for answer, name in _SPOKEN_FOLLOWUPS.items()}
    spoken["no_input"] = voice_prompt(case.recipient.locale, "no_input")
    return replace(message, spoken=spoken)
