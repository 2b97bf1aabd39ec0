"""SendGrid's v3 mail send as the sandbox answers it, then the signed event webhook
(processed, delivered or bounce, open, click) and the user clicking a response link."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from channels.sandbox.state import SandboxState, sendgrid_message_id
from channels.sandbox.users import language_of, response_links

ERRORS_HELP = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html"
QUESTIONS = {
    "en": "Does this apply to the one I bought last year?",
    "zh-CN": "我去年买的也受影响吗？",
}


def sendgrid_error(status: int, message: str, field: str | None = None) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"message": message, "field": field, "help": ERRORS_HELP}]},
        status_code=status,
    )


def valid_address(address: str) -> bool:
    local, at, domain = address.rpartition("@")
    return bool(at and local and "." in domain and not domain.endswith(".invalid"))


async def preflight(state: SandboxState, request: Request) -> JSONResponse | None:
    key = state.config.sendgrid_api_key
    if key is not None and request.headers.get("authorization") != f"Bearer {key}":
        return sendgrid_error(401, "The provided authorization grant is invalid")
    faults = state.config.faults
    if faults.slow_rate and state.rng.random() < faults.slow_rate:
        await asyncio.sleep(faults.slow_seconds)
    if faults.rate_429 and state.rng.random() < faults.rate_429:
        return sendgrid_error(429, "too many requests")
    if faults.rate_5xx and state.rng.random() < faults.rate_5xx:
        return sendgrid_error(state.rng.choice([500, 503]), "internal error")
    return None


def mail_error(mail: dict[str, Any]) -> JSONResponse | None:
    personalizations = mail.get("personalizations") or []
    if not personalizations:
        return sendgrid_error(400, "The personalizations field is required.", "personalizations")
    for p, personalization in enumerate(personalizations):
        for t, recipient in enumerate(personalization.get("to") or []):
            if not valid_address(str(recipient.get("email", ""))):
                field = f"personalizations.{p}.to.{t}.email"
                return sendgrid_error(400, "Does not contain a valid address.", field)
    if not (mail.get("from") or {}).get("email"):
        return sendgrid_error(400, "The from object must be provided.", "from")
    return None


def make_router(state: SandboxState) -> APIRouter:
    router = APIRouter()

    @router.post("/v3/mail/send")
    async def mail_send(request: Request) -> Response:
        try:
            mail = json.loads(await request.body())
        except ValueError:
            mail = None
        refused = await preflight(state, request)
        if refused is None:
            refused = (
                mail_error(mail)
                if isinstance(mail, dict)
                else sendgrid_error(400, "Bad Request: body is not JSON")
            )
        state.log_request(
            {
                "provider": "sendgrid",
                "method": request.method,
                "path": request.url.path,
                "authorization": request.headers.get("authorization", "")[:10] + "…",
                "json": mail,
                "status": refused.status_code if refused else 202,
            }
        )
        if refused is not None:
            return refused
        assert isinstance(mail, dict)
        message_id = sendgrid_message_id()
        for recipient in mail["personalizations"][0]["to"]:
            state.log_message(_received(mail, message_id, recipient["email"]))
            state.spawn(email_lifecycle(state, mail, message_id, recipient["email"]))
        return Response(status_code=202, headers={"X-Message-Id": message_id})

    return router


def _received(mail: dict[str, Any], message_id: str, to: str) -> dict[str, Any]:
    content = {part["type"]: part["value"] for part in mail.get("content", [])}
    return {
        "channel": "email",
        "sid": message_id,
        "to": to,
        "from": mail["from"]["email"],
        "subject": mail.get("subject"),
        "body": content.get("text/plain", ""),
        "html": content.get("text/html"),
        "headers": mail.get("headers", {}),
        "custom_args": mail.get("custom_args", {}),
        "status": "processed",
    }


async def email_lifecycle(
    state: SandboxState, mail: dict[str, Any], message_id: str, to: str
) -> None:
    events_url = state.config.events_url()
    custom_args = dict(mail.get("custom_args") or {})

    async def event(kind: str, **extra: Any) -> None:
        await state.pause(state.config.callback_delay)
        if kind in ("processed", "delivered", "bounce"):
            state.set_status(message_id, kind)
        events = [_event(kind, to, message_id, custom_args, extra)]
        if state.config.faults.bad_sendgrid_events:
            events.insert(0, {"event": "processed", "email": to, "note": "\udcff broken"})
        await post_events(state, events_url, events)

    await event("processed")
    if to.split("@")[0].lower().startswith("bounce"):
        reason = "550 5.1.1 The email account that you tried to reach does not exist."
        await event("bounce", reason=reason, status="5.1.1", type="bounce")
        return
    await event("delivered", response="250 OK")
    if state.rng.random() >= state.config.open_rate:
        return
    await event("open", useragent="Mozilla/5.0 (recall sandbox)", ip="192.0.2.1")
    await user_answers_by_link(state, mail, to, event)


async def user_answers_by_link(
    state: SandboxState, mail: dict[str, Any], to: str, event: Any
) -> None:
    content = " ".join(part["value"] for part in mail.get("content", []))
    links = response_links(content)
    if not links or not state.config.users or state.replies_sent[to] >= state.config.max_replies:
        return
    state.replies_sent[to] += 1
    answer = state.config.shares.pick(state.rng)
    await state.pause(state.config.reply_delay)
    if answer == "stop":
        unsubscribe = links.get("opt_out")
        if unsubscribe:
            await state.post(
                "email_unsubscribe",
                unsubscribe,
                content="List-Unsubscribe=One-Click",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        return
    url = links.get(answer)
    if url is None:
        return
    await event("click", url=url, useragent="Mozilla/5.0 (recall sandbox)", ip="192.0.2.1")
    await state.post("link_open", url, method="GET")
    form = {"answer": answer}
    if answer == "query":
        form["text"] = QUESTIONS[language_of(content)]
    state.log_message(
        {
            "channel": "email",
            "direction": "inbound",
            "from": to,
            "body": answer,
            "answer": answer,
            "url": url,
        }
    )
    await state.post("link_answer", url, data=form)


def _event(
    kind: str, to: str, message_id: str, custom_args: dict[str, Any], extra: dict[str, Any]
) -> dict[str, Any]:
    return {
        "email": to,
        "timestamp": int(time.time()),
        "event": kind,
        "sg_event_id": sendgrid_message_id(),
        "sg_message_id": f"{message_id}.recall-sandbox-0-0",
        "smtp-id": f"<{message_id}@sandbox.recall>",
        **custom_args,
        **extra,
    }


async def post_events(state: SandboxState, url: str, events: list[dict[str, Any]]) -> None:
    payload = json.dumps(events, separators=(",", ":"))
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Twilio-Email-Event-Webhook-Signature": state.signer.sign(timestamp, payload),
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
    }
    await state.post("sendgrid_events", url, headers=headers, content=payload.encode("utf-8"))
