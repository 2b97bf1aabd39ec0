"""The channel port: what the core needs of a channel, and where it finds the channels.

The core never names a channel. It asks the registry for the channels there are
(``channel_kinds``) and, for one of them, what it can do (``spec_for``): which address it
carries (a phone number or an email address), whether it takes free-text replies,
keypresses or links, what its cost is counted in, and which opt-out flag of a recipient
suppresses it. The adapters live in ``channels/`` and announce themselves through the
``recall.channels`` entry point group (``pyproject.toml``), so adding a channel is one
adapter module and one line there; nothing in ``pipeline/`` imports an adapter.

An adapter receives an ``Outbound``: the message the core rendered
(``pipeline.notices.outbound``) and the address to send it to, never an ORM row.

How failures come back (every adapter does the same):

- **transient** (HTTP 429, 5xx, timeouts, connection errors, credentials refused): the
  adapter *raises* ``ChannelError`` carrying the ``SendFailure``. Nothing was sent; the
  caller retries with backoff, a bounded number of times.
- **permanent** (an invalid or landline number, an unsubscribed recipient, a bad address,
  no address on file): the adapter *returns* a ``SendResult`` whose ``failure`` says why;
  the caller records it and moves on to the next step.
- success: a ``SendResult`` with the provider's id and the cost units.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Literal

from pipeline.errors import RecallError

if TYPE_CHECKING:
    from pipeline.models import Recipient

ENTRY_POINT_GROUP = "recall.channels"


class FailureKind(StrEnum):
    TRANSIENT = "transient"  # retry later: 429, 5xx, timeouts
    PERMANENT = "permanent"  # record and move on: invalid number, unsubscribed, bad address


@dataclass(frozen=True)
class SendFailure:
    kind: FailureKind
    code: str  # the provider's own code (kept on the attempt) or ours: no_address, timeout…
    reason: str
    # The provider refused because the person unsubscribed there (Twilio 21610, after a
    # STOP): the core suppresses the channel for them, as if they had opted out with us.
    opted_out: bool = False

    @property
    def transient(self) -> bool:
        return self.kind is FailureKind.TRANSIENT


@dataclass(frozen=True)
class SendResult:
    """What a send produced: the provider's id and cost, or why it failed."""

    provider_id: str | None = None
    cost_units: float = 0.0
    failure: SendFailure | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None


class ChannelError(RecallError):
    """Raised by adapters only for a transient failure the caller should retry."""

    def __init__(self, failure: SendFailure) -> None:
        super().__init__(f"{failure.code}: {failure.reason}")
        self.failure = failure


@dataclass(frozen=True)
class ChannelSpec:
    """What the core may ask of a channel kind."""

    kind: str
    address: Literal["phone", "email"]  # the recipient's column the channel sends to
    takes_replies: bool  # a user can write back on it, and a follow-up can be sent on it
    takes_keypresses: bool = False  # answers come as digits during a call
    takes_links: bool = False  # answers come as signed response links
    cost_unit: str = "message"  # what ``SendResult.cost_units`` counts: segment, min…
    opt_out_flag: str = ""  # the recipient's suppression column; "" = ``<kind>_opted_out``
    queue: str = ""  # the worker queue its sends go to; "" = the kind
    quiet_hours: bool = True  # held back at night (a text or a call wakes people; mail not)
    order: int = 100  # where it stands in lists and reports
    address_prefix: str = ""  # how the provider writes the address: "whatsapp:+1…"
    cap_setting: str = ""  # the Settings field with its daily cap per recipient; "" = none
    rate_setting: str = ""  # the Settings field with its sends per second across workers
    template: str = ""  # the notice templates it sends (``notices.<locale>.yaml``); "" = kind
    subject_line: bool = False  # its messages carry a subject (and an unsubscribe link)
    expires_unsent: bool = False  # the provider drops a send still queued at its validity

    @property
    def suppression(self) -> str:
        return self.opt_out_flag or f"{self.kind}_opted_out"


# The query parameter a follow-up's status callback URL carries (``?followup=1``): its
# delivery statuses change no case, so the web stores them as handled and no worker sees them.
FOLLOWUP_CALLBACK_MARK = "followup"


