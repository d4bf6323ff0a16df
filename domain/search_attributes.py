"""Custom search attributes: what staff filter on in the Web UI.

They are stored unencrypted by Temporal, so they hold no personal data: reference, stage, owner's
handler id, dates and flags only.
"""

from temporalio.common import SearchAttributeKey

CASE_REFERENCE = SearchAttributeKey.for_keyword("CaseReference")
CASE_STAGE = SearchAttributeKey.for_keyword("CaseStage")
CASE_OWNER = SearchAttributeKey.for_keyword("CaseOwner")
ESCALATION_LEVEL = SearchAttributeKey.for_int("EscalationLevel")
RECEIVED_AT = SearchAttributeKey.for_datetime("ReceivedAt")
NEXT_DEADLINE = SearchAttributeKey.for_datetime("NextDeadline")
ADR_LETTER_SENT = SearchAttributeKey.for_bool("AdrLetterSent")
BREACH = SearchAttributeKey.for_bool("Breach")
NEEDS_ATTENTION = SearchAttributeKey.for_bool("NeedsAttention")

ALL = [
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

# The `temporal server start-dev --search-attribute` spelling of each type.
CLI_TYPE = {
    "KEYWORD": "Keyword",
    "INT": "Int",
    "DATETIME": "Datetime",
    "BOOL": "Bool",
}


def cli_flags() -> list[str]:
    flags: list[str] = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}={CLI_TYPE[key.indexed_value_type.name]}"]
    return flags


if __name__ == "__main__":
    print(" ".join(cli_flags()))
