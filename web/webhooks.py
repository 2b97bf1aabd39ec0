"""Provider webhooks: verify the signature, store the raw event, enqueue it, answer at once.

Every handler does only that. Understanding the event (which case, which answer, which
status) happens in ``response.process`` on a worker, so a provider never waits on our
domain logic and a retried webhook is a no-op (see ``pipeline.inbound.event_store``).

Stored (provider, kind) and id (``inbound_event.provider_event_id``), as
``pipeline.inbound.answers`` reads them: (twilio, sms) ``MessageSid``; (twilio, sms_status)
``MessageSid:MessageStatus``; (twilio, keypress) ``CallSid:gather:Digits``; (twilio,
call_status) ``CallSid:CallStatus``; (twilio, recording) ``CallSid:recording:RecordingSid``;
(sendgrid, email_event) ``sg_event_id``.
Stored payloads are the provider's fields as sent (a field sent twice becomes a list);
query parameters of the callback URL, if any, are under ``_query``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, HTTPException
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MultiDict
from starlette.requests import Request
from starlette.responses import Response
from twilio.twiml.messaging_response import MessagingResponse

from pipeline.channel_port import FOLLOWUP_CALLBACK_MARK
from pipeline.inbound.attempt_status import can_change_anything
from pipeline.inbound.event_store import NewEvent
from pipeline.models import Case
from web import responses, signatures
from web.deps import engine_of, settings_of
from web.events import MalformedEvent, content_id, id_part, storable
from web.ingest import ingestor_of
from web.voice import goodbye_twiml, keypress_reply, load_case, machine_answered, voice_twiml_for

log = logging.getLogger(__name__)

router = APIRouter(prefix="/webhooks", tags=["webhooks"], responses=responses.WEBHOOK)

XML = "application/xml"
EMPTY_TWIML = str(MessagingResponse())
FORM = "application/x-www-form-urlencoded"
# Twilio sends a few dozen fields; far more is not Twilio.
MAX_FORM_FIELDS = 500
REPEAT_KEY = "9"


def _is_form(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip().lower() == FORM


def _parse_form(body: bytes) -> MultiDict:
    try:
        pairs = parse_qsl(
            body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS
        )
    except ValueError as error:
        raise MalformedEvent("too many form fields") from error
    return MultiDict(pairs)


async def twilio_params(request: Request) -> MultiDict:
    """The request's form fields, once Twilio's signature over them has been checked.

    Called by each handler rather than declared with ``Depends``: FastAPI's dependency
    machinery costs a webhook more CPU than parsing the form does."""
    settings = settings_of(request)
    params = _parse_form(await request.body()) if _is_form(request) else MultiDict()
    valid = signatures.twilio_signature_valid(
        auth_token=settings.twilio_auth_token,
        url=signatures.public_request_url(settings.public_url, request.scope),
        params=params,
        signature=request.headers.get(signatures.TWILIO_SIGNATURE),
        signature_settings=request.headers.get(signatures.TWILIO_SIGNATURE_SETTINGS),
    )
    if not valid:
        log.warning("webhook.forbidden", extra={"path": request.url.path})
        raise HTTPException(403, "invalid or missing Twilio signature")
    if not _is_form(request):
        raise MalformedEvent(f"expected {FORM}")
    return params


def _payload(params: MultiDict, request: Request) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    for key in params:
        values = params.getlist(key)
        payload[key] = values[0] if len(values) == 1 else values
    if request.query_params:
        payload["_query"] = dict(request.query_params)
    return storable(payload)  # type: ignore[no-any-return]


async def record(request: Request, events: list[NewEvent]) -> list[int]:
    """Store ``events`` and enqueue the new ones; returns the new rows' ids. Returns only
    once they are committed: the process's ingestor writes them with what concurrent
    requests brought (``web.ingest``)."""
    return await ingestor_of(request).submit(events)


def _twilio_event(kind: str, event_id: str, params: MultiDict, request: Request) -> NewEvent:
    return NewEvent("twilio", kind, event_id, _payload(params, request))


def _progress_event(kind: str, event_id: str, status: str, payload: dict[str, Any]) -> NewEvent:
    """A delivery callback: stored always, processed only when it may change something
    (most report progress the send already recorded, and skipping them halves the work)."""
    provider = "sendgrid" if kind == "email_event" else "twilio"
    outcome = None if can_change_anything(kind, status) else f"status:{status.lower()[:32]}:no-news"
    return NewEvent(provider, kind, event_id, payload, outcome=outcome)


@router.post("/twilio/sms", openapi_extra=responses.TWILIO_MESSAGE)
async def inbound_sms(request: Request) -> Response:
    """An SMS a user sent us. Replies with empty TwiML: any answer goes out from a worker."""
    params = await twilio_params(request)
    sid = id_part(params.get("MessageSid"), "MessageSid")
    await record(request, [_twilio_event("sms", sid, params, request)])
    return Response(EMPTY_TWIML, media_type=XML)


async def _record_status(
    request: Request, params: MultiDict, kind: str, sid_field: str, status_field: str
) -> Response:
    """A Twilio status callback, stored once per (sid, status) pair."""
    sid = id_part(params.get(sid_field), sid_field)
    status = id_part(params.get(status_field), status_field)
    event = _progress_event(kind, f"{sid}:{status}", status, _payload(params, request))
    if request.query_params.get(FOLLOWUP_CALLBACK_MARK) == "1":
        # A follow-up's status (its URL says so, and the URL is signed): it changes no case,
        # so it is stored as handled, as ``response.process`` would record it, and no
        # worker, transaction or retry is spent on it.
        event = replace(event, outcome=f"followup:{status.lower()[:32]}")
    await record(request, [event])
    return Response(status_code=204)


@router.post("/twilio/status", status_code=204, openapi_extra=responses.TWILIO_MESSAGE)
async def message_status(request: Request) -> Response:
    """A message status callback; each (message, status) pair is stored once."""
    params = await twilio_params(request)
    return await _record_status(request, params, "sms_status", "MessageSid", "MessageStatus")


@router.post("/twilio/call-status", status_code=204, openapi_extra=responses.TWILIO_CALL)
async def call_status(request: Request) -> Response:
    """A call status callback; each (call, status) pair is stored once."""
    params = await twilio_params(request)
    return await _record_status(request, params, "call_status", "CallSid", "CallStatus")


def _case_id(request: Request) -> int:
    raw = request.query_params.get("case_id", "")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise MalformedEvent("case_id is missing or malformed")
    return int(raw)


async def _case(request: Request) -> Case | None:
    return await run_in_threadpool(load_case, engine_of(request), _case_id(request))


@router.post(
    "/twilio/voice",
    responses=responses.described(404),
    openapi_extra=responses.TWILIO_CALL | responses.CASE_ID_QUERY,
)
async def voice(request: Request) -> Response:
    """The TwiML for a recall call to the case named in the URL (``?case_id=``)."""
    params = await twilio_params(request)
    case = await _case(request)
    if case is None:
        raise HTTPException(404, "no such case")
    twiml = voice_twiml_for(
        case, settings_of(request).public_url, machine=machine_answered(params.get("AnsweredBy"))
    )
    return Response(twiml, media_type=XML)


@router.post("/twilio/voice/gather", openapi_extra=responses.TWILIO_CALL | responses.CASE_ID_QUERY)
async def voice_gather(request: Request) -> Response:
    """A keypress: stored like any answer and answered with the spoken follow-up.
    9 replays the notice; it is stored too, but there is nothing to process."""
    params = await twilio_params(request)
    sid = id_part(params.get("CallSid"), "CallSid")
    case = await _case(request)
    digits = params.get("Digits", "")
    if digits and not (len(digits) <= 32 and all(c in "0123456789*#" for c in digits)):
        raise MalformedEvent("Digits is malformed")
    if digits:
        event = NewEvent(
            "twilio",
            "keypress",
            f"{sid}:gather:{digits}",
            _payload(params, request),
            outcome="repeat" if digits == REPEAT_KEY else None,
        )
        await record(request, [event])
    public_url = settings_of(request).public_url
    return Response(keypress_reply(case, digits, public_url), media_type=XML)


@router.post(
    "/twilio/voice/record", openapi_extra=responses.TWILIO_RECORDING | responses.CASE_ID_QUERY
)
async def voice_recording(request: Request) -> Response:
    """A question left as a recording after pressing 3 (when no agent line is set)."""
    params = await twilio_params(request)
    sid = id_part(params.get("CallSid"), "CallSid")
    recording = id_part(params.get("RecordingSid"), "RecordingSid")
    case = await _case(request)
    event = _twilio_event("recording", f"{sid}:recording:{recording}", params, request)
    await record(request, [event])
    return Response(goodbye_twiml(case), media_type=XML)


def _reject_constant(name: str) -> Any:
    raise MalformedEvent(f"{name} is not valid JSON")


def _sendgrid_events(body: bytes) -> list[Any]:
    try:
        events = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:
        raise MalformedEvent("body is not valid JSON") from error
    if not isinstance(events, list):
        raise MalformedEvent("expected a JSON array of event objects")
    return events


def sendgrid_event(raw: Any) -> NewEvent | None:
    """One event of a SendGrid batch, judged on its own: None if it is not an event object
    (logged and dropped, never the batch's failure). Its id is ``sg_event_id``, or one made
    from its content when that is missing or malformed; unstorable text is replaced."""
    if not isinstance(raw, dict):
        return None
    event = storable(raw)
    given = event.get("sg_event_id")
    try:
        event_id = id_part(given, "sg_event_id")
    except MalformedEvent:
        event_id = content_id("sgc:", event)
    return _progress_event("email_event", event_id, str(event.get("event"))[:64], event)


@router.post("/sendgrid/events", status_code=204, openapi_extra=responses.SENDGRID_EVENTS)
async def sendgrid_events(request: Request) -> Response:
    """SendGrid's signed event webhook: a JSON array, each event stored under its id."""
    body = await request.body()
    settings = settings_of(request)
    valid = signatures.sendgrid_signature_valid(
        public_key=settings.sendgrid_webhook_public_key,
        body=body,
        signature=request.headers.get(signatures.SENDGRID_SIGNATURE),
        timestamp=request.headers.get(signatures.SENDGRID_TIMESTAMP),
        max_age_seconds=settings.sendgrid_signature_max_age_seconds,
    )
    if not valid:
        log.warning("webhook.forbidden", extra={"path": request.url.path})
        raise HTTPException(403, "invalid or missing SendGrid signature")
    batch = _sendgrid_events(body)
    events = [event for event in map(sendgrid_event, batch) if event is not None]
    if len(events) < len(batch):
        log.warning("webhook.sendgrid_rejected", extra={"rejected": len(batch) - len(events)})
    await record(request, events)
    return Response(status_code=204)
