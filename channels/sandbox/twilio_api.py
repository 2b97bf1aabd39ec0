"""Twilio's Messages and Calls APIs as the sandbox answers them, and what happens next:
status callbacks, users replying by SMS, calls fetching TwiML and pressing keys."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import xml.etree.ElementTree as ET
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import FormData

from channels.sandbox.config import API_ERROR_CODES
from channels.sandbox.state import SandboxState, twilio_sid
from channels.sandbox.users import KEYPRESSES, language_of, scripted_reply, sms_reply
from channels.segments import count_segments
from pipeline.clock import utcnow

API_VERSION = "2010-04-01"
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
WHATSAPP = "whatsapp:"
ERROR_MESSAGES = {
    20003: "Authenticate",
    20429: "Too Many Requests",
    20500: "An internal server error has occurred",
    21205: "Url parameter is required.",
    21211: "The 'To' number {to} is not a valid phone number.",
    21602: "Message body is required.",
    21603: "A 'From' or 'MessagingServiceSid' parameter is required to send a message.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number {to} is not a valid mobile number",
    21635: "'To' number {to} is a landline and cannot receive this message",
    30003: "Unreachable destination handset",
    30006: "Landline or unreachable carrier",
}


def twilio_error(code: int, status: int, **fields: str) -> JSONResponse:
    message = ERROR_MESSAGES.get(code, "Error").format(**fields)
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return JSONResponse(body, status_code=status)


def form_dict(form: FormData) -> dict[str, Any]:
    """Form fields; a field sent more than once (StatusCallbackEvent) becomes a list."""
    out: dict[str, Any] = {}
    for key, value in form.multi_items():
        if key in out:
            out[key] = [*out[key], value] if isinstance(out[key], list) else [out[key], value]
        else:
            out[key] = str(value)
    return out


def basic_auth(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return None
    return user, password


def now_rfc2822() -> str:
    return utcnow().strftime("%a, %d %b %Y %H:%M:%S +0000")


async def preflight(state: SandboxState, request: Request, sid: str) -> JSONResponse | None:
    """Authentication and injected faults, shared by both endpoints."""
    auth, config = basic_auth(request), state.config
    expected_user = config.twilio_account_sid or sid
    if auth is None or auth != (expected_user, config.twilio_auth_token) or sid != auth[0]:
        return twilio_error(20003, 401)
    faults = config.faults
    if faults.slow_rate and state.rng.random() < faults.slow_rate:
        await asyncio.sleep(faults.slow_seconds)
    if faults.rate_429 and state.rng.random() < faults.rate_429:
        return twilio_error(20429, 429)
    if faults.rate_5xx and state.rng.random() < faults.rate_5xx:
        return twilio_error(20500, state.rng.choice([500, 503]))
    return None


def bare_number(address: str) -> str:
    """``whatsapp:+1555…`` → ``+1555…``: WhatsApp goes through the Messages API with the
    channel written before the number; the person behind it is the same."""
    return address.removeprefix(WHATSAPP)


def message_text(form: dict[str, Any]) -> str:
    """What the user reads: the body, or an approved template's variables (WhatsApp)."""
    if form.get("Body") or not form.get("ContentSid"):
        return str(form.get("Body", ""))
    try:
        variables = json.loads(form.get("ContentVariables") or "{}")
    except ValueError:
        return ""
    return (
        " ".join(str(value) for value in variables.values()) if isinstance(variables, dict) else ""
    )


def number_error(state: SandboxState, to: str, *, sms: bool) -> JSONResponse | None:
    if not to:
        return twilio_error(21604, 400)
    if not E164.match(bare_number(to)):
        return twilio_error(21211, 400, to=to)
    code = state.config.fault_for(bare_number(to))
    if sms and to in state.stopped:
        code = 21610
    if code in API_ERROR_CODES and (sms or code in (21211, 21635)):
        return twilio_error(code, 400, to=to)
    return None


def resource(kind: str, sid: str, account: str, fields: dict[str, Any]) -> dict[str, Any]:
    now = now_rfc2822()
    return {
        "sid": sid,
        "account_sid": account,
        "api_version": API_VERSION,
        "date_created": now,
        "date_updated": now,
        "direction": "outbound-api",
        "status": "queued",
        "uri": f"/{API_VERSION}/Accounts/{account}/{kind}/{sid}.json",
        **fields,
    }


