"""Every shape that crosses a Temporal boundary: intake, case state, signals, updates, activity I/O.

Rules that keep 8-week-old cases decoding after a deploy:
- every field added after a model first ships gets a default;
- datetimes are timezone-aware (UTC on the wire);
- enums are string-valued, so history stays readable in the Web UI.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

import phonenumbers
import pydantic_core
from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)


class Model(BaseModel):
    # Unknown fields are refused so a typo in an intake file is reported, not silently dropped.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# --- value types ---------------------------------------------------------------------------------


# Library-backed checks (email-validator's rules, phonenumbers' metadata) run only where a person's
# input is read: the intake, the roster, a handler's command. They validate with `context=INTAKE`.
# What a workflow decodes from history is recorded data and is decoded plainly: a newer library that
# would reject a number recorded eight weeks ago must not make the case undecodable on replay.
INTAKE = {"intake": True}


def _reading_input(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("intake"))


def _normalise_email(value: str, info: ValidationInfo) -> str:
    if not _reading_input(info):
        return value
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None


def _normalise_phone(value: str, info: ValidationInfo) -> str:
    if not _reading_input(info):
        return value
    # Numbers written the UK way ("07911 123456") are read as GB; anything with + is international.
    try:
        parsed = phonenumbers.parse(value, "GB")
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number: {exc}") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError("not a valid phone number for its country")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _require_aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must include a timezone offset, e.g. 2026-11-25T10:30:00+00:00")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range") from None


# C0 and C1 control characters (CR, LF, tab, NUL, ESC, NEL, ...), DEL, and Unicode's line and
# paragraph separators: each ends a line, or does something else than print, where the text lands.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Free text may run over several lines (and keep a pasted tab); nothing else that does not print.
_CONTROL_IN_FREE_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")


def _one_line(value: str, info: ValidationInfo) -> str:
    # A line break in a name or an address line prints a line of its own in the plain-text e-mail
    # and the letter ("Bcc: ..." under the customer's name). Refused where a person's input is read;
    # what a workflow decodes from history is recorded data and decodes whatever it holds.
    if _reading_input(info) and _CONTROL.search(value):
        raise ValueError("must be one line: no line breaks, tabs or other control characters")
    return value


def _free_text(value: str, info: ValidationInfo) -> str:
    if _reading_input(info) and _CONTROL_IN_FREE_TEXT.search(value):
        raise ValueError("may have line breaks but no other control characters")
    return value


EmailAddress = Annotated[str, AfterValidator(_normalise_email)]
PhoneNumber = Annotated[str, AfterValidator(_normalise_phone)]
AwareDatetime = Annotated[datetime, AfterValidator(_require_aware)]
# Text a person typed that customers' messages print: checked at intake and in handlers' commands.
OneLine = Annotated[str, AfterValidator(_one_line)]
FreeText = Annotated[str, AfterValidator(_free_text)]


def is_mobile(e164: str) -> bool:
    """True where an SMS can reach the number (mobile, or a number that may be either)."""
    try:
        kind = phonenumbers.number_type(phonenumbers.parse(e164))
    except phonenumbers.NumberParseException:
        return False  # recorded before numbers were normalised at intake: no text, written contact
    return kind in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    )


# --- intake --------------------------------------------------------------------------------------


class WrittenChannel(StrEnum):
    EMAIL = "email"
    LETTER = "letter"


class ComplaintSource(StrEnum):
    PHONE = "phone"
    FAX = "fax"
    LETTER = "letter"
    EMAIL = "email"
    ACCOUNT_MANAGER = "account_manager"
    WEB = "web"


class PostalAddress(Model):
    lines: list[Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_one_line)]] = Field(
        min_length=1, max_length=5
    )
    postcode: OneLine = Field(min_length=2, max_length=12)
    country: OneLine = Field(default="GB", min_length=2, max_length=2)

    @field_validator("postcode")
    @classmethod
    def _upper_postcode(cls, value: str) -> str:
        return " ".join(value.upper().split())


class Customer(Model):
    name: OneLine = Field(min_length=1, max_length=200)
    # "Mr", "Ms", "Dr", ...: with a title letters open "Dear Mr Rees", without one "Dear Alan Rees".
    title: str | None = Field(default=None, min_length=1, max_length=20, pattern=r"^[A-Za-z][A-Za-z .'-]*$")
    email: EmailAddress | None = None
    phone: PhoneNumber | None = None
    address: PostalAddress | None = None
    preferred_written_channel: WrittenChannel = WrittenChannel.EMAIL
    accessibility_needs: list[Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_one_line)]] = Field(
        default_factory=list, max_length=10
    )
    vulnerable: bool = False
    # Recorded once, at intake, from phonenumbers' metadata: whether an SMS can reach `phone`.
    # None only in cases filed before it was recorded (they classify the number as they always did).
    phone_is_mobile: bool | None = None

    @model_validator(mode="after")
    def _preference_is_reachable(self, info: ValidationInfo) -> Customer:
        if _reading_input(info) and self.phone is not None:
            self.phone_is_mobile = is_mobile(self.phone)
        if self.preferred_written_channel is WrittenChannel.EMAIL and self.email is None:
            raise ValueError("preferred_written_channel is 'email' but no email address was given")
        if self.preferred_written_channel is WrittenChannel.LETTER and self.address is None:
            raise ValueError("preferred_written_channel is 'letter' but no postal address was given")
        return self

    @property
    def has_mobile(self) -> bool:
        if self.phone is None:
            return False
        if self.phone_is_mobile is not None:
            return self.phone_is_mobile
        return is_mobile(self.phone)  # a case filed before the intake recorded it

    @property
    def wants_large_print(self) -> bool:
        return any("large print" in need.lower() for need in self.accessibility_needs)


# Older than this is a data-entry mistake (year 0001, a swapped day and year), not a late letter.
MAX_INTAKE_AGE = timedelta(days=365)


class ComplaintIntake(Model):
    """A complaint as an intake system files it. Validated before any case starts."""

    customer: Customer
    account_number: str = Field(min_length=3, max_length=32, pattern=r"^[A-Za-z0-9-]+$")
    source: ComplaintSource
    received_at: AwareDatetime
    complaint: FreeText = Field(min_length=1, max_length=20_000)
    intake_id: str | None = Field(default=None, min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")

    @field_validator("received_at")
    @classmethod
    def _not_in_future(cls, value: datetime, info: ValidationInfo) -> datetime:
        # Checked only at intake (which passes "now" in the context): inside a workflow the model is
        # decoded again on every replay, where reading the clock is forbidden and pointless.
        now = (info.context or {}).get("now")
        if now is not None and value > now + timedelta(minutes=5):
            raise ValueError("is in the future")
        if now is not None and value < now - MAX_INTAKE_AGE:
            raise ValueError("is more than a year ago; file it with the date it reached us")
        return value

    @classmethod
    def from_intake(cls, data: object, now: datetime | None = None) -> ComplaintIntake:
        """Validate a complaint as an intake system sent it (a dict or JSON text)."""
        now = now or datetime.now(UTC)
        context = {"now": now} | INTAKE
        if isinstance(data, str):
            # Lone surrogates cannot be UTF-8: let the parser report them as bad JSON text.
            data = data.encode("utf-8", "surrogatepass")
        if isinstance(data, bytes):
            text = data
            try:
                # pydantic's own parser: bounded nesting, and bad bytes become a ValueError.
                data = pydantic_core.from_json(text)
            except ValueError:
                return cls.model_validate_json(text, context=context)  # reports where the JSON breaks
        if isinstance(data, dict) and "received_at" not in data:
            # A web form or phone call filed as it happens: received now.
            data = data | {"received_at": now}
        return cls.model_validate(data, context=context)


# --- policy and calendar (data; the arithmetic lives in domain.calendar) -------------------------


class CaseRole(StrEnum):
    CASE_HANDLER = "case_handler"
    CUSTOMER_SERVICE_MANAGER = "customer_service_manager"
    HEAD_OF_PROFESSIONAL_SERVICES = "head_of_professional_services"

    # Shadows str.title on purpose: templates and the workflow read `role.title` as the role's name.
    @property
    def title(self) -> str:  # type: ignore[override]
        return _ROLE_NAMES[self.value][0]

    @property
    def plural(self) -> str:
        """The role in the plural, as the assignment reason reads: "among the Heads of Professional Services"."""
        return _ROLE_NAMES[self.value][1]


# Each role's name, singular and plural (not derivable: "Head of ..." becomes "Heads of ...").
_ROLE_NAMES = {
    "case_handler": ("Case Handler", "Case Handlers"),
    "customer_service_manager": ("Customer Service Manager", "Customer Service Managers"),
    "head_of_professional_services": ("Head of Professional Services", "Heads of Professional Services"),
}


class IntervalUnit(StrEnum):
    ELAPSED_DAYS = "elapsed_days"
    WORKING_DAYS = "working_days"


class UpdateSchedule(Model):
    every: int = Field(default=7, ge=1, le=60)
    unit: IntervalUnit = IntervalUnit.ELAPSED_DAYS
    # Local (Europe/London) time of day the customer agreed to be contacted.
    contact_time: time = time(10, 0)


class AdrScheme(Model):
    name: str = "Communications Ombudsman"
    phone: str = "0330 440 1614"
    website: str = "www.commsombudsman.org"
    address: str = "Communications Ombudsman, PO Box 730, Warrington, WA4 6WU"
    referral_window_months: int = 12


class QuietHours(Model):
    """When a customer may be phoned or texted at all, whatever a deadline says (UK local time)."""

    start: time = time(8, 0)
    end: time = time(20, 0)
    # "MM-DD" days with no calls or texts at all (Christmas Day by default).
    no_contact_days: list[Annotated[str, Field(pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")]] = Field(
        default_factory=lambda: ["12-25"], max_length=20
    )

    @model_validator(mode="after")
    def _a_window(self) -> QuietHours:
        if not self.start < self.end:
            raise ValueError("start must be before end")
        return self


class PostRoom(Model):
    """When a posted letter leaves the building and when it can be expected to arrive."""

    # The last collection on a working day: a letter printed later goes the next working day.
    last_collection: time = time(17, 0)
    delivery_working_days: int = Field(default=2, ge=0, le=10)


class CalendarSpec(Model):
    timezone: str = "Europe/London"
    subdivision: str = "ENG"
    day_start: time = time(9, 0)
    day_end: time = time(17, 0)
    workdays: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4])

    @model_validator(mode="after")
    def _a_working_day(self) -> CalendarSpec:
        # A day with no working time makes every working-time sum run for ever.
        if not self.day_start < self.day_end:
            raise ValueError("day_start must be before day_end")
        return self


class ComplaintPolicy(Model):
    """The code's clocks as data; copied into each case at start so a running case keeps its rules."""

    acknowledgement_working_hours: float = Field(default=8, gt=0, le=80)
    introduction_hours: float = Field(default=48, gt=0, le=240)
    review_working_days: int = Field(default=3, ge=1, le=20)
    updates: UpdateSchedule = Field(default_factory=UpdateSchedule)
    adr_weeks: int = Field(default=8, ge=1, le=52)
    # A posted 8-week letter may go this long before the mark (worded for the date it applies from);
    # an email or text goes at the mark itself. 0: every channel at the mark.
    adr_notice_lead_hours: float = Field(default=0, ge=0, le=168)
    escalation_ladder: list[CaseRole] = Field(
        default_factory=lambda: [
            CaseRole.CASE_HANDLER,
            CaseRole.CUSTOMER_SERVICE_MANAGER,
            CaseRole.HEAD_OF_PROFESSIONAL_SERVICES,
        ],
        min_length=1,
    )
    adr_scheme: AdrScheme = Field(default_factory=AdrScheme)
    calendar: CalendarSpec = Field(default_factory=CalendarSpec)
    quiet_hours: QuietHours = Field(default_factory=QuietHours)
    post_room: PostRoom = Field(default_factory=PostRoom)
    # How long one channel may keep retrying before the case falls back to the next channel.
    send_retry_ceiling_minutes: float = Field(default=240, gt=0)
    max_compensation_gbp: Decimal = Field(default=Decimal("5000"), gt=0)
    # The owner is warned when this share of a clock has run and its milestone is still undone.
    warning_share: float = Field(default=0.75, ge=0, lt=1)
    # A send still failing after this long flags the case as needing attention (it keeps retrying).
    attention_after_minutes: float = Field(default=15, gt=0)
    # The owner is reminded this long before each phone contact owed (introduction, regular update).
    reminder_lead_hours: float = Field(default=4, ge=0, le=72)
    # A vulnerable customer's case gets a named owner at this level from the start (None: as any case).
    vulnerable_owner_role: CaseRole | None = None
    # Accessibility needs (matched case-insensitively in what the intake recorded) that the post
    # room must act on for every letter: each letter raises a work item saying which.
    post_room_needs: list[str] = Field(default_factory=lambda: ["braille", "audio", "easy read"], max_length=20)
    # A customer not satisfied after closure may re-open the same case for this long after it closed.
    reopen_window_weeks: int = Field(default=8, ge=0, le=52)
    # All the note text one case carries (in every continue-as-new input, query answer and archive
    # record); past it a note is refused with a reason, so a case's state stays bounded.
    max_note_characters: int = Field(default=200_000, ge=5_000)
    # Continue as new past this many history events, even if the server has not suggested it yet.
    continue_as_new_after_events: int = Field(default=10_000, ge=50)