@dataclass(frozen=True)
class Outbound:
    """One message as the core hands it to an adapter: rendered, addressed, no ORM rows.

    ``step`` is the ladder step of a notice (the first, business-initiated message of a
    conversation) and ``None`` for a follow-up. ``address`` is ``None`` when the recipient
    has none on file for the channel; the adapter answers with a permanent ``no_address``.
    """

    case_id: int
    address: str | None
    text: str  # the SMS/WhatsApp body, the email's plain part, the spoken script
    locale: str = "en"  # a built-in locale (``en``, ``zh-CN``): picks a voice, a goodbye
    step: int | None = None
    name: str | None = None  # the recipient's display name (an email's To)
    subject: str | None = None  # channels with ``subject_line``
    html: str | None = None  # an email's HTML part (a follow-up's is made from ``text``)
    unsubscribe_url: str | None = None  # channels with ``subject_line``
    deadline: datetime | None = None  # the campaign's: nothing should arrive after it
    machine_text: str | None = None  # keypress channels: for an answering machine
    # Keypress channels: what is said for each answer, and when nothing is pressed.
    spoken: Mapping[str, str] = field(default_factory=dict)

    @property
    def notice(self) -> bool:
        return self.step is not None


class Channel(ABC):
    """One adapter per channel kind. Business rules — which channel, when, how often —
    stay out of the adapter; they live in the core."""

    spec: ChannelSpec

    @property
    def kind(self) -> str:
        return self.spec.kind

    @abstractmethod
    def send(self, message: Outbound) -> SendResult:
        """Send a rendered notice (``message.step`` set) to ``message.address``."""

    @abstractmethod
    def send_text(self, message: Outbound) -> SendResult:
        """Send a rendered follow-up (confirmation, acknowledgement, agent's answer)."""


@cache
def _adapters() -> dict[str, type[Channel]]:
    found = {ep.name: ep.load() for ep in entry_points(group=ENTRY_POINT_GROUP)}
    if not found:
        raise RecallError(f"no channel adapters installed (entry points {ENTRY_POINT_GROUP!r})")
    return dict(sorted(found.items(), key=lambda item: item[1].spec.order))


def channel_kinds() -> tuple[str, ...]:
    """Every installed channel kind, in the registry's order."""
    return tuple(_adapters())


def spec_for(kind: str) -> ChannelSpec:
    """What ``kind`` can do; ValueError names the known kinds for an unknown one."""
    try:
        return _adapters()[kind].spec
    except KeyError:
        known = ", ".join(channel_kinds())
        raise ValueError(f"unknown channel {kind!r}; expected one of {known}") from None


@cache
def channel_for(kind: str) -> Channel:
    """The adapter for ``kind``. Adapters hold no per-send state: one serves every thread."""
    spec_for(kind)
    return _adapters()[kind]()


def first_kind(**wanted: object) -> str:
    """The first channel (in registry order) whose spec has every ``wanted`` value, e.g.
    ``first_kind(takes_keypresses=True)``: how the core names "the phone call" or "the
    mail" without spelling a kind. RecallError when no installed channel has them."""
    for kind in channel_kinds():
        spec = spec_for(kind)
        if all(getattr(spec, name) == value for name, value in wanted.items()):
            return kind
    raise RecallError(f"no installed channel has {wanted}")


def reply_kinds() -> tuple[str, ...]:
    """The channels a user can write back on (and a written follow-up can go to)."""
    return tuple(kind for kind in channel_kinds() if spec_for(kind).takes_replies)


def queue_names() -> tuple[str, ...]:
    """The worker queues the channels' sends go to, one per channel kind unless shared."""
    return tuple(dict.fromkeys(spec_for(kind).queue or kind for kind in channel_kinds()))


def first_reachable(recipient: Recipient) -> str | None:
    """The first channel (in registry order) that takes replies, has the recipient's
    address on file and is not suppressed: where a written follow-up can go."""
    for kind in reply_kinds():
        spec = spec_for(kind)
        if getattr(recipient, spec.address, None) and not opted_out(recipient, kind):
            return kind
    return None


def kind_for_sender(sender: str, address: str = "phone") -> tuple[str, str]:
    """The reply channel a provider's sender address (``whatsapp:+1…`` or ``+1…``) came on,
    and the bare address. An address without a known prefix belongs to the first plain
    channel for that kind of address."""
    plain = ""
    for kind in reply_kinds():
        spec = spec_for(kind)
        if spec.address != address:
            continue
        if spec.address_prefix and sender.startswith(spec.address_prefix):
            return kind, sender[len(spec.address_prefix) :]
        plain = plain or ("" if spec.address_prefix else kind)
    return plain, sender


def opted_out(recipient: Recipient, kind: str) -> bool:
    return bool(getattr(recipient, spec_for(kind).suppression, False))


def set_opted_out(recipient: Recipient, kind: str, suppressed: bool) -> None:
    setattr(recipient, spec_for(kind).suppression, suppressed)
