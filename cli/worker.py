"""``recall worker``: Dramatiq worker processes over the project's actors."""

from __future__ import annotations

import os
import tempfile

import typer


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)


def worker(
    processes: int = typer.Option(
        os.cpu_count() or 1, "--processes", "-p", min=1, help="Worker processes to run."
    ),
    threads: int = typer.Option(8, "--threads", "-t", min=1, help="Threads per process."),
    queues: list[str] = typer.Option(
        None, "--queues", "-Q", help="Only consume these queues (repeatable; default all)."
    ),
    metrics_port: int = typer.Option(
        None,
        "--metrics-port",
        min=0,
        max=65535,
        help="Port of the dramatiq_* Prometheus exporter (default RECALL_WORKER_METRICS_PORT; "
        "0 turns it off).",
    ),
    shutdown_timeout: int = typer.Option(
        30,
        "--shutdown-timeout",
        min=1,
        help="Seconds a graceful shutdown (SIGTERM) waits for running messages.",
    ),
) -> None:
    """Run the pipeline's workers (needs RECALL_BROKER_URL). SIGTERM or Ctrl-C stops them
    gracefully: running messages finish, prefetched ones go back to the queue."""
    from dramatiq.cli import main as dramatiq_main
    from dramatiq.cli import make_argument_parser

    from cli._guard import refuse_unsafe_settings
    from pipeline.settings import get_settings

    refuse_unsafe_settings(get_settings())
    if not get_settings().broker_url:
        typer.echo(
            "error: RECALL_BROKER_URL is not set; workers need a shared broker (Redis). "
            "Without one, `recall run CAMPAIGN.yaml --users USERS.csv` runs the workers, "
            "the scheduler and the web app in one process",
            err=True,
        )
        raise typer.Exit(2)
    export_worker_metrics(metrics_port)  # before the broker module is imported
    from actors.workers import import_actor_modules

    argv = [
        "actors:broker",
        *import_actor_modules(),
        "--processes",
        str(processes),
        "--threads",
        str(threads),
        "--worker-shutdown-timeout",
        str(shutdown_timeout * 1000),
    ]
    if queues:
        argv += ["--queues", *queues]
    raise typer.Exit(dramatiq_main(make_argument_parser().parse_args(argv)))


def export_worker_metrics(port: int | None) -> None:
    """Prepare the environment Dramatiq's Prometheus middleware reads in every process this
    command starts (the worker processes and its exposition server)."""
    from pipeline.settings import get_settings

    settings = get_settings()
    port = settings.worker_metrics_port if port is None else port
    if not port:
        return
    os.environ["dramatiq_prom_port"] = str(port)  # noqa: SIM112 - Dramatiq's own names
    os.environ["dramatiq_prom_host"] = settings.worker_metrics_host  # noqa: SIM112
    # Its own directory per exporter: Dramatiq clears it at start, and two workers on one
    # host must not count each other's processes.
    os.environ["dramatiq_prom_db"] = os.path.join(  # noqa: SIM112
        tempfile.gettempdir(), f"recall-worker-metrics-{port}"
    )
    os.environ["RECALL_WORKER_METRICS"] = "true"
    get_settings.cache_clear()
