"""Custom search attributes: what staff filter on in the Web UI.

They are stored unencrypted by Temporal, so they hold no personal data: reference, stage, owner's
handler id, dates and flags only.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from temporalio.common import SearchAttributeKey

if TYPE_CHECKING:
    from domain.models import CaseState

CASE_REFERENCE = SearchAttributeKey.for_keyword("CaseReference")
CASE_STAGE = SearchAttributeKey.for_keyword("CaseStage")
CASE_OWNER = SearchAttributeKey.for_keyword("CaseOwner")
ESCALATION_LEVEL = SearchAttributeKey.for_int("EscalationLevel")
RECEIVED_AT = SearchAttributeKey.for_datetime("ReceivedAt")
NEXT_DEADLINE = SearchAttributeKey.for_datetime("NextDeadline")
ADR_LETTER_SENT = SearchAttributeKey.for_bool("AdrLetterSent")
BREACH = SearchAttributeKey.for_bool("Breach")
NEEDS_ATTENTION = SearchAttributeKey.for_bool("NeedsAttention")

# Typed as the common base: the keys hold values of different types (str, int, datetime, bool).
ALL: list[SearchAttributeKey[Any]] = [
    CASE_REFERENCE,
    CASE_STAGE,
    CASE_OWNER,
    ESCALATION_LEVEL,
    RECEIVED_AT,
    NEXT_DEADLINE,
    ADR_LETTER_SENT,
    BREACH,
    NEEDS_ATTENTION,
]

# Since v4: keyed hashes (HMAC-SHA256 with a configured secret, hex) of the customer's E.164 number
# and normalised e-mail address, so the inbound service finds the open case a reply belongs to
# without plain personal data in visibility. Set at start by the starter and on a contact
# correction by the workflow; not in ALL (the workflow's publishing never clears it).
CUSTOMER_CONTACT_KEYS = SearchAttributeKey.for_keyword_list("CustomerContactKeys")

# Every attribute the namespace must have registered.
REGISTERED: list[SearchAttributeKey[Any]] = [*ALL, CUSTOMER_CONTACT_KEYS]

# The `temporal server start-dev --search-attribute` spelling of each type.
CLI_TYPE = {
    "KEYWORD": "Keyword",
    "INT": "Int",
    "DATETIME": "Datetime",
    "BOOL": "Bool",
    "KEYWORD_LIST": "KeywordList",
}


def cli_flags() -> list[str]:
    flags: list[str] = []
    for key in REGISTERED:
        flags += ["--search-attribute", f"{key.name}={CLI_TYPE[key.indexed_value_type.name]}"]
    return flags


if __name__ == "__main__":
    print(" ".join(cli_flags()))


def next_deadline(state: CaseState, *, regular_updates: bool = True) -> datetime | None:
    """`NextDeadline`: the next real obligation. Done, breached and superseded clocks are owed no
    more (a breached one is flagged by `Breach`); a closed case owes nothing.

    `regular_updates=False` (v4): the next clock the code sets (acknowledgement, introduction,
    review, 8 weeks, an update being sent), not the next weekly update the case sends by itself,
    so the attribute changes when an obligation does, not every week. Once no clock is left (past
    8 weeks) it is the next agreed update: an open case always shows what it owes next."""
    from domain.models import CaseStage

    if state.stage is CaseStage.CLOSED:
        return None
    dues = [m.due_at for m in state.milestones if m.done_at is None and not m.breached and m.superseded_at is None]
    if state.next_update_at and (regular_updates or not dues):
        dues.append(state.next_update_at)
    return min(dues, default=None)
