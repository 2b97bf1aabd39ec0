"""What recall sends, and why each message belongs to the recall: the notice itself and its
follow-ups, never anything else (no marketing, no unrelated news), whatever the consent.

Every follow-up is rendered by ``templates.render_followup``, which refuses a kind not in
``templates.FOLLOWUP_KINDS``; a test holds that list equal to ``RECALL_FOLLOWUPS`` below, so
a new kind of message needs a reason here, tied to the recall, before it can be sent.
"""

from __future__ import annotations

# The notice, on each channel (templates.NOTICE_PARTS renders it).
RECALL_NOTICE = "the recall notice: what is wrong, what to do, how to answer"

RECALL_FOLLOWUPS = {
    "confirmation": "confirms the person's answer to the recall",
    "refusal_followup": "states what refusing the recall's remedy means",
    "query_ack": "acknowledges a question about the recall",
    "opt_out_confirmation": "confirms the person will get no more recall messages",
    "opt_in_confirmation": "confirms recall messages resume after an opt-in",
    "help": "answers HELP with the recall's contact details",
    "agent_answer": "an agent's answer to the person's question about the recall",
    "remedy_reminder": "reminds a person who agreed to have the recall's remedy done",
    "satisfaction_question": "asks once how satisfied the person is with the recall's handling",
    "refusal_reason_ack": "thanks a person who refused the recall for saying why",
    "which_campaign": "asks which recall an answer is for when one phone has several open",
    "complaint_ack": "acknowledges a complaint about the recall, with when to expect an answer",
}
