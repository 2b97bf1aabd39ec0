"""Running a campaign to its end in one process — what ``recall run`` and ``recall demo``
share: the embedded stack (in-process broker and worker threads, scheduler, web app, the
provider sandbox where no real provider is configured), the live view, a clean Ctrl-C, and
the final summary saying whether the campaign is finished and why cases are still open.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import typer
from rich.live import Live
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from cli._console import err, fail, out
from cli.launch import LADDER_ORDER, load_status, settle_note, settled, status_view
from pipeline.models import Case
from pipeline.settings import Settings

if TYPE_CHECKING:
    from cli._stack import EmbeddedStack

DEFAULTS = Settings.model_fields


@dataclass
class RunPlan:
    """What one embedded run does: ``start`` launches or resumes and returns the campaign."""

    label: str
    database: str
    log_path: str
    port: int
    threads: int
    timeout: float | None
    start: Callable[[], int]
    resumable: bool = True


def real_providers(settings: Settings) -> set[str]:
    """The providers configured for real (credentials set, or their API base pointed
    somewhere); the sandbox stands in for the others."""
    real = set()
    twilio_default = DEFAULTS["twilio_auth_token"].default
    if settings.twilio_api_base or settings.twilio_auth_token not in ("", twilio_default):
        real.add("twilio")
    sendgrid_default = DEFAULTS["sendgrid_api_key"].default
    if settings.sendgrid_api_base or settings.sendgrid_api_key not in ("", sendgrid_default):
        real.add("sendgrid")
    return real


def tune_for_one_process(settings: Settings) -> None:
    """No broker of its own to share; scans every second (waits may be seconds long)."""
    settings.broker_url = None
    settings.due_scan_interval = 1.0
    settings.check_interval = 5.0
    settings.snapshot_interval = 5.0
    # Messages handled in milliseconds here: a webhook or follow-up still unhandled after
    # seconds lost its message with the run before (Ctrl-C), so hand it on again soon.
    settings.inbound_requeue_after_seconds = 10.0


def web_port(settings: Settings, port: int | None) -> int:
    """``--port``, else the port of RECALL_PUBLIC_URL, else 8000."""
    if port is not None:
        return port
    try:
        return urlsplit(settings.public_url).port or 8000
    except ValueError:
        return 8000


def run_to_end(settings: Settings, engine: Engine, plan: RunPlan) -> None:
    """Start the stack, launch or resume, follow until settled; Ctrl-C stops cleanly."""
    from cli._stack import SANDBOXED, log_to_file, start_embedded_stack

    real = real_providers(settings)
    if "twilio" not in real:
        # Texting our own sandbox, not a long code: Twilio's 1 segment/s would turn a
        # two-minute demo into an hour.
        settings.sms_per_second = settings.sms_per_second or 30
    log_to_file(plan.log_path)
    try:
        stack = start_embedded_stack(
            settings,
            worker_threads=plan.threads,
            port=plan.port,
            sandbox_for=SANDBOXED - real,
        )
    except OSError as error:
        fail(
            f"cannot listen on port {plan.port}: {error.strerror} "
            "(another recall running? choose another with --port)"
        )
    try:
        campaign_id = plan.start()
        _announce(plan, stack.web_url, settings, campaign_id, real)
        status = _follow(engine, campaign_id, plan.timeout, stack)
    except KeyboardInterrupt:
        err.print("\n[yellow]Stopping…[/]")
        stack.close()
        _report_left(engine, stack.queued_messages(), plan)
        raise typer.Exit(130) from None
    except BaseException:
        stack.close()
        raise
    stack.close()
    out.print(status_view(status))
    out.print(settle_note(status))
    if not settled(status):
        raise typer.Exit(1)


def _announce(
    plan: RunPlan, web_url: str, settings: Settings, campaign_id: int, real: set[str]
) -> None:
    login = settings.dashboard_users.split(",")[0].split(":")[0]
    bases = {"twilio": settings.twilio_api_base, "sendgrid": settings.sendgrid_api_base}
    providers = ", ".join(
        f"{name} ({_provider_kind(name in real, bases[name])})" for name in ("twilio", "sendgrid")
    )
    resumes = "; the same command resumes" if plan.resumable else ""
    err.print(
        f"[bold]{plan.label}[/]: campaign {campaign_id}\n"
        f"  dashboard: [link]{web_url}/dashboard[/link]  (log in as {login!r}; see "
        f"RECALL_DASHBOARD_USERS)\n  providers: {providers}\n"
        f"  database: {plan.database}\n  logs: {plan.log_path}\n"
        f"  Ctrl-C stops everything cleanly{resumes}.",
        soft_wrap=True,
    )


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def _provider_kind(real: bool, base: str | None) -> str:
    if not real:
        return "the built-in sandbox, simulated users"
    return f"its API at {base}" if base else "the real service"


def _follow(
    engine: Engine, campaign_id: int, timeout: float | None, stack: EmbeddedStack
) -> dict[str, Any]:
    """Redraw the status until no case is left on the ladder and every answer in flight has
    been recorded (or ``timeout`` passes)."""
    status = load_status(engine, campaign_id, compliance=False)
    deadline = time.monotonic() + timeout if timeout else float("inf")
    with Live(status_view(status), console=err, refresh_per_second=2, transient=True) as live:
        while not (settled(status) and not stack.busy()) and time.monotonic() < deadline:
            time.sleep(1.0)
            status = load_status(engine, campaign_id, compliance=False)
            live.update(status_view(status))
    return status


def _report_left(engine: Engine, queued: int, plan: RunPlan) -> None:
    with Session(engine) as session:
        counts = dict(session.execute(select(Case.state, func.count()).group_by(Case.state)).all())
    on_ladder = {state: counts.get(state, 0) for state in LADDER_ORDER}
    open_queries = counts.get("query_open", 0)
    detail = ", ".join(f"{name} {count}" for name, count in on_ladder.items() if count)
    err.print(
        f"Stopped. Left: {sum(on_ladder.values())} case(s) still on the escalation ladder"
        f"{f' ({detail})' if detail else ''}, {open_queries} open quer(y/ies), "
        f"{queued} message(s) not yet handled.\n"
        f"Everything is in {plan.database}; `recall status` reads it"
        + ("; the same command resumes the campaign where it stopped." if plan.resumable else "."),
        soft_wrap=True,
    )