def make_router(state: SandboxState) -> APIRouter:
    router = APIRouter()

    @router.post(f"/{API_VERSION}/Accounts/{{sid}}/Messages.json")
    async def create_message(sid: str, request: Request) -> Response:
        form = form_dict(await request.form())
        refused = await preflight(state, request, sid) or _message_error(state, form)
        state.log_request(_entry(request, form, refused.status_code if refused else 201))
        if refused is not None:
            return refused
        body, message_sid = message_text(form), twilio_sid("SM")
        message = resource(
            "Messages",
            message_sid,
            sid,
            {
                "to": form["To"],
                "from": form.get("From"),
                "messaging_service_sid": form.get("MessagingServiceSid"),
                "body": body,
                "num_segments": str(count_segments(body).segments),
                "num_media": "0",
                "price": None,
                "price_unit": "USD",
                "error_code": None,
                "error_message": None,
                "date_sent": None,
                "subresource_uris": {},
            },
        )
        state.log_message(
            {
                "channel": "whatsapp" if form["To"].startswith(WHATSAPP) else "sms",
                "sid": message_sid,
                "to": form["To"],
                "from": form.get("From"),
                "body": body,
                "status": "queued",
            }
        )
        state.spawn(sms_lifecycle(state, sid, form, message_sid))
        return JSONResponse(message, status_code=201)

    @router.post(f"/{API_VERSION}/Accounts/{{sid}}/Calls.json")
    async def create_call(sid: str, request: Request) -> Response:
        form = form_dict(await request.form())
        refused = await preflight(state, request, sid) or _call_error(state, form)
        state.log_request(_entry(request, form, refused.status_code if refused else 201))
        if refused is not None:
            return refused
        call_sid = twilio_sid("CA")
        call = resource(
            "Calls",
            call_sid,
            sid,
            {"to": form["To"], "from": form.get("From"), "price": None, "duration": None},
        )
        state.log_message(
            {
                "channel": "voice",
                "sid": call_sid,
                "to": form["To"],
                "from": form.get("From"),
                "body": "",
                "status": "queued",
            }
        )
        state.spawn(call_lifecycle(state, sid, form, call_sid))
        return JSONResponse(call, status_code=201)

    return router


def _entry(request: Request, form: dict[str, Any], status: int) -> dict[str, Any]:
    auth = basic_auth(request)
    return {
        "provider": "twilio",
        "method": request.method,
        "path": request.url.path,
        "auth_user": auth[0] if auth else None,
        "form": form,
        "status": status,
    }


def _message_error(state: SandboxState, form: dict[str, Any]) -> JSONResponse | None:
    if not form.get("From") and not form.get("MessagingServiceSid"):
        return twilio_error(21603, 400)
    if not form.get("Body") and not form.get("ContentSid"):
        return twilio_error(21602, 400)
    return number_error(state, form.get("To", ""), sms=True)


def _call_error(state: SandboxState, form: dict[str, Any]) -> JSONResponse | None:
    if not form.get("From"):
        return twilio_error(21603, 400)
    if not form.get("Url") and not form.get("Twiml"):
        return twilio_error(21205, 400)
    return number_error(state, form.get("To", ""), sms=False)


# -- what happens after a message is accepted ------------------------------------------------


async def sms_lifecycle(state: SandboxState, account: str, form: dict[str, Any], sid: str) -> None:
    to, callback = form["To"], str(form.get("StatusCallback") or "")
    base = {
        "AccountSid": account,
        "ApiVersion": API_VERSION,
        "From": form.get("From") or "",
        "To": to,
        "MessageSid": sid,
        "SmsSid": sid,
    }
    code = state.config.fault_for(bare_number(to))
    final = "undelivered" if code and code not in API_ERROR_CODES else "delivered"
    faults, held = state.config.faults, []
    for status in ("queued", "sent", final):
        await state.pause(state.config.callback_delay)
        state.set_status(sid, status)
        params = {**base, "MessageStatus": status, "SmsStatus": status}
        if status == "undelivered":
            params["ErrorCode"] = str(code)
        copies = [params] * (2 if _chance(state, faults.duplicate_callbacks) else 1)
        if faults.shuffle_callbacks:  # held back, then sent in any order
            held += copies
            continue
        for copy in copies if callback else []:
            await state.post_twilio("sms_status", callback, copy)
    state.rng.shuffle(held)
    for copy in held if callback else []:
        await state.post_twilio("sms_status", callback, copy)
    if final == "delivered" and state.may_answer(to, message_text(form)):
        await user_replies_by_sms(state, account, form)


def _chance(state: SandboxState, rate: float) -> bool:
    return bool(rate) and state.rng.random() < rate


