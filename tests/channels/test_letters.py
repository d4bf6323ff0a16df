from __future__ import annotations

import csv
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels.base import ProviderDetails
from channels.letters import (
    LARGE_PRINT_PT,
    LetterRenderer,
    PostRoomChannel,
)
from channels.rendering import render
from domain.models import ChannelKind, MessageKind, PostalAddress

from .conftest import REFERENCE
from .pdf import page_count, pdf_text, printed_text

WHEN = datetime(2026, 12, 29, 16, 30, tzinfo=UTC)
LONG_NOTE = "We have checked the line from the exchange to your home. " * 40


def letter(request, renderer: LetterRenderer | None = None):
    renderer = renderer or LetterRenderer()
    return renderer.render(request, render(request, renderer.provider), dated=WHEN)


def test_customer_address_sits_in_the_dl_envelope_window(make_request):
    pdf = letter(make_request(MessageKind.ACKNOWLEDGEMENT, ChannelKind.LETTER))
    printed = {item.text: item for item in printed_text(pdf.content) if item.page == 1}

    address = [printed[line] for line in ("Jane O'Brien", "Flat 2", "14 Bethcar Street", "Ebbw Vale", "NP23 6HN")]
    for item in address:
        assert 19 <= item.x_mm <= 23, item  # window ~20 mm from the left
        assert 45 <= item.baseline_mm <= 85, item  # window from ~45-50 mm down, ~35 mm tall
    assert address[0].baseline_mm < 52  # the block starts at the top of the window
    # Nothing else is printed in the window.
    window_texts = {item.text for item in printed.values() if item.x_mm < 110 and 45 <= item.baseline_mm <= 85}
    assert window_texts == {item.text for item in address}


def test_letter_has_letterhead_date_and_reference(make_request):
    text = pdf_text(letter(make_request(MessageKind.CLOSURE, ChannelKind.LETTER)).content)
    assert "Infinity System Solutions Ltd" in text
    assert "Innovation Centre" in text and "Festival Drive" in text and "NP23 8XA" in text
    assert "Date: 29 December 2026" in text
    assert f"Our reference: {REFERENCE}" in text
    assert f"Case reference {REFERENCE} - page 1 of 1" in text


def test_letterhead_is_configurable(make_request):
    provider = ProviderDetails(
        name="Example Telecom Ltd", address_lines=["1 Main Street", "Cardiff"], postcode="CF10 1AA"
    )
    text = pdf_text(letter(make_request(channel=ChannelKind.LETTER), LetterRenderer(provider)).content)
    assert "Example Telecom Ltd" in text and "CF10 1AA" in text
    assert "Innovation Centre" not in text


def test_large_print_uses_at_least_16pt_and_more_pages(make_request, recipient):
    standard = make_request(MessageKind.PROGRESS_UPDATE, ChannelKind.LETTER, progress_note=LONG_NOTE)
    large = make_request(
        MessageKind.PROGRESS_UPDATE,
        ChannelKind.LETTER,
        progress_note=LONG_NOTE,
        recipient_override=recipient.model_copy(update={"large_print": True}),
    )
    standard_pdf, large_pdf = letter(standard), letter(large)

    assert large_pdf.pages > standard_pdf.pages
    assert page_count(large_pdf.content) == large_pdf.pages
    body_sizes = {item.size_pt for item in printed_text(large_pdf.content) if "exchange" in item.text}
    assert body_sizes and min(body_sizes) >= LARGE_PRINT_PT >= 16
    assert {item.size_pt for item in printed_text(standard_pdf.content) if "exchange" in item.text} == {11}


def test_a_long_address_line_is_cut_to_the_window_not_wrapped(make_request, recipient):
    who = recipient.model_copy(
        update={"address": PostalAddress(lines=["The Old Rectory " * 6, "Ebbw Vale"], postcode="NP23 6HN")}
    )
    pdf = letter(make_request(channel=ChannelKind.LETTER, recipient_override=who))
    lines = [item for item in printed_text(pdf.content) if item.page == 1 and item.x_mm < 25 and item.baseline_mm < 85]
    assert [item.text for item in lines][-1] == "NP23 6HN"
    assert any(item.text.startswith("The Old Rectory") and item.text.endswith("...") for item in lines)


# --- post room ------------------------------------------------------------------------------------


