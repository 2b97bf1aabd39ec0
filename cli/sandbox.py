"""``recall sandbox``: a local Twilio + SendGrid stand-in that also plays the users."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from channels.sandbox.config import DEFAULT_NUMBER_FAULTS, SandboxConfig

HELP = (
    "Run the provider sandbox: a local server that answers the real twilio and sendgrid "
    "clients like Twilio's Messages/Calls API and SendGrid's v3 mail send, then plays the "
    "providers and the users: signed status callbacks, SMS replies (agree / refuse / question "
    "/ STOP, in the message's language), calls that fetch TwiML and press 1/2/3, signed "
    "SendGrid events, clicks on response links.\n\n"
    "Point recall at it: RECALL_TWILIO_API_BASE and RECALL_SENDGRID_API_BASE = the URL it "
    "prints, RECALL_SENDGRID_WEBHOOK_PUBLIC_KEY = the key it prints (or --public-key-out). "
    "Callbacks go to RECALL_PUBLIC_URL (or --public-url), signed with "
    "RECALL_TWILIO_AUTH_TOKEN.\n\n"
    "Numbers ending in "
    + ", ".join(f"{suffix}→{code}" for suffix, code in DEFAULT_NUMBER_FAULTS.items())
    + " fail with that Twilio code (21xxx at once, 300xx later as undelivered); a machine "
    "answers calls to numbers ending in 9977. Emails `@*.invalid` are refused (400); "
    "`bounce*@...` bounce.\n\n"
    "Inspect: GET /_sandbox/requests, /_sandbox/messages?to=NUMBER, /_sandbox/callbacks. "
    'Change shares and faults while running: POST /_sandbox/config {"shares": {"agree": 1}}.'
)


def parse_delay(value: str) -> tuple[float, float]:
    """``"2"`` → (2, 2); ``"0.5:3"`` → (0.5, 3)."""
    low, _, high = value.partition(":")
    try:
        return float(low), float(high or low)
    except ValueError:
        raise typer.BadParameter(f"{value!r}: expected SECONDS or MIN:MAX") from None


def parse_faults(items: list[str]) -> dict[str, int]:
    faults = dict(DEFAULT_NUMBER_FAULTS)
    for item in items:
        suffix, _, code = item.partition("=")
        if not suffix.isdigit() or not code.isdigit():
            raise typer.BadParameter(f"{item!r}: expected SUFFIX=CODE, e.g. 4242=30006")
        faults[suffix] = int(code)
    return faults


def sandbox(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0 = any free port).")] = 8010,
    public_url: Annotated[
        str | None, typer.Option(help="Base URL of the recall web app [RECALL_PUBLIC_URL].")
    ] = None,
    inbound_url: Annotated[
        str | None, typer.Option(help="Where users' SMS go [PUBLIC_URL/webhooks/twilio/sms].")
    ] = None,
    events_url: Annotated[
        str | None,
        typer.Option(help="Where SendGrid events go [PUBLIC_URL/webhooks/sendgrid/events]."),
    ] = None,
    callback_delay: Annotated[
        str, typer.Option(help="Seconds before each status callback: S or MIN:MAX.")
    ] = "0.2:1",
    reply_delay: Annotated[
        str, typer.Option(help="Seconds before a user answers: S or MIN:MAX.")
    ] = "1:5",
    immediate: Annotated[
        bool, typer.Option(help="No delays at all (benchmarks, load tests).")
    ] = False,
    users: Annotated[
        bool, typer.Option(help="Play the users (replies, keypresses, clicks).")
    ] = True,
    agree: Annotated[float, typer.Option(help="Share of users who agree.")] = 0.6,
    refuse: Annotated[float, typer.Option(help="Share of users who refuse.")] = 0.1,
    query: Annotated[float, typer.Option(help="Share of users who ask a question.")] = 0.1,
    stop: Annotated[float, typer.Option(help="Share of users who opt out (STOP).")] = 0.05,
    silence: Annotated[float, typer.Option(help="Share of users who never answer.")] = 0.15,
    open_rate: Annotated[float, typer.Option(help="Share of delivered emails opened.")] = 0.7,
    rate_429: Annotated[float, typer.Option(help="Share of API calls answered 429.")] = 0.0,
    rate_5xx: Annotated[float, typer.Option(help="Share of API calls answered 500/503.")] = 0.0,
    slow_rate: Annotated[float, typer.Option(help="Share of API calls answered slowly.")] = 0.0,
    slow_seconds: Annotated[float, typer.Option(help="How slow a slow answer is.")] = 5.0,
    fail: Annotated[
        list[str] | None,
        typer.Option(help="Extra number fault SUFFIX=CODE (repeatable), e.g. 4242=30006."),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed, for repeatable runs.")] = None,
    key_file: Annotated[
        Path | None,
        typer.Option(
            help="PEM file with the event-signing key; created if missing, so the "
            "public key survives restarts. Default: a new key each run."
        ),
    ] = None,
    public_key_out: Annotated[
        Path | None, typer.Option(help="Write the SendGrid verification key to this file.")
    ] = None,
) -> None:
    """Run the local Twilio/SendGrid sandbox (see `recall sandbox --help`)."""
    import uvicorn

    from channels.sandbox.server import create_sandbox_app
    from channels.sandbox.signing import EventSigner

    overrides: dict[str, Any] = {
        "inbound_sms_url": inbound_url,
        "sendgrid_events_url": events_url,
        "callback_delay": parse_delay(callback_delay),
        "reply_delay": parse_delay(reply_delay),
        "immediate": immediate,
        "users": users,
        "shares": {
            "agree": agree,
            "refuse": refuse,
            "query": query,
            "stop": stop,
            "silence": silence,
        },
        "open_rate": open_rate,
        "faults": {
            "rate_429": rate_429,
            "rate_5xx": rate_5xx,
            "slow_rate": slow_rate,
            "slow_seconds": slow_seconds,
        },
        "number_faults": parse_faults(fail or []),
        "seed": seed,
    }
    if public_url:
        overrides["public_url"] = public_url
    try:
        config = SandboxConfig.from_settings(**overrides)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        typer.echo(f"recall sandbox: {where}: {first['msg']}", err=True)
        raise typer.Exit(2) from None
    try:
        signer = EventSigner.from_file(key_file) if key_file else EventSigner()
    except (OSError, ValueError) as error:
        typer.echo(f"recall sandbox: --key-file {key_file}: {error}", err=True)
        raise typer.Exit(2) from None
    if public_key_out:
        public_key_out.write_text(signer.public_key + "\n")
    try:
        listener = listen(host, port)
    except OSError as error:
        typer.echo(f"recall sandbox: cannot listen on {host}:{port}: {error}", err=True)
        raise typer.Exit(1) from None
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{shown}:{listener.getsockname()[1]}"
    typer.echo(f"recall sandbox on {url} — callbacks to {config.public_url}")
    typer.echo(f"  RECALL_TWILIO_API_BASE={url}")
    typer.echo(f"  RECALL_SENDGRID_API_BASE={url}")
    typer.echo(f"  RECALL_SENDGRID_WEBHOOK_PUBLIC_KEY={signer.public_key}", nl=True)
    app = create_sandbox_app(config, signer)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    server.run(sockets=[listener])


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket. proto is given explicitly: asyncio sets TCP_NODELAY only when
    the listener says IPPROTO_TCP, and without it each answer waits for a delayed ACK."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(2048)
    return listener


def register(app: typer.Typer) -> None:
    app.command(name="sandbox", help=HELP)(sandbox)
