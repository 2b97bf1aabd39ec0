"""The status codes each public route can answer, for the OpenAPI schema (issue 13).

Besides a route's own answers, the request middlewares may answer any route: 413 and 431
(``web.limits``), 429 (``web.rate_limits``, login throttling), and the safety net's 503
when the database or broker is down (``web.errors``).
"""

from __future__ import annotations

from typing import Any

DESCRIPTIONS = {
    303: "Recorded; see the thank-you page (POST-redirect-GET)",
    400: "Malformed request, or an invalid response-link token",
    401: "Authentication required (HTTP Basic or a dashboard session)",
    403: "Missing or invalid provider signature",
    404: "No such row",
    410: "The response link expired, or its case is gone",
    413: "Request body over the route's limit",
    422: "A parameter out of range (ids are 1 to 2^63-1)",
    429: "Too many requests from this source (or failed logins); see Retry-After",
    431: "Too many or too large request headers",
    503: "Database or broker unavailable; retry after Retry-After",
}


def described(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for FastAPI: each code with its description."""
    return {code: {"description": DESCRIPTIONS[code]} for code in codes}


# What any public route may answer, whatever it does.
ANY_ROUTE = (413, 429, 431, 503)
WEBHOOK = described(400, 403, *ANY_ROUTE)
LINK = described(303, 400, 410, *ANY_ROUTE)
API = described(401, 404, 422, *ANY_ROUTE)
HEALTH = described(413, 429, 431, 503)


# --- request bodies: the handlers read the raw body themselves (the signature covers it),
# so FastAPI cannot infer them; these document them, and let schemathesis generate them.


def _form(*fields: str) -> dict[str, Any]:
    properties = {field: {"type": "string"} for field in fields}
    content = {"schema": {"type": "object", "properties": properties}}
    return {"requestBody": {"content": {"application/x-www-form-urlencoded": content}}}


TWILIO_MESSAGE = _form("MessageSid", "AccountSid", "From", "To", "Body", "MessageStatus")
TWILIO_CALL = _form("CallSid", "AccountSid", "From", "To", "CallStatus", "AnsweredBy", "Digits")
TWILIO_RECORDING = _form("CallSid", "RecordingSid", "RecordingUrl")
LINK_FORM = _form("answer", "text")
CASE_ID_QUERY = {
    "parameters": [
        {"name": "case_id", "in": "query", "required": True, "schema": {"type": "string"}}
    ]
}
SENDGRID_EVENTS = {
    "requestBody": {
        "content": {
            "application/json": {
                "schema": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "sg_event_id": {"type": "string"},
                            "sg_message_id": {"type": "string"},
                            "event": {"type": "string"},
                            "email": {"type": "string"},
                            "timestamp": {"type": "integer"},
                        },
                    },
                }
            }
        }
    }
}