def read_manifest(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_post_room_files_the_pdf_by_day_and_lists_it_in_the_manifest(tmp_path, make_request):
    channel = PostRoomChannel(tmp_path, clock=lambda: WHEN)
    request = make_request(MessageKind.ADR_RIGHTS, ChannelKind.LETTER)
    receipt = channel.send(request, render(request))

    path = Path(receipt.provider_id)
    assert path.parent == tmp_path / "2026-12-29"
    assert path.name.startswith("CMP-2026-000123_adr_rights_letter_1") and path.suffix == ".pdf"
    assert "Communications Ombudsman" in pdf_text(path.read_bytes())
    [row] = read_manifest(tmp_path / "2026-12-29" / "manifest.csv")
    assert row == {
        "key": request.key,
        "reference": REFERENCE,
        "recipient_name": "Jane O'Brien",
        "postcode": "NP23 6HN",
        "pages": str(page_count(path.read_bytes())),
        "file": path.name,
        "large_print": "no",
        "created_at": WHEN.isoformat(),
    }


def test_post_room_day_is_the_uk_date(tmp_path, make_request):
    late_summer_evening = datetime(2026, 7, 1, 23, 30, tzinfo=UTC)  # 00:30 BST on 2 July
    channel = PostRoomChannel(tmp_path, clock=lambda: late_summer_evening)
    request = make_request(channel=ChannelKind.LETTER)
    assert Path(channel.send(request, render(request)).provider_id).parent.name == "2026-07-02"


def test_post_room_lists_a_resent_key_once(tmp_path, make_request):
    channel = PostRoomChannel(tmp_path, clock=lambda: WHEN)
    request = make_request(channel=ChannelKind.LETTER)
    channel.send(request, render(request))
    channel.send(request, render(request))
    assert len(read_manifest(tmp_path / "2026-12-29" / "manifest.csv")) == 1


def test_post_room_manifest_survives_concurrent_senders(tmp_path, make_request):
    channel = PostRoomChannel(tmp_path, clock=lambda: WHEN)
    requests = [make_request(channel=ChannelKind.LETTER, key=f"{REFERENCE}:ack:{n}") for n in range(12)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda r: channel.send(r, render(r)), requests))
    rows = read_manifest(tmp_path / "2026-12-29" / "manifest.csv")
    assert sorted(row["key"] for row in rows) == sorted(r.key for r in requests)


def test_post_room_manifest_cells_cannot_become_formulas(tmp_path, make_request, recipient):
    evil = recipient.model_copy(update={"name": '=HYPERLINK("http://evil.example","click")', "large_print": True})
    request = make_request(channel=ChannelKind.LETTER, recipient_override=evil)
    PostRoomChannel(tmp_path, clock=lambda: WHEN).send(request, render(request))
    [row] = read_manifest(tmp_path / "2026-12-29" / "manifest.csv")
    assert row["recipient_name"].startswith("'=")
    assert row["large_print"] == "yes"


@pytest.mark.parametrize("large_print", [False, True])
def test_every_kind_prints(make_request, recipient, large_print):
    who = recipient.model_copy(update={"large_print": large_print})
    for kind in MessageKind:
        pdf = letter(make_request(kind, ChannelKind.LETTER, recipient_override=who))
        assert REFERENCE in pdf_text(pdf.content)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.text(min_size=1, max_size=200).filter(str.strip), note=st.text(min_size=1, max_size=3000).filter(str.strip)
)
def test_any_customer_text_prints(make_request, recipient, name, note):
    who = recipient.model_copy(update={"name": name, "large_print": len(note) % 2 == 0})
    pdf = letter(
        make_request(
            MessageKind.PROGRESS_UPDATE,
            ChannelKind.LETTER,
            recipient_override=who,
            customer_name=name,
            progress_note=note,
        )
    )
    assert REFERENCE in pdf_text(pdf.content)


def test_an_unbroken_run_of_characters_wraps_inside_the_page(make_request):
    pdf = letter(make_request(MessageKind.PROGRESS_UPDATE, ChannelKind.LETTER, progress_note="x" * 600))
    pieces = [item.text for item in printed_text(pdf.content) if item.text.startswith("xxxx")]
    assert len(pieces) >= 3 and sum(map(len, pieces)) == 600
