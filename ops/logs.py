"""Structured logs: one JSON object a line, carrying the case reference, never customer details.

The SDK's workflow and activity loggers attach the workflow id (the case reference) to each record;
it is lifted into a `reference` field so log search can follow one case across workers.
"""

from __future__ import annotations

import json
import logging
import traceback
from datetime import UTC, datetime
from types import TracebackType

CONTEXT_FIELDS = ("case_reference", "message_key", "channel")


class JsonLogFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("temporal_workflow", "temporal_activity"):
            context = getattr(record, key, None)
            if isinstance(context, dict) and context.get("workflow_id"):
                document["reference"] = context["workflow_id"]
                if "activity_type" in context:
                    document["activity"] = context["activity_type"]
                    document["attempt"] = context.get("attempt")
        for key in CONTEXT_FIELDS:
            if hasattr(record, key):
                document[key] = getattr(record, key)
        if record.exc_info and record.exc_info[0] is not None:
            # The type only: an exception's text can quote a customer's details.
            document["error"] = record.exc_info[0].__name__
        return json.dumps(document, default=str)


def escape_controls(text: str) -> str:
    """`text` with every character that is not printable (CR, LF, tab, ESC, NUL, Unicode's line
    separators, ...) written as its Python escape; printable text, accents and all, unchanged."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class TextLogFormatter(logging.Formatter):
    """For a person at a terminal (`make run`): the traceback's frames, the exception's type only.

    An exception's text can quote the input that failed (pydantic prints `input_value=...`, which
    may be a customer's name or account number), and text logs end up in files as well.
    """

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's own name
        # A logged value can come from outside (a vendor's id, a header an e-mail's sender wrote):
        # a CR or LF in it would print a forged line that log readers and alerting take as ours.
        # Control characters are written as escapes (\n, \r, \x1b), so one record is one line
        # (the traceback below it, from formatException, is ours).
        return escape_controls(super().formatMessage(record))

    def formatException(  # noqa: N802 - logging's own name
        self, ei: tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]
    ) -> str:
        kind, _, tb = ei
        frames = "".join(traceback.format_tb(tb)) if tb is not None else ""
        name = kind.__name__ if kind is not None else "Exception"
        return f"Traceback (most recent call last):\n{frames}{name} (message withheld: it may quote customer data)"


def configure_logging(style: str = "json", level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    if style == "json":
        handler.setFormatter(JsonLogFormatter())
    else:
        handler.setFormatter(TextLogFormatter())
    logging.basicConfig(level=level, handlers=[handler], force=True)
