"""How an activity's failure reads: the vendor's own words, and whether retrying can mend it."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, TemporalError
from temporalio.exceptions import TimeoutError as ActivityTimeout

with workflow.unsafe.imports_passed_through():
    from domain.contact import QUIET_HOURS_REFUSAL

from workflows.case_constants import SEND_RETRY


def _last_error(err: Exception) -> str:
    """The vendor's own words: a timed-out retry window carries the last attempt's failure."""
    if not isinstance(err, ActivityError):
        return str(err)
    cause = err.cause
    # Only Temporal's own errors carry a cause chain; a plain exception is the last word.
    while isinstance(cause, TemporalError) and cause.cause is not None and not isinstance(cause, ApplicationError):
        cause = cause.cause
    return str(cause or err)


# A local activity's failure arrives as the activity's own error, not wrapped in an ActivityError.
FIRST_ATTEMPT_FAILED = (ActivityError, ApplicationError, ActivityTimeout)


def _gave_up_for_good(err: Exception) -> bool:
    """A failure that retrying the same input cannot mend (a refused number, a broken template)."""
    cause = err.cause if isinstance(err, ActivityError) else err
    if isinstance(cause, ApplicationError):
        return cause.non_retryable or cause.type in (SEND_RETRY.non_retryable_error_types or [])
    return False


def _held_for_quiet_hours(err: Exception) -> bool:
    """The send held a text back for the quiet hours: nothing failed, the text waits for them.

    A retry window that ran out on the refusal carries it as the last attempt's failure."""
    cause: BaseException | None = err
    while isinstance(cause, TemporalError):
        if isinstance(cause, ApplicationError):
            return cause.type == QUIET_HOURS_REFUSAL
        cause = cause.cause
    return False


class _Withdrawn(Exception):
    """A send still retrying when the case closed: recorded as withdrawn, never delivered."""