async def user_replies_by_sms(state: SandboxState, account: str, form: dict[str, Any]) -> None:
    user, received = form["To"], message_text(form)
    if user in state.config.scripts:
        line = state.next_script_line(user)
        answer, body = "scripted", scripted_reply(line or "", received)
    else:
        answer = state.config.shares.pick(state.rng)
        body = sms_reply(answer, received) if answer != "silence" else ""
    if not body:
        return
    await state.pause(state.config.reply_delay)
    sid = twilio_sid("SM")
    params = {
        "AccountSid": account,
        "ApiVersion": API_VERSION,
        "MessageSid": sid,
        "SmsMessageSid": sid,
        "SmsSid": sid,
        "From": user,
        "To": form.get("From") or "",
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
    }
    if form.get("MessagingServiceSid"):
        params["MessagingServiceSid"] = form["MessagingServiceSid"]
    if answer == "stop":
        state.stopped.add(user)
    state.log_message(
        {
            "channel": "whatsapp" if user.startswith(WHATSAPP) else "sms",
            "direction": "inbound",
            "sid": sid,
            "from": user,
            "to": params["To"],
            "body": body,
            "answer": answer,
        }
    )
    response = await state.post_twilio("sms_inbound", state.config.sms_inbound_url(), params)
    if response is not None and response.status_code == 200:
        for text in twiml_texts(response.text, "Message"):
            state.log_message(
                {
                    "channel": "sms",
                    "direction": "twiml_reply",
                    "to": user,
                    "from": params["To"],
                    "body": text,
                    "status": "delivered",
                }
            )


def twiml_texts(twiml: str, verb: str) -> list[str]:
    try:
        root = ET.fromstring(twiml)
    except ET.ParseError:
        return []
    return ["".join(element.itertext()).strip() for element in root.iter(verb)]


def twiml_attr(twiml: str, verb: str, attribute: str) -> str | None:
    try:
        element = ET.fromstring(twiml).find(f".//{verb}")
    except ET.ParseError:
        return None
    return None if element is None else element.get(attribute)


# -- what happens after a call is accepted ---------------------------------------------------


async def call_lifecycle(state: SandboxState, account: str, form: dict[str, Any], sid: str) -> None:
    to = form["To"]
    base = {
        "AccountSid": account,
        "ApiVersion": API_VERSION,
        "CallSid": sid,
        "From": form.get("From") or "",
        "To": to,
        "Direction": "outbound-api",
    }
    events = form.get("StatusCallbackEvent") or ["completed"]
    events = [events] if isinstance(events, str) else events

    async def status(call_status: str, event: str, **extra: str) -> None:
        state.set_status(sid, call_status)
        callback = form.get("StatusCallback")
        if callback and event in events:
            params = {**base, "CallStatus": call_status, "CallbackSource": "call-progress-events"}
            await state.post_twilio("call_status", callback, {**params, **extra})

    await state.pause(state.config.callback_delay)
    await status("initiated", "initiated")
    await state.pause(state.config.callback_delay)
    await status("ringing", "ringing")
    code = state.config.fault_for(to)
    if code and code not in API_ERROR_CODES:
        final = "no-answer" if code == 30003 else "failed"
        await status(final, "completed", ErrorCode=str(code))
        return
    await status("in-progress", "answered")
    seconds = await conversation(state, form, {**base, "CallStatus": "in-progress"}, sid)
    await status("completed", "completed", CallDuration=str(seconds))


async def conversation(
    state: SandboxState, form: dict[str, Any], params: dict[str, str], sid: str
) -> int:
    """Fetch the call's TwiML, listen, maybe press a key. Returns the call's length."""
    machine = state.config.is_machine(form["To"])
    if form.get("MachineDetection"):
        params = {**params, "AnsweredBy": "machine_end_beep" if machine else "human"}
    twiml = form.get("Twiml") or await _fetch(state, form.get("Url", ""), params, "voice_twiml")
    _heard(state, form, sid, twiml)
    action = twiml_attr(twiml, "Gather", "action")
    if machine or not action or not state.config.users:
        return 20
    answer = state.config.shares.pick(state.rng)
    digit = KEYPRESSES.get(answer)
    if digit is None:  # silence, or STOP: the person hangs up
        return 35
    await state.pause(state.config.reply_delay)
    state.log_message(
        {
            "channel": "voice",
            "direction": "inbound",
            "sid": sid,
            "from": form["To"],
            "to": form.get("From"),
            "body": digit,
            "answer": answer,
        }
    )
    reply = await _fetch(state, action, {**params, "Digits": digit}, "voice_gather")
    _heard(state, form, sid, reply)
    record = twiml_attr(reply, "Record", "action")
    if record:
        recording = twilio_sid("RE")
        await _fetch(
            state,
            record,
            {
                **params,
                "RecordingSid": recording,
                "RecordingDuration": "9",
                "RecordingUrl": f"https://api.twilio.com/{API_VERSION}/Recordings/{recording}",
            },
            "voice_recording",
        )
    return 60


async def _fetch(state: SandboxState, url: str, params: dict[str, str], kind: str) -> str:
    if not url:
        return ""
    response = await state.post_twilio(kind, url, params)
    return response.text if response is not None and response.status_code == 200 else ""


def _heard(state: SandboxState, form: dict[str, Any], sid: str, twiml: str) -> None:
    said = " ".join(twiml_texts(twiml, "Say"))
    if said:
        state.log_message(
            {
                "channel": "voice",
                "direction": "outbound",
                "sid": sid,
                "to": form["To"],
                "from": form.get("From"),
                "body": said,
                "language": language_of(said),
                "status": "in-progress",
            }
        )
