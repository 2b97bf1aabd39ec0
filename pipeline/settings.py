"""The one settings object. Read from the environment (prefix ``RECALL_``) and ``.env``."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipeline.complaints.working_days import parse_holidays


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RECALL_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///recall.db"
    # Unset: an in-process broker (demo, unit tests). Set: Dramatiq's RedisBroker.
    broker_url: str | None = None
    # Keeps several deployments (or test runs) apart on one Redis.
    broker_namespace: str = "recall"
    public_url: str = "http://127.0.0.1:8000"

    twilio_account_sid: str = "AC00000000000000000000000000000000"
    twilio_auth_token: str = "sandbox-auth-token"
    twilio_from: str | None = "+15005550006"
    twilio_messaging_service_sid: str | None = None
    twilio_api_base: str | None = None
    # WhatsApp through Twilio's Messages API: the sender (``whatsapp:+1…`` or ``+1…``; the
    # sandbox's number by default), and the approved template (a ``HX…`` content SID) the
    # first, business-initiated message of a step uses. Unset: a plain body, as Twilio's
    # WhatsApp sandbox allows.
    twilio_whatsapp_from: str | None = "whatsapp:+14155238886"
    twilio_whatsapp_content_sid: str | None = None
    sendgrid_api_key: str = "SG.sandbox"
    sendgrid_from: str = "recall@example.com"
    sendgrid_api_base: str | None = None
    sendgrid_webhook_public_key: str | None = None
    # A SendGrid event post whose signed timestamp is further than this from our clock is
    # refused (a replay of a captured post); SendGrid signs each delivery, retries included.
    sendgrid_signature_max_age_seconds: float = Field(default=600, gt=0)

    secret_key: str = "change-me-in-production"
    # Keys the audit log's hashes (HMAC), so rewriting the log needs this key, not only
    # database access: keep it out of the database's reach. Unset = derived from secret_key.
    # Changing it makes `recall audit verify` reject the rows written before.
    audit_key: str | None = None
    dashboard_users: str = "admin:admin:admin"
    # Dashboard sessions (held in the database, web.sessions): ended after this long without
    # a request, and at the latest this long after the login, whatever happens meanwhile.
    session_idle_minutes: float = Field(default=30, gt=0)
    session_absolute_hours: float = Field(default=12, gt=0)
    # Failed logins within the window, per user name and per client address, before each
    # further try must wait (doubling from 30 s up to login_max_wait_seconds).
    login_window_minutes: float = Field(default=15, gt=0)
    login_failures_per_user: int = Field(default=5, ge=1)
    login_failures_per_address: int = Field(default=20, ge=1)
    login_max_wait_seconds: float = Field(default=900, gt=0)
    # Per client address and web process: requests to response links (/r/…), and webhook
    # requests that carry no valid signature. A signed provider callback is never refused.
    link_requests_per_minute: int = Field(default=60, ge=1)
    unsigned_webhooks_per_minute: int = Field(default=30, ge=1)
    # Password hashes (argon2 takes 64 MiB each) checked at once per web process; more wait.
    login_hash_concurrency: int = Field(default=2, ge=1)
    # Region assumed for phone numbers written without a leading "+".
    default_region: str = "US"
    # The number a voice message left on an answering machine asks people to call back.
    callback_number: str = "+15005550006"
    # Where a voice caller who pressed 3 (a question) is put through; unset = leave a message.
    agent_number: str | None = None
    # Seconds to wait for Twilio / SendGrid (or the sandbox) before calling it a timeout.
    provider_timeout_seconds: float = Field(default=15.0, gt=0)

    # Provider throughput limits, enforced across every worker (Redis rate limiters).
    # SMS are limited in *segments* per second, as Twilio paces them: a long code sends 1
    # a second (queueing the rest for hours), a toll-free number 3, a short code 100.
    # sms_per_second, when set, overrides the sender type (a Messaging Service pool: the
    # number of long codes in it, or what Twilio granted the account).
    sms_sender_type: Literal["long_code", "toll_free", "short_code"] = "long_code"
    sms_per_second: int | None = Field(default=None, ge=1)
    # How long Twilio may keep an SMS queued before it expires unsent (ValidityPeriod), at
    # most; a campaign's deadline shortens it. An expired message is not delivered late,
    # into the night or past the deadline.
    sms_validity_seconds: int = Field(default=3600, ge=1, le=36000)
    # An SMS that expired unsent (Twilio 30036) is sent again at the recipient's next
    # allowed time, at most this many times per step (pipeline/sms_expiry.py); 0 = never.
    sms_expiry_retries: int = Field(default=2, ge=0, le=10)
    emails_per_second: int = Field(default=100, ge=1)
    concurrent_calls: int = Field(default=20, ge=1)
    whatsapp_messages_per_second: int = Field(default=20, ge=1)

    # Per recipient, across campaigns, per day.
    max_sms_per_day: int = 3
    max_calls_per_day: int = 2
    max_emails_per_day: int = 5
    max_whatsapp_per_day: int = 3

    # An open query must be answered by an agent within this many hours.
    query_sla_hours: float = 24.0
    # A delivery status for a message whose send is not recorded yet (the provider called
    # back before the worker stored its id) is retried for this long, then kept unmatched.
    status_match_grace_seconds: float = 20.0
    # Chat webhook that receives operational alerts (overdue queries, failure spikes).
    alert_webhook_url: str | None = None
    # Risk events (pipeline/incidents.py): an incident still open after this many minutes
    # is posted again, and again each time this much longer passes.
    alert_repeat_minutes: float = Field(default=60.0, gt=0)
    # A channel's failed sends are a spike when, over the last window, at least the minimum
    # count failed and they are at least this share of the sends that finished.
    alert_failure_window_minutes: int = Field(default=10, ge=1, le=120)
    alert_failure_share: float = Field(default=0.2, gt=0, le=1)
    alert_failure_min: int = Field(default=20, ge=1)
    # A queue with ready messages and none processed for this many minutes has stopped.
    alert_queue_stall_minutes: int = Field(default=5, ge=1, le=120)
    # How many of the audit log's newest rows the periodic check verifies (the whole log is
    # `recall audit verify`'s job); 0 turns the check off.
    alert_audit_rows: int = Field(default=5000, ge=0)

    # Pipeline timing (see pipeline/cases/notify.py for the rules these drive).
    # A case whose step was claimed gets this long for its send to complete before the
    # sweep looks at it again (its message may have been lost).
    attempt_lease_seconds: float = Field(default=600, gt=0)
    # An attempt "sending" for longer than this belongs to a worker that died mid-call. It
    # must exceed the longest a live worker can spend on one send: send_inline_tries ×
    # provider_timeout_seconds plus the waits between (3 × 15 s + a few s by default).
    sending_stale_seconds: float = Field(default=90, gt=0)
    # A stored webhook still unhandled, or a follow-up still unsent, after this long lost its
    # message (a wiped Redis, a dead worker) and is handed to the broker again, at most this
    # often (webhooks for a day).
    inbound_requeue_after_seconds: float = Field(default=120, gt=0)
    # A case handed to the broker this long ago without being handled is re-enqueued.
    requeue_after_seconds: float = Field(default=600, gt=0)
    # Provider calls for one attempt, across every retry path, before the step is failed.
    max_send_tries: int = Field(default=12, ge=1)
    # In-process (tenacity) tries per message, then Dramatiq retries with backoff.
    send_inline_tries: int = Field(default=3, ge=1)
    send_inline_wait_seconds: float = Field(default=2.0, ge=0)
    send_max_retries: int = Field(default=5, ge=0)
    send_min_backoff_ms: int = Field(default=2000, ge=1)
    send_max_backoff_ms: int = Field(default=600_000, ge=1)
    # Cases per fan-out chunk (one pipelined round trip to Redis per chunk).
    fan_out_chunk: int = Field(default=1000, ge=1)
    # Cases per ``case.notify_group`` message, handled in one transaction: fewer messages,
    # commits and Redis round trips per case, at the price of a longer-held lock set.
    notify_group_size: int = Field(default=50, ge=1)
    # Attempts per ``channel.send_<kind>_group`` message, sent in turn by one thread: small
    # enough that a group's sends still spread over the workers' threads.
    send_group_size: int = Field(default=10, ge=1)
    # Fan-out waits while the pipeline's queues hold more than this many messages.
    fan_out_high_water: int = Field(default=20_000, ge=1)
    fan_out_pause_ms: int = Field(default=5_000, ge=1)
    # How long a worker thread waits for a provider rate-limit slot before retrying later.
    rate_limit_wait_seconds: float = Field(default=5, gt=0)

    # The scheduler (schedules/): one active process, elected with a Redis lock that expires
    # this many seconds after its holder stops renewing it.
    scheduler_lock_ttl: float = Field(default=15.0, gt=0)
    # How often the scheduler checks whether the broker lost its data (then re-enqueues
    # everything in flight at once) and stores webhooks buffered while the database was away.
    broker_watch_interval: float = Field(default=1.0, gt=0)
    # How often the scheduler claims due cases, and how many per claim.
    due_scan_interval: float = Field(default=2.0, gt=0)
    due_batch_size: int = Field(default=500, ge=1)
    # How often overdue queries, campaign deadlines and follow-up waves are checked.
    check_interval: float = Field(default=30.0, gt=0)
    snapshot_interval: float = Field(default=60.0, gt=0)
    # How often the campaign tallies' deltas are folded together (pipeline.reporting.tallies):
    # reading
    # a campaign's status sums what accumulated since, so shorter is cheaper to read.
    tally_fold_interval: float = Field(default=10.0, gt=0)
    # Where a closing campaign's final report is written (csv + html); unset = only the
    # summary stored on the campaign row.
    report_dir: str | None = None

    # Dramatiq's Prometheus exporter on every `recall worker` host (dramatiq_* series):
    # this port (0 = off) on this address; one exporter per `recall worker` command, which
    # aggregates its processes. Set by `recall worker`, read by the broker module: whether
    # this process is a worker that exports them.
    worker_metrics_port: int = Field(default=9191, ge=0, le=65535)
    worker_metrics_host: str = "0.0.0.0"
    worker_metrics: bool = False

    # Independent hash chains in the audit log (pipeline/privacy/audit.py): on PostgreSQL up to this
    # many transactions append audit records at once instead of queueing for one lock.
    audit_chains: int = Field(default=16, ge=1, le=1024)

    # Rows per database batch when launching a campaign.
    launch_batch_size: int = Field(default=50000, ge=1)
    # Processes validating a big USERS.csv; 0 = one per CPU.
    import_workers: int = Field(default=0, ge=0)
    # Cost in money (pipeline/cost): the price of one cost unit of each channel kind
    # (``ChannelSpec.cost_unit``), in RECALL_CURRENCY. Examples, not truths: set your own.
    price_sms_segment: float = Field(default=0.0079, ge=0)
    # Where an SMS segment costs something else: "CN=0.05,GB=0.04" (ISO country of the
    # E.164 number; the rest pay price_sms_segment).
    price_sms_segment_by_country: str = ""
    price_email: float = Field(default=0.001, ge=0)
    price_call_minute: float = Field(default=0.014, ge=0)
    # Channels counted per message (WhatsApp).
    price_message: float = Field(default=0.005, ge=0)
    currency: str = Field(default="USD", min_length=1, max_length=8)

    @field_validator("price_sms_segment_by_country")
    @classmethod
    def _country_prices(cls, value: str) -> str:
        # Refused when the settings load, not at the first status a person asks for.
        from pipeline.cost.prices import BadPrice, parse_country_prices

        try:
            parse_country_prices(value)
        except BadPrice as error:
            raise ValueError(str(error)) from None
        return value

    log_level: str = "INFO"
    # One masked line per web request (``recall web --access-log`` sets it).
    access_log: bool = False
    # The role CLI commands act with (RECALL_CLI_ROLE). Whoever runs `recall` on this machine
    # holds the database URL anyway, so admin is the default; a lower role guards a shared
    # shell against mistakes (e.g. `viewer` on a reporting host refuses pause and erase).
    cli_role: Literal["viewer", "agent", "operator", "admin"] = "admin"
    # Days after its campaign closes that raw webhooks, message bodies and the contact data of
    # people with no open case are purged (RECALL_RETENTION_DAYS); unset keeps them.
    retention_days: int | None = Field(default=None, ge=0)
    # Complaint deadlines count working days: Monday to Friday less these holidays, given as
    # comma-separated ISO dates or the path of a file with one date per line.
    holidays: str = ""

    @field_validator("holidays")
    @classmethod
    def _holidays_readable(cls, value: str) -> str:
        # A calendar that cannot be read stops startup with its location, not a complaint
        # later in a worker.
        parse_holidays(value)
        return value

    # A completed case of a `satisfaction: true` campaign is asked its 1-5 question this
    # long after it completed, so the thank-you confirmation arrives first.
    satisfaction_delay_seconds: float = Field(default=60, ge=0)


SEGMENTS_PER_SECOND = {"long_code": 1, "toll_free": 3, "short_code": 100}


def sms_segments_per_second(settings: Settings) -> int:
    """The SMS limit in segments per second: explicit, or the sender type's own."""
    return settings.sms_per_second or SEGMENTS_PER_SECOND[settings.sms_sender_type]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
