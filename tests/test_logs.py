"""Worker logs are JSON lines that name the case, not the customer."""

import json
import logging

from ops.logs import JsonLogFormatter


def test_a_log_line_carries_the_case_reference_from_the_sdk_context() -> None:
    record = logging.LogRecord("activities.messaging", logging.INFO, __file__, 1, "sent %s", ("k1",), None)
    record.temporal_activity = {"workflow_id": "CC-2026-4F7K2Q", "activity_type": "send_message", "attempt": 2}
    record.message_key = "CC-2026-4F7K2Q/001-acknowledgement-email"
    line = json.loads(JsonLogFormatter().format(record))
    assert line["reference"] == "CC-2026-4F7K2Q"
    assert line["activity"] == "send_message" and line["attempt"] == 2
    assert line["message"] == "sent k1" and line["level"] == "INFO"
    assert line["message_key"].endswith("acknowledgement-email")


def test_an_exception_is_logged_by_type_only() -> None:
    try:
        raise ValueError("Gwen Pritchard's number is wrong")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    line = JsonLogFormatter().format(record)
    assert "Gwen" not in line and json.loads(line)["error"] == "ValueError"


def test_text_logs_never_print_the_input_a_validation_error_quotes(monkeypatch) -> None:
    import sys

    from pydantic import ValidationError

    from domain.models import ComplaintIntake
    from ops import logs

    installed = {}
    monkeypatch.setattr(logging, "basicConfig", lambda **kwargs: installed.update(kwargs))
    logs.configure_logging("text")
    [handler] = installed["handlers"]

    submitted = {"account_number": "Gwen Pritchard of Ebbw Vale"}
    try:
        ComplaintIntake.model_validate(submitted)
    except ValidationError:
        record = logging.LogRecord("worker", logging.ERROR, __file__, 1, "intake failed", (), sys.exc_info())
    line = handler.format(record)

    assert "ValidationError" in line and "intake failed" in line
    assert "Gwen" not in line and "Ebbw Vale" not in line


def test_a_text_log_line_stays_one_line_whatever_a_logged_value_holds(monkeypatch) -> None:
    from ops import logs

    installed = {}
    monkeypatch.setattr(logging, "basicConfig", lambda **kwargs: installed.update(kwargs))
    logs.configure_logging("text")
    [handler] = installed["handlers"]

    forged = "<li1@evil.example>\r\n2026-11-30 10:00:00,000 WARNING complaints.inbound: INJECTED LINE\x1b[2J"
    record = logging.LogRecord(
        "complaints.inbound", logging.INFO, __file__, 1, "%s %s: %s", ("reply", forged, "ok"), None
    )
    line = handler.format(record)

    assert len(line.splitlines()) == 1
    assert line.endswith(
        "reply <li1@evil.example>\\r\\n2026-11-30 10:00:00,000 WARNING complaints.inbound: INJECTED LINE\\x1b[2J: ok"
    )
    # Printable text is left alone, accents and all.
    record = logging.LogRecord("worker", logging.INFO, __file__, 1, "sent to %s", ("Siân Ó Súilleabháin",), None)
    assert handler.format(record).endswith("sent to Siân Ó Súilleabháin")