# --- people --------------------------------------------------------------------------------------


class Handler(Model):
    id: OneLine = Field(min_length=1, max_length=64)
    name: OneLine = Field(min_length=1, max_length=200)
    role: CaseRole
    phone: PhoneNumber
    email: EmailAddress


class Assignment(Model):
    handler: Handler
    reason: str
    assigned_at: AwareDatetime


# --- messages ------------------------------------------------------------------------------------


class MessageKind(StrEnum):
    ACKNOWLEDGEMENT = "acknowledgement"
    INTRODUCTION = "introduction"
    UPDATE_SCHEDULE = "update_schedule"
    PROGRESS_UPDATE = "progress_update"
    ESCALATION = "escalation"
    ADR_RIGHTS = "adr_rights"
    COMPENSATION = "compensation"
    CLOSURE = "closure"
    # Since v4: "Reply YES if your complaint is resolved, NO if not" (admin.py ask-to-close), and
    # the one confirmation that STOP turned texts off.
    ASK_TO_CLOSE = "ask_to_close"
    TEXTS_STOPPED = "texts_stopped"


class ChannelKind(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    LETTER = "letter"


class MessageContext(Model):
    """What a template may say. Built by the workflow from recorded state only."""

    reference: str
    customer_name: str
    customer_title: str | None = None
    handler: Handler | None = None
    received_at: AwareDatetime
    acknowledgement: dict[str, str] = Field(default_factory=dict)
    schedule: UpdateSchedule | None = None
    next_update_at: AwareDatetime | None = None
    progress_note: str | None = None
    # v8: the note is longer than a text carries, so the update also goes in writing and the text
    # says so. Left out of the payload when false (an earlier release's worker refuses it).
    progress_note_in_writing: bool = Field(default=False, exclude_if=lambda in_writing: not in_writing)
    escalation_reason: str | None = None
    # Escalation: the owner is already at the top of the ladder, so the case is re-opened with them,
    # not escalated. Left out of the payload when false (an earlier release's worker refuses it).
    escalation_top: bool = Field(default=False, exclude_if=lambda top: not top)
    adr_scheme: AdrScheme | None = None
    adr_reason: str | None = None  # "eight_weeks" or "deadlock"
    # Why the provider reached deadlock, in the handler's words (deadlock letters only).
    deadlock_reason: str | None = None
    # Acknowledgement only: the 48 hours the introduction is owed by, while they are still to come.
    # None when they have already run out (a complaint keyed in late): "within 48 hours" would be untrue.
    introduction_due_at: AwareDatetime | None = None
    # The 8-week mark. A posted letter sent before it says "from <date>", never "now".
    eight_weeks_at: AwareDatetime | None = None
    adr_rights_from: AwareDatetime | None = None
    # Introduction only: the 3 working days are already over (a complaint keyed in late), so the
    # schedule offer goes with it. Left out of the payload when false.
    schedule_offer_follows: bool = Field(default=False, exclude_if=lambda follows: not follows)
    # When the customer agreed the update schedule (recorded by a handler). None: it is only offered.
    schedule_agreed_at: AwareDatetime | None = None
    compensation_gbp: Decimal | None = None
    compensation_reason: str | None = None
    # Closure other than "resolved": the outcome ("withdrawn", ...) and, for a duplicate, the
    # reference the complaint is handled under.
    closure_outcome: str | None = None
    duplicate_of: str | None = None
    # Closure: how the customer confirmed it, and when.
    confirmed_how: str | None = None
    confirmed_at: AwareDatetime | None = None
    # Closure, v7: the last day a customer not satisfied after all re-opens the case (the policy's
    # re-open window). Left out of the payload when None, so a worker of an earlier release (whose
    # models refuse unknown fields) still renders every other message.
    reopen_by: AwareDatetime | None = Field(default=None, exclude_if=lambda value: value is None)


class Recipient(Model):
    name: str
    email: str | None = None
    phone: str | None = None
    address: PostalAddress | None = None
    large_print: bool = False


class TextHours(Model):
    """When a text may reach the customer: the case's quiet hours on its calendar's clock. A text
    carries them to the send itself, the one place every path to the customer's phone meets."""

    quiet_hours: QuietHours
    timezone: str


class SendRequest(Model):
    """One message on one channel. `key` is stable across retries: the idempotency key."""

    key: str
    kind: MessageKind
    channel: ChannelKind
    recipient: Recipient
    context: MessageContext
    # v6: the case wants a `CaseReceipt` back, not the whole `DeliveryReceipt`. Left out of the
    # payload when false, so a worker of an earlier release (whose models refuse unknown fields)
    # still runs the sends of cases begun before v6.
    case_receipt: bool = Field(default=False, exclude_if=lambda wanted: not wanted)
    # A text only: the send refuses it outside these hours, and it waits on the server until they
    # allow it. Left out of the payload when unset (every email and letter), so a worker of an
    # earlier release still runs them.
    text_hours: TextHours | None = Field(default=None, exclude_if=lambda hours: hours is None)


class DeliveryReceipt(Model):
    """A send as the worker's sent ledger keeps it (and as cases begun before v6 record it)."""

    key: str
    channel: ChannelKind
    provider_id: str | None = None  # vendor message id, or the outbox/post-room file
    sent_at: AwareDatetime
    duplicate: bool = False  # the key had already been accepted: nothing was sent again

    def for_case(self) -> CaseReceipt:
        return CaseReceipt(provider_id=self.provider_id)


class CaseReceipt(Model):
    """A send as a v6 case records it in history: the vendor's message id (or the outbox or
    post-room file), the one thing the case did not know before it sent. The key and channel are
    the case's own, and the case times the send by its own clock; the sent ledger keeps the rest."""

    # A whole receipt (from a worker that answers every case that way) reads as its provider id:
    # this is recorded data the case decodes on every replay, so nothing in it may fail the case.
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    provider_id: str | None = None


class DeliveryStatus(StrEnum):
    """What a vendor reported about a message after accepting it (v4, the inbound service)."""

    DELIVERED = "delivered"
    DEFERRED = "deferred"  # still trying: not a failure
    BOUNCED = "bounced"
    DROPPED = "dropped"
    UNDELIVERED = "undelivered"  # Twilio "undelivered" or "failed"

    @property
    def failed(self) -> bool:
        return self in (DeliveryStatus.BOUNCED, DeliveryStatus.DROPPED, DeliveryStatus.UNDELIVERED)


class MessageRecord(Model):
    key: str
    kind: MessageKind
    channel: ChannelKind
    status: str  # "sent", "failed", or "withdrawn" (still retrying when the case closed: never sent)
    at: AwareDatetime
    provider_id: str | None = None
    error: str | None = None
    # The customer's accessibility needs when it went, so the record shows what was done for them.
    accessibility_needs: list[str] = Field(default_factory=list)
    # Posted letters: when the post room hands it over, and when it should reach the customer.
    dispatched_at: AwareDatetime | None = None
    expected_delivery_at: AwareDatetime | None = None
    # Since v4: what the vendor said afterwards (signed webhook): None until it says anything.
    delivery: DeliveryStatus | None = None
    delivery_reason: str | None = None  # the bounce reason or the vendor's error code
    delivery_event_id: str | None = None
    delivery_at: AwareDatetime | None = None  # the vendor's own timestamp
    # The clock-carrying message this one replaced after it bounced (its key).
    fallback_for: str | None = None
    # The clock (milestone name) this message was sent to meet, so a bounce reopens it (since v4).
    milestone: str | None = None


# --- case state ----------------------------------------------------------------------------------


class CaseStage(StrEnum):
    RECEIVED = "received"
    ACKNOWLEDGED = "acknowledged"
    INVESTIGATING = "investigating"
    REOPENED = "reopened"
    DEADLOCK = "deadlock"
    CLOSED = "closed"


class Milestone(Model):
    name: str
    due_at: AwareDatetime
    done_at: AwareDatetime | None = None
    breached: bool = False
    # A later clock took its place (an escalation before the introduction went): never breached.
    superseded_at: AwareDatetime | None = None
    # Every channel the customer can be reached on refused the message: a person must act.
    undeliverable_at: AwareDatetime | None = None
    # When the owner is warned that this milestone is still undone (None: no warning for it).
    warn_at: AwareDatetime | None = None
    warned: bool = False

    @property
    def met(self) -> bool:
        return self.done_at is not None and self.done_at <= self.due_at


class Note(Model):
    at: AwareDatetime
    author: str
    text: str
    # Internal notes are never sent. Progress for the customer goes once, in the next update.
    for_customer: bool = False
    sent_at: AwareDatetime | None = None
    # Who recorded a note the case writes itself (author "deadlock": the handler who declared it).
    # Left out when None, so earlier releases still read the record.
    recorded_by: str | None = Field(default=None, exclude_if=lambda who: who is None)


class Compensation(Model):
    amount_gbp: Decimal
    reason: str
    recorded_at: AwareDatetime
    credit_id: str | None = None
    # Who awarded it (left out when None: awards recorded before it was asked).
    recorded_by: str | None = Field(default=None, exclude_if=lambda who: who is None)


class Call(Model):
    at: AwareDatetime
    outcome: CallOutcome
    by: str
    note: str | None = None
    # The clock it met, if it reached the customer while one was owed.
    met: str | None = None
    # v8: why a call that reached the customer met no introduction still owed (someone other than
    # the owner called). Left out when None, so earlier releases still read the record.
    not_met: str | None = Field(default=None, exclude_if=lambda why: why is None)


class ContactChange(Model):
    """Which contact details changed, when and by whom: the old values are not kept."""

    at: AwareDatetime
    by: str
    fields: list[str]


class Escalation(Model):
    at: AwareDatetime
    reason: str
    from_handler: str
    to_handler: str
    level: int
    # Who recorded the customer's "not satisfied", and how the customer said it (since v3).
    recorded_by: str | None = None
    how: str | None = None
    # When the customer said it, if the handler gave it (`--said-at`): it decides a re-opening, so
    # the record keeps it. Left out when None, so earlier releases still read the record.
    said_at: AwareDatetime | None = Field(default=None, exclude_if=lambda when: when is None)


class CaseDeadlines(Model):
    """Computed once by an activity from the working calendar, so history records them."""

    acknowledgement_due: AwareDatetime
    introduction_due: AwareDatetime
    review_due: AwareDatetime
    adr_due: AwareDatetime
    calendar_subdivision: str
    holidays_version: str
    # Non-working dates the workflow may need later (contact hours, working-day updates).
    holidays: list[date] = Field(default_factory=list)


class DeferredText(Model):
    """A text held back by the quiet hours: the written channel already went, the text follows."""

    kind: MessageKind
    not_before: AwareDatetime

    def withdrawn(self, reference: str, at: datetime, why: str) -> MessageRecord:
        """The record of this text never sent: the case closed, or the customer said STOP, first."""
        return MessageRecord(
            key=f"{reference}/deferred-{self.kind.value}-sms",
            kind=self.kind,
            channel=ChannelKind.SMS,
            status="withdrawn",
            at=at,
            error=why,
        )


class Reopening(Model):
    """A closed case the customer came back to: both periods are in the compliance record."""

    closed_at: AwareDatetime
    reopened_at: AwareDatetime
    reason: str
    # How the earlier period ended: the customer's confirmation, or another closure.
    confirmation: Satisfied | None = None
    closure: CaseClosure | None = None


class CaseState(Model):
    reference: str
    stage: CaseStage = CaseStage.RECEIVED
    owner: Handler | None = None
    escalation_level: int = 0
    milestones: list[Milestone] = Field(default_factory=list)
    messages: list[MessageRecord] = Field(default_factory=list)
    notes: list[Note] = Field(default_factory=list)
    escalations: list[Escalation] = Field(default_factory=list)
    compensations: list[Compensation] = Field(default_factory=list)
    assignments: list[Assignment] = Field(default_factory=list)
    schedule: UpdateSchedule | None = None
    # Set only when a handler records that the customer agreed the schedule.
    schedule_agreed_at: AwareDatetime | None = None
    # Who recorded the schedule the updates follow (agreed, or offered by a handler); left out when None.
    schedule_recorded_by: str | None = Field(default=None, exclude_if=lambda who: who is None)
    next_update_at: AwareDatetime | None = None
    adr_letter_sent_at: AwareDatetime | None = None
    deadlines: CaseDeadlines | None = None
    closed_at: AwareDatetime | None = None
    alerts: list[str] = Field(default_factory=list)
    message_sequence: int = 0
    refused: list[str] = Field(default_factory=list)
    # What a person must look at now (a send failing for a while, a step that cannot run), if anything.
    attention: str | None = None
    archived_at: AwareDatetime | None = None
    # Since v3 (truthful-case). Texts waiting for the quiet hours to end.
    deferred_texts: list[DeferredText] = Field(default_factory=list)
    # The role an owner is being found for (a roster gap never holds the case's clocks meanwhile).
    awaiting_owner: CaseRole | None = None
    # Awards whose invoice credit has not gone through yet (billing down): recorded once credited.
    pending_compensations: list[Compensation] = Field(default_factory=list)
    credit_sequence: int = 0
    # Alerts raised so far (their keys); `alerts` keeps only the latest subjects (the alerts
    # themselves are in the alert folder or the staff mailbox).
    alert_sequence: int = 0
    # Human facts a handler records (since v3).
    calls: list[Call] = Field(default_factory=list)
    confirmation: Satisfied | None = None
    updates_paused_until: date | None = None
    updates_pause_reason: str | None = None
    update_channel: ChannelKind | None = None
    # The customer's contact details as corrected; None: as filed.
    customer: Customer | None = None
    contact_changes: list[ContactChange] = Field(default_factory=list)
    reopenings: list[Reopening] = Field(default_factory=list)
    # Reminders already sent to the owner (their keys; the latest few).
    reminded: list[str] = Field(default_factory=list)
    # How the case ended when not by the customer's confirmation (None: resolved, or still open).
    closure: CaseClosure | None = None
    # Since v4 (closed-loop): the customer's replies, the vendor events applied (their ids, the
    # latest few, so a duplicate delivery changes the case once), STOP, and the ask-to-close.
    customer_replies: list[CustomerReplyRecord] = Field(default_factory=list)
    applied_events: list[str] = Field(default_factory=list)
    sms_stopped_at: AwareDatetime | None = None
    asked_to_close_at: AwareDatetime | None = None

    def milestone(self, name: str) -> Milestone | None:
        return next((m for m in self.milestones if m.name == name), None)


class CaseInput(Model):
    reference: str
    intake: ComplaintIntake
    policy: ComplaintPolicy
    # Set only when a case continues as new (or is re-opened): everything it had done so far.
    carried_state: CaseState | None = None
    # A closed case re-opened within the window: a new run of the same case, carrying its state.
    reopened_by: NotSatisfied | None = None


class CaseRecord(Model):
    """The compliance record kept in the case archive, beyond Temporal's retention."""

    reference: str
    intake: ComplaintIntake
    state: CaseState
    policy: ComplaintPolicy
    recorded_at: AwareDatetime


class ArchiveReceipt(Model):
    location: str
    expires_at: AwareDatetime


class CaseSummary(Model):
    """The workflow's result: which case closed, and when.

    Until v4 it carried the whole final `CaseState` (a fifth of an 8-week case's history); since v4
    the state is None and is read from the compliance record the case archived as it closed, or by
    a query on the closed run (`starter.final_state`)."""

    reference: str
    closed_at: AwareDatetime
    state: CaseState | None = None


# --- handler actions -----------------------------------------------------------------------------


class HowSaid(StrEnum):
    """How the customer told us: kept with each answer in the record and the closure confirmation."""

    PHONE = "phone"
    EMAIL = "email"
    LETTER = "letter"
    SMS_REPLY = "sms_reply"
    IN_PERSON = "in_person"


class Satisfied(Model):
    """The customer confirmed the complaint is resolved (the `customer_satisfied` signal's payload)."""

    recorded_by: str = Field(min_length=1, max_length=64)
    how: HowSaid
    # When the customer said it; None: when it was recorded.
    said_at: AwareDatetime | None = None


class NotSatisfied(Model):
    # The escalation letter quotes it ("Reason for the escalation: ...").
    reason: OneLine = Field(min_length=1, max_length=2000)
    # Since v3: who recorded it and how the customer said it (older clients send the reason only).
    recorded_by: str | None = Field(default=None, min_length=1, max_length=64)
    how: HowSaid | None = None
    said_at: AwareDatetime | None = None


class CallOutcome(StrEnum):
    REACHED = "reached"
    VOICEMAIL = "voicemail"
    NO_ANSWER = "no_answer"


class CallMade(Model):
    """A handler phoned the customer (`record_call`)."""

    outcome: CallOutcome
    recorded_by: str = Field(min_length=1, max_length=64)
    note: str | None = Field(default=None, min_length=1, max_length=2000)


class ScheduleAgreed(Model):
    """What the customer agreed for regular updates (`record_agreement`)."""

    every: int = Field(ge=1, le=60)
    unit: IntervalUnit = IntervalUnit.ELAPSED_DAYS
    contact_time: time
    # The channel the customer wants updates by; None: phone first, then in writing.
    channel: ChannelKind | None = None
    recorded_by: str = Field(min_length=1, max_length=64)


class UpdatesPaused(Model):
    """The customer asked for updates to pause (`pause_updates`); the 8-week clock never pauses."""

    until: date
    reason: str = Field(min_length=1, max_length=500)
    recorded_by: str = Field(min_length=1, max_length=64)


class ContactCorrection(Model):
    """Corrected contact details (`correct_contact`): validated like the intake (context=INTAKE) by
    the command that sends it; the workflow records plain data. Only the fields given change."""

    email: EmailAddress | None = None
    phone: PhoneNumber | None = None
    address: PostalAddress | None = None
    preferred_written_channel: WrittenChannel | None = None
    recorded_by: str = Field(min_length=1, max_length=64)
    phone_is_mobile: bool | None = None
    # Since v4: the keyed hashes of the corrected contact details (search_attributes.CUSTOMER_CONTACT_KEYS),
    # worked out by the command that sends the correction (the secret never enters the workflow).
    contact_keys: list[Annotated[str, Field(min_length=1, max_length=128)]] | None = Field(default=None, max_length=4)

    @model_validator(mode="after")
    def _something_to_correct(self, info: ValidationInfo) -> ContactCorrection:
        if _reading_input(info) and self.phone is not None:
            self.phone_is_mobile = is_mobile(self.phone)
        if not (self.email or self.phone or self.address or self.preferred_written_channel):
            raise ValueError("give at least one of email, phone, address, preferred_written_channel")
        return self


class ClosureOutcome(StrEnum):
    """Ways a case ends other than the customer confirming it is resolved."""

    WITHDRAWN = "withdrawn"  # the customer withdrew the complaint
    NO_RESPONSE = "no_response"  # the customer stopped responding (only after the 8-week letter)
    DUPLICATE = "duplicate"  # the same complaint is handled under another reference
    REFERRED_TO_ADR = "referred_to_adr"  # the customer took it to the ADR scheme


class CaseClosure(Model):
    """A handler closes the case for a reason other than satisfaction (`close_case`)."""

    outcome: ClosureOutcome
    reason: str = Field(min_length=1, max_length=1000)
    duplicate_of: str | None = Field(default=None, min_length=1, max_length=32)
    recorded_by: str = Field(min_length=1, max_length=64)

    @model_validator(mode="after")
    def _duplicate_names_the_survivor(self) -> CaseClosure:
        if (self.outcome is ClosureOutcome.DUPLICATE) != (self.duplicate_of is not None):
            raise ValueError("duplicate_of: give it exactly when the outcome is 'duplicate'")
        return self


class Reassignment(Model):
    """A new owner at the same level (absence, a leaver, a specialist): `reassign`."""

    to: Handler
    reason: str = Field(min_length=1, max_length=500)
    recorded_by: str = Field(min_length=1, max_length=64)


class ProgressNote(Model):
    text: FreeText = Field(min_length=1, max_length=5000)
    author: OneLine = Field(default="case handler", min_length=1, max_length=200)
    # False: an internal note, never sent. True: progress the customer gets in the next update.
    for_customer: bool = False


class ContactScheduleChange(Model):
    every: int = Field(ge=1, le=60)
    unit: IntervalUnit = IntervalUnit.ELAPSED_DAYS
    contact_time: time | None = None
    # True only when the customer agreed this schedule: updates then say "as agreed on <date>".
    customer_agreed: bool = False
    # Who recorded it (`--by`); left out when None so a worker of an earlier release reads it.
    recorded_by: str | None = Field(default=None, min_length=1, max_length=64, exclude_if=lambda who: who is None)


class Deadlock(Model):
    # The ADR letter quotes it ("Why we have reached deadlock: ...").
    reason: OneLine = Field(default="We have been unable to reach an agreement.", min_length=1, max_length=2000)
    recorded_by: str | None = Field(default=None, min_length=1, max_length=64, exclude_if=lambda who: who is None)


class CompensationAward(Model):
    amount_gbp: Decimal = Field(gt=0, max_digits=9, decimal_places=2)
    # The compensation letter quotes it ("Reason: ...").
    reason: OneLine = Field(min_length=1, max_length=2000)
    recorded_by: str | None = Field(default=None, min_length=1, max_length=64, exclude_if=lambda who: who is None)


class AlertRequest(Model):
    key: str
    reference: str
    to_role: CaseRole
    to_handler: str | None = None
    # A team rather than a person (e.g. "post_room" for an accessible-format work item).
    to_team: str | None = None
    # "alert" (something is wrong), "work" (a new case for its owner), "reminder", "work_item".
    kind: str = "alert"
    # Where the notification is emailed: the owner's address when the case knows it.
    to_email: str | None = None
    subject: str
    detail: str


class InvoiceCredit(Model):
    key: str
    reference: str
    account_number: str
    amount_gbp: Decimal
    reason: str


class CreditReceipt(Model):
    credit_id: str
    applied_at: AwareDatetime
    duplicate: bool = False


class DeadlineRequest(Model):
    received_at: AwareDatetime
    policy: ComplaintPolicy


class AssignmentRequest(Model):
    reference: str
    role: CaseRole
    exclude_handler_ids: list[str] = Field(default_factory=list)


# --- what comes back from the vendors and the customer (the inbound service, since v4) ------------


class Vendor(StrEnum):
    SENDGRID = "sendgrid"
    TWILIO = "twilio"


class DeliveryEvent(Model):
    """A vendor's signed word on one message (the `delivery_event` signal)."""

    # SendGrid's sg_event_id, or Twilio's "<MessageSid>:<MessageStatus>": one change per id.
    event_id: str = Field(min_length=1, max_length=200)
    message_key: str = Field(min_length=1, max_length=200)  # the pipeline's key: "<reference>/<nnn>-<kind>-<channel>"
    vendor: Vendor
    status: DeliveryStatus
    vendor_at: AwareDatetime
    reason: str | None = Field(default=None, max_length=1000)
    # Set by the inbound service only after the request's signature checked out.
    signature_verified: bool = False


class CustomerReply(Model):
    """A customer's SMS or e-mail reply, matched to this case (the `customer_reply` signal)."""

    reply_id: str = Field(min_length=1, max_length=300)  # Twilio's MessageSid, or the e-mail's Message-ID
    channel: ChannelKind  # sms or email
    received_at: AwareDatetime
    # As the vendor gave it: an E.164 number, or the e-mail address (lower-cased).
    sender: str = Field(min_length=1, max_length=320)
    text: str = Field(max_length=5000)
    signature_verified: bool = False
    # E-mail: whether the inbound service found the From address authenticated, DMARC-style (an
    # aligned DKIM or SPF pass; inbound/sender_checks.py). The vendor's signature proves only that
    # SendGrid posted the mail, not who wrote it: anyone can put the customer's address in From.
    # None: not checked (texts, and every reply received before the check). Left out of the
    # payload when None, so a worker of an earlier release (whose models refuse unknown fields)
    # still reads every text, and recorded histories decode as they were written.
    sender_authenticated: bool | None = Field(default=None, exclude_if=lambda value: value is None)


class CustomerReplyRecord(Model):
    """A reply as the case keeps it (`status --json` shows these under `customer_replies`)."""

    reply_id: str
    channel: ChannelKind
    received_at: AwareDatetime
    text: str
    # "yes", "no", "stop", or "reply" (anything else: for the owner to read).
    meaning: str = "reply"
    # False: the sender is not the customer's own number or address (kept for the owner, never acted on).
    from_customer: bool = True
    # As the reply carried it: False is an e-mail giving the customer's address that failed the
    # sender checks (SPF/DKIM), kept for the owner and never acted on. Left out when None (texts,
    # and replies recorded before the check), as on CustomerReply.
    sender_authenticated: bool | None = Field(default=None, exclude_if=lambda value: value is None)


class AskToClose(Model):
    """A handler asks the customer to confirm by reply that the complaint is resolved (`ask_to_close`)."""

    recorded_by: str = Field(min_length=1, max_length=64)


def field_label(part: object) -> str:
    """A field path part as typed, or JSON-quoted if printing it would break the line or the terminal."""
    text = str(part)
    return text if text.isprintable() and not any(c.isspace() for c in text) else json.dumps(text)


def field_errors(exc: Exception) -> list[str]:
    """A pydantic ValidationError as one 'field.path: message' line per problem, for people."""
    from pydantic import ValidationError

    if not isinstance(exc, ValidationError):
        return [str(exc)]
    lines = []
    for error in exc.errors():
        path = ".".join(field_label(part) for part in error["loc"]) or "(complaint)"
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{path}: {message}")
    return lines


# Models that name a later one (CaseInput.reopened_by) are completed once every model exists.
Reopening.model_rebuild()
MessageRecord.model_rebuild()
CaseInput.model_rebuild()
CaseState.model_rebuild()
CaseRecord.model_rebuild()
CaseSummary.model_rebuild()
