"""What a webhook handler needs to turn a provider's request into a storable event: provider
ids checked as such, text PostgreSQL can store, a content id for events that bring none.
The events themselves are stored by ``pipeline.inbound.event_store`` (``web.ingest``
batches the events of concurrent requests into it) and handed on by
``actors.response.enqueue_processing``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from typing import Any

from pipeline.errors import MalformedEvent

log = logging.getLogger(__name__)

# Provider ids (Twilio SIDs, statuses, digits, SendGrid event ids) are short printable
# ASCII. Anything else is a malformed request, and refusing it here keeps NUL bytes and
# megabyte "ids" away from a unique index.
_ID_PART = re.compile(r"[\x21-\x7e]{1,64}")


def id_part(value: object, name: str) -> str:
    """``value`` checked as one component of a provider event id."""
    if not isinstance(value, str) or not _ID_PART.fullmatch(value):
        raise MalformedEvent(f"{name} is missing or malformed")
    return value


# Text PostgreSQL cannot store: a NUL, or half of a UTF-16 surrogate pair (JSON allows
# "\udcff"; UTF-8 does not).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(value: Any) -> Any:
    """``value`` with every unstorable character replaced by U+FFFD, keys included: an
    event that carried one is kept, with that character marked, instead of failing on
    every retry."""
    if isinstance(value, str):
        return _UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [storable(item) for item in value]
    return value


def content_id(prefix: str, payload: dict[str, Any]) -> str:
    """A stable id for an event that brought none: the same content gives the same id, so
    a retried batch still stores it once."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return f"{prefix}{hashlib.sha256(canonical.encode()).hexdigest()[:48]}"
